//! One stored event as the `events` table holds it: the row every reader of the table decodes
//! (the log readers, the audit queries, the event store's batch loads).

use serde_json::Value;
use sqlx::types::Json;

/// A row of `events`. Readers select the columns they need; `position` and `transaction_id`
/// default to 0 when not selected (SQLite has no transaction ids), and `payload` and `metadata`
/// are `None` where a reader left them out (a typed NULL).
#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    #[sqlx(default)]
    pub position: i64,
    #[sqlx(default)]
    pub transaction_id: i64,
    #[sqlx(default)]
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Option<Json<Value>>,
    pub metadata: Option<Json<Value>>,
}

impl EventRow {
    /// The payload, upcast to the event's current version: `(version, payload)`.
    pub fn upcast_payload(&mut self, aggregate_type: &str) -> (String, Value) {
        match self.payload.take() {
            Some(Json(payload)) => xuexin_domain::upcast::upcast(
                aggregate_type,
                &self.event_type,
                &self.event_version,
                payload,
            ),
            None => (self.event_version.clone(), Value::Null),
        }
    }

    /// The metadata, or `null` when it was not read.
    pub fn take_metadata(&mut self) -> Value {
        self.metadata.take().map_or(Value::Null, |Json(m)| m)
    }
}
