//! Projectors tail the log in global order and apply each batch, with the checkpoint, in one
//! transaction. They wake on every local commit and on a timer (for commits made by other
//! nodes). Queries wait here for a projection to reach a client's position.

use crate::shutdown::Shutdown;
use crate::store::log;
use anyhow::Context;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use xuexin_projections::{checkpoint, Checkpoint, Db, Projection, StoredEvent};

pub const BATCH: i64 = 500;
/// A rebuild reads and applies larger batches: nothing waits on it event by event.
pub const REBUILD_BATCH: i64 = 5000;

/// One read of the log shared by the projectors of a process: caught-up projectors all ask
/// for the events after the same checkpoint after each commit, and one query answers them
/// all. A read is reused only while this process has committed nothing since it was made
/// (other processes' commits are picked up by the projectors' timer, as before).
pub struct SharedLog {
    commits: Arc<AtomicU64>,
    last: tokio::sync::Mutex<Option<CachedRead>>,
}

struct CachedRead {
    from: Checkpoint,
    commits: u64,
    limit: i64,
    events: Arc<Vec<StoredEvent>>,
}

impl SharedLog {
    pub fn new(commits: Arc<AtomicU64>) -> Arc<Self> {
        Arc::new(Self {
            commits,
            last: tokio::sync::Mutex::new(None),
        })
    }

    async fn read_after(
        &self,
        db: &Db,
        from: Checkpoint,
        limit: i64,
    ) -> anyhow::Result<Arc<Vec<StoredEvent>>> {
        let mut last = self.last.lock().await;
        // Read before the query: a commit counted after this may or may not be in the answer,
        // and the next caller then reads again.
        let commits = self.commits.load(Ordering::SeqCst);
        if let Some(cached) = last.as_ref() {
            if cached.from == from && cached.commits == commits && cached.limit == limit {
                return Ok(cached.events.clone());
            }
        }
        let events = Arc::new(log::read_after(db, from, limit).await?);
        *last = Some(CachedRead {
            from,
            commits,
            limit,
            events: events.clone(),
        });
        Ok(events)
    }
}

pub struct Projector {
    db: Db,
    projection: Arc<dyn Projection>,
    reached: watch::Sender<Checkpoint>,
    applied: Arc<Notify>,
    shared: Option<Arc<SharedLog>>,
    batch: i64,
    /// Where this projector has read to, and the checkpoint it last stored. They differ after
    /// batches the projection did not want; the stored one catches up with the next batch
    /// that is applied, or when the projector reaches the head of the log.
    position: std::sync::Mutex<Option<Position>>,
}

#[derive(Clone, Copy, Debug)]
struct Position {
    stored: Checkpoint,
    read_to: Checkpoint,
}

impl Projector {
    pub fn new(db: Db, projection: Arc<dyn Projection>) -> Self {
        let (reached, _) = watch::channel(Checkpoint::START);
        Self {
            db,
            projection,
            reached,
            applied: Arc::new(Notify::new()),
            shared: None,
            batch: BATCH,
            position: std::sync::Mutex::new(None),
        }
    }

    /// A projector that shares its reads of the log with the others of this process.
    pub fn sharing(db: Db, projection: Arc<dyn Projection>, shared: Arc<SharedLog>) -> Self {
        Self {
            shared: Some(shared),
            ..Self::new(db, projection)
        }
    }

    /// A projector for a rebuild: larger batches.
    pub fn for_rebuild(db: Db, projection: Arc<dyn Projection>) -> Self {
        Self {
            batch: REBUILD_BATCH,
            ..Self::new(db, projection)
        }
    }

    /// Notified after each committed batch (process managers' workers wait on it).
    pub fn applied(&self) -> Arc<Notify> {
        self.applied.clone()
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    pub fn subscribe(&self) -> watch::Receiver<Checkpoint> {
        self.reached.subscribe()
    }

    /// Applies at most one batch. Returns how many events it applied.
    #[tracing::instrument(skip(self), fields(projection = self.projection.name()))]
    pub async fn step(&self) -> anyhow::Result<usize> {
        let name = self.projection.name();
        let known = self.position.lock().ok().and_then(|p| *p);
        let position = match known {
            Some(position) => position,
            None => {
                let stored = checkpoint::load(&self.db, name)
                    .await
                    .context("failed to load a checkpoint")?;
                Position {
                    stored,
                    read_to: stored,
                }
            }
        };
        self.reached.send_if_modified(|current| {
            let changed = *current != position.read_to;
            *current = position.read_to;
            changed
        });
        let events = match &self.shared {
            Some(shared) => {
                shared
                    .read_after(&self.db, position.read_to, self.batch)
                    .await?
            }
            None => Arc::new(log::read_after(&self.db, position.read_to, self.batch).await?),
        };
        let Some(last) = events.last().map(|e| e.checkpoint()) else {
            // At the head: store a position that skipped batches left only in memory.
            if position.stored != position.read_to {
                self.store_position(position, position.read_to).await?;
            } else {
                self.remember(Some(position));
            }
            return Ok(0);
        };
        if !events.iter().any(|e| self.projection.wants(e)) {
            self.remember(Some(Position {
                stored: position.stored,
                read_to: last,
            }));
            self.reached.send_replace(last);
            return Ok(events.len());
        }
        let mut tx = self
            .db
            .begin()
            .await
            .context("failed to begin a projection batch")?;
        self.projection
            .apply_batch(&mut tx, &events)
            .await
            .with_context(|| format!("{name} failed in the batch after {:?}", position.read_to))?;
        if !checkpoint::advance(&mut tx, name, position.stored, last).await? {
            tx.rollback().await.ok();
            self.remember(None);
            tracing::debug!("another projector advanced first; reloading");
            return Ok(0);
        }
        tx.commit()
            .await
            .context("failed to commit a projection batch")?;
        self.remember(Some(Position {
            stored: last,
            read_to: last,
        }));
        self.reached.send_replace(last);
        self.applied.notify_waiters();
        Ok(events.len())
    }

    fn remember(&self, position: Option<Position>) {
        if let Ok(mut slot) = self.position.lock() {
            *slot = position;
        }
    }

    async fn store_position(&self, position: Position, to: Checkpoint) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if checkpoint::advance(&mut tx, self.projection.name(), position.stored, to).await? {
            tx.commit().await?;
            self.remember(Some(Position {
                stored: to,
                read_to: to,
            }));
        } else {
            tx.rollback().await.ok();
            self.remember(None);
        }
        Ok(())
    }

    /// Runs until shutdown.
    pub async fn run(
        self: Arc<Self>,
        commits: Arc<Notify>,
        poll: Duration,
        mut shutdown: Shutdown,
    ) {
        if let Err(error) = checkpoint::ensure(&self.db, self.name()).await {
            tracing::error!(projection = self.name(), error = %error, "cannot create checkpoint");
        }
        let mut failures = 0u32;
        while !shutdown.is_triggered() {
            let notified = commits.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.step().await {
                Ok(n) if n as i64 >= self.batch => continue,
                Ok(_) => {
                    failures = 0;
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = shutdown.wait() => {}
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::error!(
                        projection = self.name(),
                        error = format!("{error:#}"),
                        "projection step failed"
                    );
                    let pause = Duration::from_millis(200 * u64::from(failures.min(25)));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.wait() => {}
                    }
                }
            }
        }
    }

    /// Applies everything up to the current head (for CLI tools and tests).
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        checkpoint::ensure(&self.db, self.name()).await?;
        let mut total = 0;
        loop {
            let n = self.step().await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("the projection did not reach the position in time")]
    Timeout,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Lets a query wait until the projections it reads have applied a given log position.
#[derive(Clone)]
pub struct ReadYourWrites {
    db: Db,
    local: Arc<HashMap<&'static str, watch::Receiver<Checkpoint>>>,
    max_wait: Duration,
}

impl ReadYourWrites {
    pub fn new(db: Db, projectors: &[Arc<Projector>], max_wait: Duration) -> Self {
        let local = projectors
            .iter()
            .map(|p| (p.name(), p.subscribe()))
            .collect();
        Self {
            db,
            local: Arc::new(local),
            max_wait,
        }
    }

    /// Returns once every named projection has applied `position`, or `Timeout`.
    #[tracing::instrument(skip(self))]
    pub async fn wait(&self, projections: &[&'static str], position: i64) -> Result<(), WaitError> {
        if position <= 0 {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.max_wait;
        let target = loop {
            if let Some(target) = log::checkpoint_of(&self.db, position).await? {
                break target;
            }
            // A position not (yet) in the log: wait for it to appear, within the bound.
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for name in projections {
            match self.local.get(name) {
                Some(receiver) => {
                    let mut receiver = receiver.clone();
                    let reached =
                        tokio::time::timeout_at(deadline, receiver.wait_for(|cp| *cp >= target))
                            .await;
                    match reached {
                        Ok(Ok(_)) => {}
                        // The projector is gone (shutting down) or time is up.
                        Ok(Err(_)) | Err(_) => return Err(WaitError::Timeout),
                    }
                }
                None => loop {
                    // Run by another node: poll its checkpoint.
                    let current = checkpoint::load(&self.db, name)
                        .await
                        .context("failed to read a checkpoint")?;
                    if current >= target {
                        break;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(WaitError::Timeout);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                },
            }
        }
        Ok(())
    }
}
