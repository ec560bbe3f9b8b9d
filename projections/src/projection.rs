//! A read model is a fold over the log. Each projector applies events inside the transaction
//! that also stores its checkpoint, so a crash never applies an event twice or loses one.

use crate::db::Tx;
use crate::event::StoredEvent;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event {position} ({event_type}) could not be decoded: {source}")]
    Decode {
        position: i64,
        event_type: String,
        source: serde_json::Error,
    },
}

#[async_trait::async_trait]
pub trait Projection: Send + Sync {
    /// The checkpoint name; it carries the version, so a changed fold is a new projection
    /// that rebuilds into new tables (`login_index_v1` → `login_index_v2`).
    fn name(&self) -> &'static str;

    /// Tables the projection owns and a rebuild empties.
    fn tables(&self) -> &'static [&'static str];

    /// Whether a rebuild from the first event is safe. Process managers that send mail say no.
    fn rebuildable(&self) -> bool {
        true
    }

    /// The aggregates whose events the projection reads (`None`: every one). Its projector
    /// reads the payloads of these alone; other events arrive with a null payload, and
    /// `apply` passes over them by their `aggregate_type`.
    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Of one aggregate's events, the types the projection reads (`None`: all of them). A
    /// batch holding none of what it reads is passed over without a transaction, so naming
    /// them spares a busy log's commits (a login's `LoginSucceeded` concerns one read model
    /// of the five that read accounts). Every name must be the aggregate's (a test checks).
    fn event_types_of(&self, _aggregate_type: &str) -> Option<&'static [&'static str]> {
        None
    }

    /// Whether the projection reads the event: of an aggregate it reads (`aggregate_types`),
    /// and of a type it reads (`event_types_of`).
    fn reads(&self, event: &StoredEvent) -> bool {
        self.aggregate_types()
            .is_none_or(|types| types.contains(&event.aggregate_type.as_str()))
            && self
                .event_types_of(&event.aggregate_type)
                .is_none_or(|types| types.contains(&event.event_type.as_str()))
    }

    /// Whether `apply` reads the events' metadata (time, actor); if not, it arrives null.
    fn reads_metadata(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError>;

    /// Applies a batch of events, in order, as `apply` would one by one. Read models that
    /// make many small writes override it to write a batch in a few multi-row statements
    /// (a rebuild folds millions of events; a statement each would be bound by round trips).
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }
}

pub(crate) fn decode(
    event: &StoredEvent,
) -> Result<crate::event::DomainEventKind, ProjectionError> {
    event.decode().map_err(|source| ProjectionError::Decode {
        position: event.position,
        event_type: event.event_type.clone(),
        source,
    })
}
