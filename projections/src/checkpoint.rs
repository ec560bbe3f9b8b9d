//! Projection checkpoints, stored in the same transaction as the rows they describe.
//! Advancing is conditional on the checkpoint still being where it was read, so two nodes
//! running the same projector can never both apply a batch: the second one's update finds
//! nothing to change and rolls back.

use crate::db::{Db, Tx};
use crate::event::Checkpoint;
use crate::{db_execute, on_db, tx_execute};

/// A stored checkpoint as its owner (a projector, the relay) last read or wrote it, kept so
/// that a step need not read it again; `None`: unknown, read it. Every write of the stored
/// one is fenced on this value, so a stale copy (another node moved it) fails its write and is
/// forgotten.
#[derive(Debug, Default)]
pub struct Known(std::sync::Mutex<Option<Checkpoint>>);

impl Known {
    pub fn get(&self) -> Option<Checkpoint> {
        self.0.lock().map_or(None, |known| *known)
    }

    pub fn set(&self, checkpoint: Option<Checkpoint>) {
        if let Ok(mut known) = self.0.lock() {
            *known = checkpoint;
        }
    }
}

pub async fn load(db: &Db, projection: &str) -> sqlx::Result<Checkpoint> {
    let row: Option<(i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT transaction_id, position FROM projection_checkpoints WHERE projection = $1",
        )
        .bind(projection)
        .fetch_optional(pool)
        .await?
    });
    Ok(
        row.map_or(Checkpoint::START, |(transaction_id, position)| Checkpoint {
            transaction_id,
            position,
        }),
    )
}

/// Makes sure the projection has a checkpoint row (at the start of the log).
pub async fn ensure(db: &Db, projection: &str) -> sqlx::Result<()> {
    db_execute!(
        db,
        "INSERT INTO projection_checkpoints (projection, transaction_id, position) VALUES ($1, 0, 0)
         ON CONFLICT (projection) DO NOTHING",
        projection,
    )?;
    Ok(())
}

/// Moves the checkpoint from `from` to `to`; false if someone else moved it first.
pub async fn advance(
    tx: &mut Tx,
    projection: &str,
    from: Checkpoint,
    to: Checkpoint,
) -> sqlx::Result<bool> {
    let updated = tx_execute!(
        tx,
        "UPDATE projection_checkpoints SET transaction_id = $4, position = $5
         WHERE projection = $1 AND transaction_id = $2 AND position = $3",
        projection,
        from.transaction_id,
        from.position,
        to.transaction_id,
        to.position,
    )?;
    Ok(updated == 1)
}

/// Back to the start of the log (a rebuild).
pub async fn reset(tx: &mut Tx, projection: &str) -> sqlx::Result<()> {
    tx_execute!(
        tx,
        "UPDATE projection_checkpoints SET transaction_id = 0, position = 0 WHERE projection = $1",
        projection,
    )?;
    Ok(())
}
