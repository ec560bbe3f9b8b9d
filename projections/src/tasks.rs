//! The process-task queue: process managers decide inside their projection transaction what
//! must be done (as rows here, exactly once per event); a worker loop in the service carries
//! each task out as a command, with retries. Task ids are derived from the deciding event, so
//! re-applying an event never queues a task twice.

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
        "INSERT INTO process_tasks (id, kind, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (id) DO NOTHING",
        format!("{kind}:{subject}:{}:{}", event.aggregate_id, event.sequence),
        kind,
        payload.to_string(),
        event.time().millis(),
    )?;
    Ok(())
}
