//! The process-task queue: process managers decide inside their projection transaction what
//! must be done (as rows here, exactly once per event); a worker loop in the service carries
//! each task out as a command, with retries. Task ids are derived from the deciding event, so
//! re-applying an event never queues a task twice.
//!
//! Each task remembers the command it descends from: the deciding event's request id (a task's
//! own events carry the request id of the command they descend from, so a chain keeps it) and
//! its root position (the deciding event's `caused_by`, or its own position when a command
//! wrote it), so a query can wait for every consequence of a command (`?settled=`).

use crate::db::Tx;
use crate::event::StoredEvent;
use crate::projection::ProjectionError;
use crate::tx_execute;
use serde_json::Value;

pub async fn queue(
    tx: &mut Tx,
    event: &StoredEvent,
    kind: &str,
    subject: &str,
    payload: Value,
) -> Result<(), ProjectionError> {
    tx_execute!(
        tx,
        "INSERT INTO process_tasks (id, kind, payload, next_attempt_at, created_at, root_position,
             root_request)
         VALUES ($1, $2, $3, 0, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        format!("{kind}:{subject}:{}:{}", event.aggregate_id, event.sequence),
        kind,
        payload.to_string(),
        event.time().millis(),
        root_position(event),
        event.metadata_str("request_id"),
    )?;
    Ok(())
}

/// The position of the command's event that `event` descends from: its `caused_by` when a
/// process task wrote it, else its own.
pub fn root_position(event: &StoredEvent) -> i64 {
    event
        .metadata
        .get("caused_by")
        .and_then(Value::as_i64)
        .unwrap_or(event.position)
}
