//! The record binder, a process manager: a record whose name and ID number match an
//! account's real-name identity belongs to that account, whichever of the two came first.
//! It keeps its own view of people and records (in its own transaction, so its decisions
//! follow the log exactly) and queues bind/unbind tasks that a loop carries out as commands.

use crate::db::Tx;
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::tasks;
use crate::{on_tx, tx_execute};
use serde_json::json;
use xuexin_domain::account::{AccountEvent, AccountStatus};
use xuexin_domain::record::RecordEvent;

pub const NAME: &str = "record_binder_v1";

pub struct RecordBinder;

/// `record.bind`, `record.transfer` (bound to someone else before) or `record.unbind`.
async fn queue(
    tx: &mut Tx,
    event: &StoredEvent,
    record_id: &str,
    account_id: &str,
    kind: &str,
) -> Result<(), ProjectionError> {
    tasks::queue(
        tx,
        event,
        kind,
        record_id,
        json!({"record_id": record_id, "account_id": account_id}),
    )
    .await
}

/// Records matching an active person (same digest and name) that are not theirs yet.
async fn bind_records_of_person(
    tx: &mut Tx,
    event: &StoredEvent,
    account_id: &str,
) -> Result<(), ProjectionError> {
    let records: Vec<(String, Option<String>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT r.record_id, r.account_id FROM binder_records_v1 r
             JOIN binder_people_v1 p ON p.number_digest = r.number_digest AND p.name = r.name
             WHERE p.account_id = $1 AND p.active = 1
               AND (r.account_id IS NULL OR r.account_id <> $1)",
        )
        .bind(account_id)
        .fetch_all(conn)
        .await?
    });
    for (record_id, bound) in records {
        let kind = if bound.is_some() {
            "record.transfer"
        } else {
            "record.bind"
        };
        queue(tx, event, &record_id, account_id, kind).await?;
    }
    Ok(())
}

/// Binds a record to the active person it matches, or unbinds it from one it no longer does.
async fn settle_record(
    tx: &mut Tx,
    event: &StoredEvent,
    record_id: &str,
) -> Result<(), ProjectionError> {
    let record: Option<(String, String, Option<String>)> = on_tx!(tx, conn => {
        sqlx::query_as("SELECT number_digest, name, account_id FROM binder_records_v1 WHERE record_id = $1")
            .bind(record_id)
            .fetch_optional(conn)
            .await?
    });
    let Some((digest, name, bound)) = record else {
        return Ok(());
    };
    let person: Option<(String,)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT account_id FROM binder_people_v1
             WHERE number_digest = $1 AND name = $2 AND active = 1 LIMIT 1",
        )
        .bind(&digest)
        .bind(&name)
        .fetch_optional(conn)
        .await?
    });
    match (person, bound) {
        (Some((owner,)), Some(current)) if owner == current => {}
        (Some((owner,)), None) => queue(tx, event, record_id, &owner, "record.bind").await?,
        (Some((owner,)), Some(_)) => queue(tx, event, record_id, &owner, "record.transfer").await?,
        (None, Some(current)) => {
            // Bound by identity before a correction changed the name or ID number: the
            // binding no longer holds. (A binding by certificate is the student's own claim.)
            let by_identity: Option<(i64,)> = on_tx!(tx, conn => {
                sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM binder_people_v1 WHERE account_id = $1")
                    .bind(&current)
                    .fetch_optional(conn)
                    .await?
            });
            if by_identity.is_some() {
                queue(tx, event, record_id, &current, "record.unbind").await?;
            }
        }
        (None, None) => {}
    }
    Ok(())
}

#[async_trait::async_trait]
impl Projection for RecordBinder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["binder_people_v1", "binder_records_v1"]
    }

    /// Replaying would queue every binding again (harmless: binds are idempotent), but the
    /// task table is not a read model; keep it out of rebuilds.
    fn rebuildable(&self) -> bool {
        false
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Account", "StudentRecord"])
    }

    fn event_types_of(&self, aggregate_type: &str) -> Option<&'static [&'static str]> {
        (aggregate_type == "Account").then_some(&[
            "RegistrationStarted",
            "Registered",
            "IdentityVerified",
            "OldAccountDeactivated",
            "NameChanged",
            "RegistrationAbandoned",
        ])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if !matches!(event.aggregate_type.as_str(), "Account" | "StudentRecord") {
            return Ok(());
        }
        let id = event.aggregate_id.as_str();
        match decode(event)? {
            DomainEventKind::Account(AccountEvent::RegistrationStarted(details)) => {
                tx_execute!(
                    tx,
                    "INSERT INTO binder_people_v1 (account_id, number_digest, name, active) VALUES ($1, $2, $3, 0)
                     ON CONFLICT (account_id) DO NOTHING",
                    id,
                    &details.document.number_digest,
                    &details.name,
                )?;
            }
            // Only a verified identity gets records: not an account waiting for review.
            DomainEventKind::Account(
                AccountEvent::Registered {
                    status: AccountStatus::Active,
                }
                | AccountEvent::IdentityVerified { .. },
            ) => {
                tx_execute!(
                    tx,
                    "UPDATE binder_people_v1 SET active = 1 WHERE account_id = $1",
                    id
                )?;
                bind_records_of_person(tx, event, id).await?;
            }
            DomainEventKind::Account(AccountEvent::OldAccountDeactivated { .. }) => {
                tx_execute!(
                    tx,
                    "UPDATE binder_people_v1 SET active = 0 WHERE account_id = $1",
                    id
                )?;
            }
            // A new name: records bound by the old name no longer match; records under the
            // new one now do.
            DomainEventKind::Account(AccountEvent::NameChanged { new, .. }) => {
                tx_execute!(
                    tx,
                    "UPDATE binder_people_v1 SET name = $2 WHERE account_id = $1",
                    id,
                    &new
                )?;
                let bound: Vec<(String,)> = on_tx!(tx, conn => {
                    sqlx::query_as("SELECT record_id FROM binder_records_v1 WHERE account_id = $1")
                        .bind(id)
                        .fetch_all(conn)
                        .await?
                });
                for (record_id,) in bound {
                    settle_record(tx, event, &record_id).await?;
                }
                bind_records_of_person(tx, event, id).await?;
            }
            DomainEventKind::Account(AccountEvent::RegistrationAbandoned { .. }) => {
                tx_execute!(tx, "DELETE FROM binder_people_v1 WHERE account_id = $1", id)?;
            }
            DomainEventKind::Record(RecordEvent::RecordRegistered { fields, .. }) => {
                let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
                tx_execute!(
                    tx,
                    "INSERT INTO binder_records_v1 (record_id, number_digest, name) VALUES ($1, $2, $3)
                     ON CONFLICT (record_id) DO UPDATE SET number_digest = excluded.number_digest, name = excluded.name",
                    id,
                    get("id_number_digest"),
                    get("name"),
                )?;
                settle_record(tx, event, id).await?;
            }
            DomainEventKind::Record(RecordEvent::RecordCorrected { changes, .. }) => {
                let mut touched = false;
                for change in &changes {
                    let column = match change.field.as_str() {
                        "name" => "name",
                        "id_number_digest" => "number_digest",
                        _ => continue,
                    };
                    let sql =
                        format!("UPDATE binder_records_v1 SET {column} = $2 WHERE record_id = $1");
                    tx_execute!(tx, sql.as_str(), id, &change.after)?;
                    touched = true;
                }
                if touched {
                    settle_record(tx, event, id).await?;
                }
            }
            DomainEventKind::Record(RecordEvent::RecordBound { account_id, .. }) => {
                tx_execute!(
                    tx,
                    "UPDATE binder_records_v1 SET account_id = $2 WHERE record_id = $1",
                    id,
                    account_id.to_string(),
                )?;
            }
            DomainEventKind::Record(RecordEvent::RecordUnbound { .. }) => {
                tx_execute!(
                    tx,
                    "UPDATE binder_records_v1 SET account_id = NULL WHERE record_id = $1",
                    id
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}
