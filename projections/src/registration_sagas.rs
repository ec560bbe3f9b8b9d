//! Registrations in progress: an account appears here with `RegistrationStarted` and leaves
//! when it is registered or abandoned. Recovery resumes whatever stays here too long.

use crate::db::{execute_rows, Db, Param, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::on_db;
use crate::projection::{decode, Projection, ProjectionError};
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

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Account"])
    }

    fn event_types_of(&self, _aggregate_type: &str) -> Option<&'static [&'static str]> {
        Some(&["RegistrationStarted", "Registered", "RegistrationAbandoned"])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, std::slice::from_ref(event)).await
    }

    /// Starts become one multi-row insert and ends one multi-row delete. Inserts are written
    /// before deletes, which keeps the one-by-one result (a saga that starts and ends inside
    /// the batch is gone) unless an account starts again after it ended: then what is pending
    /// is written first.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut pending = Pending::default();
        for event in events {
            if !self.reads(event) {
                continue;
            }
            match decode(event)? {
                DomainEventKind::Account(AccountEvent::RegistrationStarted(_)) => {
                    if pending.ended.contains(&event.aggregate_id) {
                        pending.write(tx).await?;
                    }
                    // ON CONFLICT DO NOTHING: the first start of an account wins.
                    if pending.started_ids.insert(event.aggregate_id.clone()) {
                        pending.started.push(vec![
                            Param::Text(event.aggregate_id.clone()),
                            Param::Int(event.time().millis()),
                        ]);
                    }
                }
                DomainEventKind::Account(
                    AccountEvent::Registered { .. } | AccountEvent::RegistrationAbandoned { .. },
                ) => {
                    pending.end(&event.aggregate_id);
                }
                _ => {}
            }
        }
        pending.write(tx).await
    }
}

#[derive(Default)]
struct Pending {
    started: Vec<Vec<Param>>,
    started_ids: std::collections::HashSet<String>,
    ended: std::collections::HashSet<String>,
    ended_rows: Vec<Vec<Param>>,
}

impl Pending {
    fn end(&mut self, account_id: &str) {
        if self.ended.insert(account_id.to_string()) {
            self.ended_rows
                .push(vec![Param::Text(account_id.to_string())]);
        }
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<(), ProjectionError> {
        if !self.started.is_empty() {
            execute_rows(
                tx,
                "INSERT INTO registration_sagas_v1 (account_id, started_at)",
                &["TEXT", "BIGINT"],
                "ON CONFLICT (account_id) DO NOTHING",
                &self.started,
            )
            .await?;
        }
        if !self.ended_rows.is_empty() {
            execute_rows(
                tx,
                "DELETE FROM registration_sagas_v1 WHERE account_id IN (SELECT column1 FROM (",
                &["TEXT"],
                ") AS ended)",
                &self.ended_rows,
            )
            .await?;
        }
        *self = Self::default();
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
