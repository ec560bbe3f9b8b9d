//! What auditors read: the log in global order with filters, an account's whole history across
//! aggregates, any aggregate's state as of a time, and the tamper check of the hash chain.
//!
//! Password and answer hashes are redacted from everything shown here (they are not secrets in
//! the clear, but an auditor has no use for them).

use crate::store::chain::{event_hash, ChainInput, GENESIS_HASH};
use anyhow::Context;
use cqrs_es::Aggregate;
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use xuexin_domain::account::Account;
use xuexin_domain::identity::Identity;
use xuexin_domain::login_name::LoginName;
use xuexin_domain::platform::Platform;
use xuexin_domain::record::StudentRecord;
use xuexin_domain::school::School;
use xuexin_domain::support::SupportTicket;
use xuexin_domain::Timestamp;
use xuexin_projections::{on_db, Db};

/// One event as an auditor sees it (payload upcast to the current version, hashes redacted).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// RFC 3339, UTC (from the metadata).
    pub time: Option<String>,
    /// `account:…`, `reviewer:…`, `system:…`, `anonymous`.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// Replaces password and security-answer hashes by `"[redacted]"`, at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                // The second factor's nonce and recovery-code digests too: with the service's
                // key they are the factor, and an auditor has no use for them.
                if matches!(
                    key.as_str(),
                    "password_hash"
                        | "answer_hash"
                        | "code_hash"
                        | "nonce"
                        | "recovery_codes"
                        | "secret_digest"
                ) {
                    // A list stays a list (of redacted items), so messages keep their schema.
                    // Nothing stays nothing: a public platform's absent secret is not hidden.
                    match inner {
                        Value::Array(items) => items
                            .iter_mut()
                            .for_each(|item| *item = Value::String("[redacted]".into())),
                        Value::Null => {}
                        _ => *inner = Value::String("[redacted]".into()),
                    }
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

type Row = crate::store::EventRow;

fn into_audit_event(row: Row) -> AuditEvent {
    let mut event = decode_row(row);
    redact(&mut event.payload);
    event
}

/// A stored row, upcast, nothing redacted (for folding).
fn decode_row(mut row: Row) -> AuditEvent {
    let aggregate_type = std::mem::take(&mut row.aggregate_type);
    let (event_version, payload) = row.upcast_payload(&aggregate_type);
    let metadata = row.take_metadata();
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    AuditEvent {
        position: row.position,
        aggregate_type,
        aggregate_id: row.aggregate_id,
        sequence: row.sequence,
        event_type: row.event_type,
        event_version,
        time: text("time"),
        actor: text("actor"),
        request_id: text("request_id"),
        payload,
        metadata,
    }
}

/// Filters of the audit log query. Times are RFC 3339; `actor` matches the metadata exactly.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub after: i64,
    pub limit: i64,
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

const COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, event_type, \
                       event_version, payload, metadata";

/// Events after `filter.after` in global order (PostgreSQL: commit order, only transactions
/// every reader can see; SQLite: position), filtered.
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn events(db: &Db, filter: &EventFilter) -> anyhow::Result<Vec<AuditEvent>> {
    let from = filter.from.map(|t| t.to_rfc3339());
    let to = filter.to.map(|t| t.to_rfc3339());
    let limit = filter.limit.clamp(1, 1000);
    let rows: Vec<Row> = match db {
        Db::Postgres(pool) => {
            let checkpoint = crate::store::log::checkpoint_of(db, filter.after).await?;
            let transaction_id = checkpoint.map_or(0, |c| c.transaction_id);
            let after = if checkpoint.is_some() {
                filter.after
            } else {
                0
            };
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM events
                 WHERE (transaction_id, position) > ($1::text::xid8, $2)
                   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                   AND ($3::text IS NULL OR aggregate_type = $3)
                   AND ($4::text IS NULL OR aggregate_id = $4)
                   AND ($5::text IS NULL OR event_type = $5)
                   AND ($6::text IS NULL OR metadata->>'actor' = $6)
                   AND ($7::text IS NULL OR metadata->>'time' >= $7)
                   AND ($8::text IS NULL OR metadata->>'time' <= $8)
                   AND position > $9
                 ORDER BY events.transaction_id, events.position
                 LIMIT $10"
            ))
            .bind(transaction_id)
            .bind(after)
            .bind(&filter.aggregate_type)
            .bind(&filter.aggregate_id)
            .bind(&filter.event_type)
            .bind(&filter.actor)
            .bind(&from)
            .bind(&to)
            // A position given that is not in the log: everything after it by number.
            .bind(if checkpoint.is_some() {
                0
            } else {
                filter.after
            })
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("failed to read the audit log")?
        }
        Db::Sqlite(pool) => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events
             WHERE position > $1
               AND ($2 IS NULL OR aggregate_type = $2)
               AND ($3 IS NULL OR aggregate_id = $3)
               AND ($4 IS NULL OR event_type = $4)
               AND ($5 IS NULL OR metadata->>'actor' = $5)
               AND ($6 IS NULL OR metadata->>'time' >= $6)
               AND ($7 IS NULL OR metadata->>'time' <= $7)
             ORDER BY position
             LIMIT $8"
        ))
        .bind(filter.after)
        .bind(&filter.aggregate_type)
        .bind(&filter.aggregate_id)
        .bind(&filter.event_type)
        .bind(&filter.actor)
        .bind(&from)
        .bind(&to)
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("failed to read the audit log")?,
    };
    Ok(rows.into_iter().map(into_audit_event).collect())
}

/// The latest `limit` events one actor caused, newest first (a staff member's own actions on
/// the console's first page).
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn latest_by_actor(db: &Db, actor: &str, limit: i64) -> anyhow::Result<Vec<AuditEvent>> {
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events WHERE metadata->>'actor' = $1
             ORDER BY position DESC LIMIT $2"
        ))
        .bind(actor)
        .bind(limit.clamp(1, 1000))
        .fetch_all(pool)
        .await
        .context("failed to read an actor's events")?
    });
    Ok(rows.into_iter().map(into_audit_event).collect())
}

/// Everything that happened to an account: its own events and every event of another
/// aggregate (login names, identities, records, other accounts) that names it, in log order.
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn account_history(db: &Db, account_id: &str) -> anyhow::Result<Vec<AuditEvent>> {
    let pattern = format!("%\"{account_id}\"%");
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events
             WHERE aggregate_id = $1 OR CAST(payload AS TEXT) LIKE $2
             ORDER BY position"
        ))
        .bind(account_id)
        .bind(&pattern)
        .fetch_all(pool)
        .await
        .context("failed to read an account's history")?
    });
    Ok(rows.into_iter().map(into_audit_event).collect())
}

/// The type of the aggregate with this id, if it has events.
pub async fn aggregate_type_of(db: &Db, aggregate_id: &str) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT aggregate_type FROM events WHERE aggregate_id = $1 LIMIT 1")
            .bind(aggregate_id)
            .fetch_optional(pool)
            .await
            .context("failed to look up an aggregate")?
    });
    Ok(row.map(|(t,)| t))
}

/// An aggregate's state as of a time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AsOf {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub as_of: String,
    /// How many of its events had happened by then (its version at that time).
    pub version: i64,
    /// The last of them.
    pub last_event_at: Option<String>,
    #[schema(value_type = Object)]
    pub state: Value,
}

fn fold<A: Aggregate>(events: &[AuditEvent]) -> anyhow::Result<Value> {
    let mut aggregate = A::default();
    for event in events {
        let decoded: A::Event =
            serde_json::from_value(event.payload.clone()).with_context(|| {
                format!(
                    "event {} ({}) does not decode",
                    event.position, event.event_type
                )
            })?;
        aggregate.apply(decoded);
    }
    let mut state = serde_json::to_value(&aggregate).context("failed to encode a state")?;
    redact(&mut state);
    Ok(state)
}

/// Folds the aggregate's events up to `as_of` (by their recorded time).
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn as_of(
    db: &Db,
    aggregate_type: &str,
    aggregate_id: &str,
    as_of: Timestamp,
) -> anyhow::Result<Option<AsOf>> {
    let cutoff = as_of.to_rfc3339();
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2
             ORDER BY sequence"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(pool)
        .await
        .context("failed to read an aggregate's events")?
    });
    // Folded without redaction (the aggregate needs its own fields), redacted after.
    let events: Vec<AuditEvent> = rows
        .into_iter()
        .map(decode_row)
        // The run of events up to the first recorded after the cutoff: a state that existed
        // (clocks of different nodes may disagree; a later event never comes before).
        .take_while(|e| e.time.as_deref().is_some_and(|t| t <= cutoff.as_str()))
        .collect();
    let state = match aggregate_type {
        "Account" => fold::<Account>(&events)?,
        "Identity" => fold::<Identity>(&events)?,
        "LoginName" => fold::<LoginName>(&events)?,
        "StudentRecord" => fold::<StudentRecord>(&events)?,
        "School" => fold::<School>(&events)?,
        "Platform" => fold::<Platform>(&events)?,
        "SupportTicket" => fold::<SupportTicket>(&events)?,
        _ => return Ok(None),
    };
    Ok(Some(AsOf {
        aggregate_type: aggregate_type.to_string(),
        aggregate_id: aggregate_id.to_string(),
        as_of: cutoff,
        version: events.last().map_or(0, |e| e.sequence),
        last_event_at: events.last().and_then(|e| e.time.clone()),
        state,
    }))
}

/// A row the chain check found wrong.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    /// `edited` (its hash does not match its content), `missing_before` (sequence numbers
    /// skip: events before it were deleted), `chain_broken` (its `prev_hash` is not the
    /// previous event's hash: deleted, inserted or reordered), `unhashed` (no hash at all).
    pub problem: String,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub aggregates: u64,
    pub findings: Vec<Finding>,
}

/// Walks every aggregate's chain in sequence order, a page at a time. `progress` is called
/// with the number of events checked so far.
#[tracing::instrument(skip_all, fields(backend = db.backend().as_str()))]
pub async fn verify(db: &Db, mut progress: impl FnMut(u64)) -> anyhow::Result<VerifyReport> {
    const PAGE: i64 = 5000;
    let mut report = VerifyReport::default();
    let mut last: (String, String, i64) = (String::new(), String::new(), -1);
    let mut expected_sequence = 1;
    let mut previous_hash = GENESIS_HASH.to_string();
    loop {
        let rows: Vec<Row> = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata
                   FROM events
                  WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3)
                  ORDER BY aggregate_type, aggregate_id, sequence
                  LIMIT $4",
            )
            .bind(&last.0)
            .bind(&last.1)
            .bind(last.2)
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .context("failed to read the event log")?
        });
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let Row {
                position,
                aggregate_type,
                aggregate_id,
                sequence,
                event_type,
                event_version: version,
                ..
            } = row;
            let payload = row.payload.map_or(Value::Null, |Json(p)| p);
            let metadata = row.metadata.map_or(Value::Null, |Json(m)| m);
            if (aggregate_type.as_str(), aggregate_id.as_str())
                != (last.0.as_str(), last.1.as_str())
            {
                report.aggregates += 1;
                expected_sequence = 1;
                previous_hash = GENESIS_HASH.to_string();
            }
            let finding = |problem: &str| Finding {
                position,
                aggregate_type: aggregate_type.clone(),
                aggregate_id: aggregate_id.clone(),
                sequence,
                problem: problem.to_string(),
            };
            let stored_hash = metadata.get("hash").and_then(Value::as_str);
            let stored_prev = metadata.get("prev_hash").and_then(Value::as_str);
            if sequence != expected_sequence {
                report.findings.push(finding("missing_before"));
            } else if stored_prev != Some(previous_hash.as_str()) {
                report.findings.push(finding("chain_broken"));
            }
            match stored_hash {
                None => report.findings.push(finding("unhashed")),
                Some(stored) => {
                    let computed = event_hash(&ChainInput {
                        aggregate_type: &aggregate_type,
                        aggregate_id: &aggregate_id,
                        sequence,
                        event_type: &event_type,
                        event_version: &version,
                        payload: &payload,
                        metadata: &metadata,
                    });
                    if computed != stored {
                        report.findings.push(finding("edited"));
                    }
                }
            }
            previous_hash = stored_hash.unwrap_or_default().to_string();
            expected_sequence = sequence + 1;
            report.events += 1;
            last = (aggregate_type, aggregate_id, sequence);
        }
        progress(report.events);
    }
    Ok(report)
}
