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

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError>;
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
