//! Reading the log in global order. PostgreSQL: `(transaction_id, position)` past the
//! checkpoint and below the oldest transaction still running, so an event whose transaction
//! commits after a later-numbered one's is read in its turn and never skipped. SQLite has one
//! writer at a time, so `position` (the rowid) is commit order.

use anyhow::Context;
use serde_json::Value;
use sqlx::types::Json;
use xuexin_projections::{on_db, Checkpoint, Db, StoredEvent};

type EventRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    Json<Value>,
    Json<Value>,
);

// `events.` in ORDER BY: a bare `transaction_id` would name the output column (the bigint
// cast), which no index orders, and every batch would sort the rest of the log.
const PG_READ_AFTER: &str = "
SELECT position, transaction_id::text::bigint, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload, metadata
  FROM events
 WHERE (transaction_id, position) > ($1::text::xid8, $2)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.transaction_id, events.position
 LIMIT $3";

const SQLITE_READ_AFTER: &str = "
SELECT position, 0, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload, metadata
  FROM events
 WHERE position > $1
 ORDER BY position
 LIMIT $2";

/// Up to `limit` events after `checkpoint`, in global order, upcast to current versions.
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn read_after(
    db: &Db,
    checkpoint: Checkpoint,
    limit: i64,
) -> anyhow::Result<Vec<StoredEvent>> {
    let rows: Vec<EventRow> = match db {
        Db::Postgres(pool) => sqlx::query_as(PG_READ_AFTER)
            .bind(checkpoint.transaction_id)
            .bind(checkpoint.position)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("failed to read the event log")?,
        Db::Sqlite(pool) => sqlx::query_as(SQLITE_READ_AFTER)
            .bind(checkpoint.position)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("failed to read the event log")?,
    };
    Ok(rows.into_iter().map(into_event).collect())
}

fn into_event(row: EventRow) -> StoredEvent {
    let (
        position,
        transaction_id,
        aggregate_type,
        aggregate_id,
        sequence,
        event_type,
        version,
        payload,
        metadata,
    ) = row;
    let (event_version, payload) =
        xuexin_domain::upcast::upcast(&aggregate_type, &event_type, &version, payload.0);
    StoredEvent {
        position,
        transaction_id,
        aggregate_type,
        aggregate_id,
        sequence,
        event_type,
        event_version,
        payload,
        metadata: metadata.0,
    }
}

/// The checkpoint a subscriber must have passed to have seen the event at `position`.
pub async fn checkpoint_of(db: &Db, position: i64) -> anyhow::Result<Option<Checkpoint>> {
    let transaction_id: Option<(i64,)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT transaction_id::text::bigint FROM events WHERE position = $1")
                .bind(position)
                .fetch_optional(pool)
                .await
                .context("failed to look up a position")?
        }
        Db::Sqlite(pool) => sqlx::query_as("SELECT 0 FROM events WHERE position = $1")
            .bind(position)
            .fetch_optional(pool)
            .await
            .context("failed to look up a position")?,
    };
    Ok(transaction_id.map(|(transaction_id,)| Checkpoint {
        transaction_id,
        position,
    }))
}

/// The newest position in the log (0 when empty).
pub async fn head(db: &Db) -> anyhow::Result<i64> {
    let (head,): (Option<i64>,) = on_db!(db, pool => {
        sqlx::query_as("SELECT MAX(position) FROM events")
            .fetch_one(pool)
            .await
            .context("failed to read the log head")?
    });
    Ok(head.unwrap_or(0))
}

/// Every event of one aggregate, oldest first, upcast to current versions.
#[tracing::instrument(skip(db), fields(backend = db.backend().as_str()))]
pub async fn stream(
    db: &Db,
    aggregate_type: &str,
    aggregate_id: &str,
) -> anyhow::Result<Vec<StoredEvent>> {
    let rows: Vec<EventRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT position, CAST(0 AS BIGINT), aggregate_type, aggregate_id, sequence,
                    event_type, event_version, payload, metadata
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(pool)
        .await
        .context("failed to read an aggregate's events")?
    });
    Ok(rows.into_iter().map(into_event).collect())
}
