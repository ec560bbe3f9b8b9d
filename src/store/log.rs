//! Reading the log in global order. PostgreSQL: `(transaction_id, position)` past the
//! checkpoint and below the oldest transaction still running, so an event whose transaction
//! commits after a later-numbered one's is read in its turn and never skipped. SQLite has one
//! writer at a time, so `position` (the rowid) is commit order.

use super::row::EventRow;
use anyhow::Context;
use serde_json::Value;
use xuexin_projections::{on_db, Checkpoint, Db, StoredEvent};

/// Which parts of the log a reader decodes: the payloads of some aggregates only, with or
/// without metadata. Every event is still read, in order, so checkpoints stay exact; the
/// others arrive with a null payload (or null metadata). Its queries are built once, here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// `None`: every aggregate's payload.
    aggregate_types: Option<Vec<&'static str>>,
    metadata: bool,
    postgres_query: String,
    sqlite_query: String,
}

/// Every payload, with metadata.
static EVERYTHING: std::sync::LazyLock<Selection> =
    std::sync::LazyLock::new(|| Selection::new(None, true));

impl Selection {
    fn new(aggregate_types: Option<Vec<&'static str>>, metadata: bool) -> Self {
        let columns = columns(aggregate_types.as_deref(), metadata);
        Self {
            aggregate_types,
            metadata,
            postgres_query: pg_read_after(&columns),
            sqlite_query: sqlite_read_after(&columns),
        }
    }

    /// Every payload, with metadata.
    pub fn everything() -> &'static Self {
        &EVERYTHING
    }

    /// What the given projections read, together.
    pub fn of(projections: &[std::sync::Arc<dyn xuexin_projections::Projection>]) -> Self {
        let mut aggregate_types: Option<Vec<&'static str>> = Some(Vec::new());
        let mut metadata = false;
        for projection in projections {
            metadata |= projection.reads_metadata();
            match (projection.aggregate_types(), aggregate_types.as_mut()) {
                (Some(types), Some(all)) => all.extend(types.iter().copied()),
                _ => aggregate_types = None,
            }
        }
        if let Some(all) = aggregate_types.as_mut() {
            all.sort_unstable();
            all.dedup();
        }
        Self::new(aggregate_types, metadata)
    }

    /// Whether events of this aggregate are decoded.
    pub fn wants(&self, aggregate_type: &str) -> bool {
        self.aggregate_types
            .as_ref()
            .is_none_or(|types| types.contains(&aggregate_type))
    }

    /// A copy of an event read with everything, holding only what this selection reads: what
    /// `read_selected` would have returned for it.
    pub fn project(&self, event: &StoredEvent) -> StoredEvent {
        let keep = |value: &Value, wanted: bool| if wanted { value.clone() } else { Value::Null };
        StoredEvent {
            position: event.position,
            transaction_id: event.transaction_id,
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            payload: keep(&event.payload, self.wants(&event.aggregate_type)),
            metadata: keep(&event.metadata, self.metadata),
        }
    }
}

/// The payload and metadata columns of the query. Aggregate type names are the code's own
/// constants (letters only), never input.
fn columns(aggregate_types: Option<&[&'static str]>, metadata: bool) -> String {
    let payload = match aggregate_types {
        None => "payload".to_string(),
        Some(types) => {
            let list: Vec<String> = types
                .iter()
                .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric()))
                .map(|t| format!("'{t}'"))
                .collect();
            if list.is_empty() {
                "CASE WHEN 1 = 0 THEN payload END".to_string()
            } else {
                format!(
                    "CASE WHEN aggregate_type IN ({}) THEN payload END",
                    list.join(", ")
                )
            }
        }
    };
    // A typed null on both backends (a bare NULL has no type on PostgreSQL).
    let metadata = if metadata {
        "metadata"
    } else {
        "CASE WHEN 1 = 0 THEN metadata END"
    };
    format!("{payload} AS payload, {metadata} AS metadata")
}

// `events.` in ORDER BY: a bare `transaction_id` would name the output column (the bigint
// cast), which no index orders, and every batch would sort the rest of the log.
fn pg_read_after(columns: &str) -> String {
    format!(
        "SELECT position, transaction_id::text::bigint AS transaction_id, aggregate_type,
                aggregate_id, sequence, event_type, event_version, {columns}
           FROM events
          WHERE (transaction_id, position) > ($1::text::xid8, $2)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.transaction_id, events.position
          LIMIT $3"
    )
}

fn sqlite_read_after(columns: &str) -> String {
    format!(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                {columns}
           FROM events
          WHERE position > $1
          ORDER BY position
          LIMIT $2"
    )
}

/// Up to `limit` events after `checkpoint`, in global order, upcast to current versions.
pub async fn read_after(
    db: &Db,
    checkpoint: Checkpoint,
    limit: i64,
) -> anyhow::Result<Vec<StoredEvent>> {
    read_selected(db, checkpoint, limit, &EVERYTHING).await
}

/// As `read_after`, decoding only what `selection` names.
#[tracing::instrument(skip(db, selection), fields(backend = db.backend().as_str()))]
pub async fn read_selected(
    db: &Db,
    checkpoint: Checkpoint,
    limit: i64,
    selection: &Selection,
) -> anyhow::Result<Vec<StoredEvent>> {
    let rows: Vec<EventRow> = match db {
        Db::Postgres(pool) => sqlx::query_as(&selection.postgres_query)
            .bind(checkpoint.transaction_id)
            .bind(checkpoint.position)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("failed to read the event log")?,
        Db::Sqlite(pool) => sqlx::query_as(&selection.sqlite_query)
            .bind(checkpoint.position)
            .bind(limit)
            .fetch_all(pool)
            .await
            .context("failed to read the event log")?,
    };
    Ok(rows
        .into_iter()
        .map(|row| into_event(row, selection))
        .collect())
}

fn into_event(mut row: EventRow, selection: &Selection) -> StoredEvent {
    let (event_version, payload) = if selection.wants(&row.aggregate_type) {
        let aggregate_type = row.aggregate_type.clone();
        row.upcast_payload(&aggregate_type)
    } else {
        (row.event_version.clone(), Value::Null)
    };
    let metadata = row.take_metadata();
    StoredEvent {
        position: row.position,
        transaction_id: row.transaction_id,
        aggregate_type: row.aggregate_type,
        aggregate_id: row.aggregate_id,
        sequence: row.sequence,
        event_type: row.event_type,
        event_version,
        payload,
        metadata,
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

/// The checkpoint of the newest event visible now (`None`: the log is empty): the log's head
/// and its transaction, in one query.
pub async fn head_checkpoint(db: &Db) -> anyhow::Result<Option<Checkpoint>> {
    let row: Option<(i64, i64)> = match db {
        Db::Postgres(pool) => sqlx::query_as(
            "SELECT position, transaction_id::text::bigint FROM events
              ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await
        .context("failed to read the log head")?,
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT position, 0 FROM events ORDER BY position DESC LIMIT 1")
                .fetch_optional(pool)
                .await
                .context("failed to read the log head")?
        }
    };
    Ok(row.map(|(position, transaction_id)| Checkpoint {
        transaction_id,
        position,
    }))
}

/// The request id of the event at `position` (the command that wrote it), if there is one.
pub async fn request_of(db: &Db, position: i64) -> anyhow::Result<Option<String>> {
    let found: Option<(String,)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT metadata::text FROM events WHERE position = $1")
                .bind(position)
                .fetch_optional(pool)
                .await
                .context("failed to look up a position")?
        }
        Db::Sqlite(pool) => sqlx::query_as("SELECT metadata FROM events WHERE position = $1")
            .bind(position)
            .fetch_optional(pool)
            .await
            .context("failed to look up a position")?,
    };
    Ok(found.and_then(|(metadata,)| {
        let metadata: serde_json::Value = serde_json::from_str(&metadata).ok()?;
        metadata["request_id"].as_str().map(str::to_string)
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
    Ok(rows
        .into_iter()
        .map(|row| into_event(row, &EVERYTHING))
        .collect())
}
