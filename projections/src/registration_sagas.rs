//! Registrations in progress: an account appears here with `RegistrationStarted` and leaves
//! when it is registered or abandoned. Recovery resumes whatever stays here too long.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, tx_execute};
use xuexin_domain::account::AccountEvent;

pub const NAME: &str = "registration_sagas_v1";

pub struct RegistrationSagas;

#[async_trait::async_trait]
impl Projection for RegistrationSagas {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["registration_sagas_v1"]
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Account" {
            return Ok(());
        }
        match decode(event)? {
            DomainEventKind::Account(AccountEvent::RegistrationStarted(_)) => {
                tx_execute!(
                    tx,
                    "INSERT INTO registration_sagas_v1 (account_id, started_at) VALUES ($1, $2)
                     ON CONFLICT (account_id) DO NOTHING",
                    &event.aggregate_id,
                    event.time().millis(),
                )?;
            }
            DomainEventKind::Account(
                AccountEvent::Registered { .. } | AccountEvent::RegistrationAbandoned { .. },
            ) => {
                tx_execute!(
                    tx,
                    "DELETE FROM registration_sagas_v1 WHERE account_id = $1",
                    &event.aggregate_id,
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sagas started before `started_before` (Unix ms) that have not ended.
pub async fn stale(db: &Db, started_before: i64, limit: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_id FROM registration_sagas_v1 WHERE started_at < $1
             ORDER BY started_at LIMIT $2",
        )
        .bind(started_before)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
