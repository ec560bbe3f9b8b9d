//! Projectors tail the log in global order and apply each batch, with the checkpoint, in one
//! transaction. They wake on every local commit and on a timer (for commits made by other
//! nodes). Queries wait here for a projection to reach a client's position.

use crate::shutdown::Shutdown;
use crate::store::log;
use crate::store::tail::{self, LogTail, HELD_BACK_RETRY};
use anyhow::Context;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use xuexin_projections::{checkpoint, on_db, Checkpoint, Db, Projection};

pub const BATCH: i64 = 500;

/// What one step did: how many events it read (applied or passed over), and whether it
/// committed a batch.
#[derive(Clone, Copy, Debug)]
struct Step {
    read: usize,
    wrote: bool,
}

impl Step {
    const NOTHING: Step = Step {
        read: 0,
        wrote: false,
    };
}

/// How long progress through batches a projection reads nothing of may stay unstored. Until it
/// is stored, other nodes' queries that wait for this projection (they poll the stored
/// checkpoint) wait too; after a crash those batches are only read again.
pub const SKIPPED_PERSIST_AFTER: Duration = Duration::from_millis(200);

/// Batches passed over without a transaction: where the stored checkpoint was, and how far
/// past it this projector has read.
#[derive(Clone, Copy, Debug)]
struct Skipped {
    stored: Checkpoint,
    read_to: Checkpoint,
    since: std::time::Instant,
}

/// How long a busy projector lets commits gather after a wakeup before it reads them: one
/// transaction for the events of a few milliseconds instead of one per commit.
const COALESCE: Duration = Duration::from_millis(3);

pub struct Projector {
    db: Db,
    projection: Arc<dyn Projection>,
    reached: watch::Sender<Checkpoint>,
    applied: Arc<Notify>,
    selection: log::Selection,
    skipped: std::sync::Mutex<Option<Skipped>>,
    /// The stored checkpoint as this projector last read or wrote it, so that a step does not
    /// read it again. Every write of it is fenced on the value (`checkpoint::advance`), so a
    /// stale copy (another node, a rebuild) fails that write and is read afresh.
    stored: checkpoint::Known,
    /// The log's newest events, read once for every projector of this node (`None`: each step
    /// reads the database).
    tail: Option<Arc<LogTail>>,
}

impl Projector {
    pub fn new(db: Db, projection: Arc<dyn Projection>, tail: Option<Arc<LogTail>>) -> Self {
        let (reached, _) = watch::channel(Checkpoint::START);
        let selection = log::Selection::of(std::slice::from_ref(&projection));
        Self {
            db,
            selection,
            tail,
            skipped: std::sync::Mutex::new(None),
            stored: checkpoint::Known::default(),
            projection,
            reached,
            applied: Arc::new(Notify::new()),
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

    fn skipped(&self) -> Option<Skipped> {
        self.skipped.lock().map_or(None, |s| *s)
    }

    fn set_skipped(&self, skipped: Option<Skipped>) {
        if let Ok(mut current) = self.skipped.lock() {
            *current = skipped;
        }
    }

    /// The stored checkpoint: the copy kept since this projector's last read or write of it,
    /// or the database's.
    async fn stored(&self) -> anyhow::Result<Checkpoint> {
        if let Some(known) = self.stored.get() {
            return Ok(known);
        }
        let stored = checkpoint::load(&self.db, self.name())
            .await
            .context("failed to load a checkpoint")?;
        self.stored.set(Some(stored));
        Ok(stored)
    }

    /// Applies at most one batch. Returns how many events it read (applied or passed over).
    ///
    /// A batch holding no event of an aggregate the projection reads is passed over without a
    /// transaction: only this projector's position moves (and the position queries on this
    /// node wait for), and the stored checkpoint catches up with the next batch it writes or
    /// by `store_skipped`. Each commit of a busy service wakes every projector; most have
    /// nothing to write for it.
    pub async fn step(&self) -> anyhow::Result<usize> {
        Ok(self.step_after(None).await?.read)
    }

    /// `step`, for a projector woken by a local commit that must see the writer's committed
    /// head `seen` (`None`: woken by the clock). A read of the log begun after that commit, by
    /// any projector of this node, serves it too (`LogTail::read`).
    #[tracing::instrument(skip(self), fields(projection = self.projection.name()))]
    async fn step_after(&self, seen: Option<i64>) -> anyhow::Result<Step> {
        let name = self.projection.name();
        let stored = self.stored().await?;
        let skipped = self.skipped().filter(|s| s.stored == stored);
        if skipped.is_none() {
            // Nothing skipped, or the stored checkpoint moved (another node, a rebuild).
            self.set_skipped(None);
        }
        let from = skipped.map_or(stored, |s| s.read_to);
        self.reached.send_if_modified(|current| {
            let changed = *current != from;
            *current = from;
            changed
        });
        let events = match &self.tail {
            Some(tail) => tail.read(from, BATCH, seen, &self.selection).await?,
            None => log::read_selected(&self.db, from, BATCH, &self.selection).await?,
        };
        let Some(last) = events.last().map(|e| e.checkpoint()) else {
            return Ok(Step::NOTHING);
        };
        if !events.iter().any(|e| self.projection.reads(e)) {
            self.set_skipped(Some(Skipped {
                stored,
                read_to: last,
                since: skipped.map_or_else(std::time::Instant::now, |s| s.since),
            }));
            self.reached.send_replace(last);
            return Ok(Step {
                read: events.len(),
                wrote: false,
            });
        }
        let mut tx = self
            .db
            .begin()
            .await
            .context("failed to begin a projection batch")?;
        self.projection
            .apply_batch(&mut tx, &events)
            .await
            .with_context(|| {
                format!(
                    "{name} failed in the batch of positions {} to {}",
                    events.first().map_or(0, |e| e.position),
                    last.position
                )
            })?;
        if !checkpoint::advance(&mut tx, name, stored, last).await? {
            tx.rollback().await.ok();
            self.set_skipped(None);
            self.stored.set(None);
            tracing::debug!("another projector advanced first; reloading");
            return Ok(Step::NOTHING);
        }
        // Unknown until the commit is: a failed commit leaves the stored checkpoint unsure.
        self.stored.set(None);
        tx.commit()
            .await
            .context("failed to commit a projection batch")?;
        self.stored.set(Some(last));
        self.set_skipped(None);
        self.reached.send_replace(last);
        self.applied.notify_waiters();
        Ok(Step {
            read: events.len(),
            wrote: true,
        })
    }

    /// Stores the checkpoint past batches passed over, if any (fenced like any advance).
    pub async fn store_skipped(&self) -> anyhow::Result<()> {
        let Some(skipped) = self.skipped() else {
            return Ok(());
        };
        let mut tx = self
            .db
            .begin()
            .await
            .context("failed to begin a checkpoint update")?;
        let moved =
            checkpoint::advance(&mut tx, self.name(), skipped.stored, skipped.read_to).await?;
        self.stored.set(None);
        tx.commit()
            .await
            .context("failed to commit a checkpoint update")?;
        if moved {
            self.stored.set(Some(skipped.read_to));
        } else {
            tracing::debug!("another projector advanced first; reloading");
        }
        self.set_skipped(None);
        Ok(())
    }

    /// Whether this node has committed events past this projector's position that its last
    /// read could not see yet (on PostgreSQL, an older transaction elsewhere was still open).
    /// Other processes' events are found by the poll. SQLite has one writer: never.
    fn held_back(&self, committed_head: &AtomicI64) -> bool {
        tail::held_back(
            &self.db,
            committed_head.load(Ordering::Relaxed),
            self.reached.borrow().position,
        )
    }

    /// How long until the progress passed over must be stored (`None`: nothing to store).
    fn skipped_due(&self) -> Option<Duration> {
        self.skipped()
            .map(|s| SKIPPED_PERSIST_AFTER.saturating_sub(s.since.elapsed()))
    }

    /// Runs until shutdown.
    pub async fn run(
        self: Arc<Self>,
        commits: Arc<Notify>,
        committed_head: Arc<AtomicI64>,
        poll: Duration,
        mut shutdown: Shutdown,
    ) {
        if let Err(error) = checkpoint::ensure(&self.db, self.name()).await {
            tracing::error!(projection = self.name(), error = %error, "cannot create checkpoint");
        }
        let mut failures = 0u32;
        // Whether the last wakeup was a local commit (and not the clock).
        let mut by_commit = false;
        while !shutdown.is_triggered() {
            let notified = commits.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Loaded once listening: a later commit wakes the next step.
            let seen = by_commit.then(|| committed_head.load(Ordering::Acquire));
            match self.step_after(seen).await {
                Ok(step) if step.read as i64 >= BATCH => by_commit = true,
                Ok(step) => {
                    failures = 0;
                    // Caught up. Progress passed over is stored once it is old enough (a
                    // busy log keeps it moving in memory meanwhile).
                    let wait = match self.skipped_due() {
                        Some(due) if due.is_zero() => {
                            if let Err(error) = self.store_skipped().await {
                                tracing::warn!(
                                    projection = self.name(),
                                    error = format!("{error:#}"),
                                    "failed to store a checkpoint"
                                );
                            }
                            poll
                        }
                        Some(due) => due.min(poll),
                        None => poll,
                    };
                    // On PostgreSQL a committed event stays out of reach while any older
                    // transaction on the server is open, also one in another database that
                    // wakes nothing here. Look again soon rather than at the next commit.
                    let wait = if self.held_back(&committed_head) {
                        HELD_BACK_RETRY.min(wait)
                    } else {
                        wait
                    };
                    let woken = tokio::select! {
                        _ = &mut notified => true,
                        _ = tokio::time::sleep(wait) => false,
                        _ = shutdown.wait() => false,
                    };
                    by_commit = woken;
                    // Under load (the last step wrote a batch and a commit woke us at once),
                    // let a few more commits land so that one transaction applies them all.
                    // A projector that only passed events over writes nothing to save: it
                    // reads at once, so that queries waiting for it are not held up.
                    if woken && step.wrote {
                        tokio::time::sleep(COALESCE).await;
                    }
                    // Woken by the clock, not a commit here: look at the stored checkpoint
                    // again, in case another node or a rebuild moved it.
                    if !woken {
                        self.stored.set(None);
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
                    by_commit = false;
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
                self.store_skipped().await?;
                return Ok(total);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("the projection did not reach the position in time")]
    Timeout,
    #[error("the position is past the head of the log")]
    AheadOfLog,
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
        let deadline = tokio::time::Instant::now() + self.max_wait;
        self.wait_until(projections, position, deadline).await
    }

    /// Returns once every named projection has applied the log as far as it is visible now
    /// (a query that must see whatever any node committed before it). The head and its
    /// checkpoint are one query.
    #[tracing::instrument(skip(self))]
    pub async fn wait_for_head(&self, projections: &[&'static str]) -> Result<(), WaitError> {
        let Some(target) = log::head_checkpoint(&self.db).await? else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.max_wait;
        self.wait_for_checkpoint(projections, target, deadline)
            .await
    }

    /// `wait`, with the deadline given.
    async fn wait_until(
        &self,
        projections: &[&'static str],
        position: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), WaitError> {
        if position <= 0 {
            return Ok(());
        }
        let target = loop {
            if let Some(target) = log::checkpoint_of(&self.db, position).await? {
                break target;
            }
            // A position past the log's head was never handed out by a commit: answer at once.
            // One below it (committed but not yet visible, or a gap) is waited for, boundedly.
            if position > log::head(&self.db).await? {
                return Err(WaitError::AheadOfLog);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.wait_for_checkpoint(projections, target, deadline)
            .await
    }

    /// Returns once every named projection has applied `target`, or `Timeout` at `deadline`.
    async fn wait_for_checkpoint(
        &self,
        projections: &[&'static str],
        target: Checkpoint,
        deadline: tokio::time::Instant,
    ) -> Result<(), WaitError> {
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

    /// Returns once every consequence of the command that committed `position` has been
    /// applied by `projections` (`?settled=`): the process managers have read it, every task
    /// it led to is done, they have read what those tasks wrote (and so on down the chain),
    /// and the projections have applied all of it. Bounded by the same wait as `wait`.
    ///
    /// A task belongs to the command when it descends from the command's request
    /// (`process_tasks.root_request`: the request id of the event that queued it, which a
    /// task's own events carry on); another command's task, even one that keeps failing, does
    /// not hold the read up.
    #[tracing::instrument(skip(self))]
    pub async fn settle(
        &self,
        projections: &[&'static str],
        position: i64,
    ) -> Result<(), WaitError> {
        if position <= 0 {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.max_wait;
        self.wait_until(PROCESS_MANAGERS, position, deadline)
            .await?;
        let Some(request) = log::request_of(&self.db, position).await? else {
            return self.wait_until(projections, position, deadline).await;
        };
        let mut target = position;
        loop {
            let (pending, reached) = tasks_descending(&self.db, &request).await?;
            if pending > 0 {
                if tokio::time::Instant::now() >= deadline {
                    return Err(WaitError::Timeout);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            let reached = reached.max(target);
            if reached == target {
                break;
            }
            // The tasks wrote events: the process managers read them (they may queue more).
            target = reached;
            self.wait_until(PROCESS_MANAGERS, target, deadline).await?;
        }
        self.wait_until(projections, target, deadline).await
    }
}

/// The process managers whose consequences `settle` waits for: the record binder, the
/// identity transfers (deactivating old accounts, releasing login names) and the messenger
/// (its outbox rows).
pub const PROCESS_MANAGERS: &[&str] = &[
    xuexin_projections::binder::NAME,
    xuexin_projections::transfers::NAME,
    "messenger_v1",
];

/// Of the tasks descending from the command of `request`: how many are still pending, and the
/// newest position their commands committed.
async fn tasks_descending(db: &Db, request: &str) -> anyhow::Result<(i64, i64)> {
    let (pending, reached): (Option<i64>, Option<i64>) = xuexin_projections::on_db!(db, pool => {
        sqlx::query_as(
            "SELECT SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), MAX(result_position)
             FROM process_tasks WHERE root_request = $1",
        )
        .bind(request)
        .fetch_one(pool)
        .await
        .context("failed to read the process tasks")?
    });
    Ok((pending.unwrap_or(0), reached.unwrap_or(0)))
}

/// How many events of the log each projection has yet to apply (its checkpoint to the head),
/// for `/readyz`. A projection that has never run counts the whole log.
#[tracing::instrument(skip_all)]
pub async fn lags(db: &Db) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut lags = Vec::new();
    for projection in xuexin_projections::all() {
        let name = projection.name();
        let (lag,): (i64,) = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM events WHERE position > COALESCE(
                    (SELECT position FROM projection_checkpoints WHERE projection = $1), 0)",
            )
            .bind(name)
            .fetch_one(pool)
            .await
            .context("failed to measure a projection's lag")?
        });
        lags.push((name, lag));
    }
    Ok(lags)
}
