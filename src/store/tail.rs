//! The newest stretch of the log, read once per node for every projector.
//!
//! Each local commit wakes every projector, and each used to read the log after its own
//! checkpoint: nine reads of the same few events. `LogTail` keeps the events it last read, in
//! global order, and a projector whose position falls inside them takes its batch from memory.
//! Only one read of the database happens at a time, and a caller woken by a local commit is
//! served by any read that began after that commit: the writer's committed head, loaded before
//! each read, says which commits a read could see.
//!
//! What it holds is exact: every event between `start` and `end` in the global order, because
//! the log is read only below the oldest running transaction (see `log`), so nothing can later
//! appear inside a stretch already read. A projector behind `start` (catching up, rebuilt)
//! reads the database itself and leaves the tail alone.

use super::log::{self, Selection};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;
use xuexin_projections::{Checkpoint, Db, StoredEvent};

/// How many events the tail keeps: four of the projectors' batches (500), so projectors a
/// little behind the front are still served from memory.
pub const KEEP: usize = 2_000;

struct Window {
    /// Just before the first event held.
    start: Checkpoint,
    /// The last event read (or `start` when none is held).
    end: Checkpoint,
    events: VecDeque<StoredEvent>,
    /// The writer's committed head when the last read that reached the end of the log began:
    /// every local commit up to it is held (or was held back by an older transaction on
    /// PostgreSQL, which the caller's retry by the clock reads again).
    read_to_end_covers: Option<i64>,
}

impl Window {
    fn empty_at(at: Checkpoint) -> Self {
        Self {
            start: at,
            end: at,
            events: VecDeque::new(),
            read_to_end_covers: None,
        }
    }

    /// Where the events after `from` begin.
    fn index_after(&self, from: Checkpoint) -> usize {
        self.events.partition_point(|e| e.checkpoint() <= from)
    }

    /// Up to `limit` events after `from`, decoded as `selection` asks.
    fn after(&self, from: Checkpoint, limit: usize, selection: &Selection) -> Vec<StoredEvent> {
        self.events
            .range(self.index_after(from)..)
            .take(limit)
            .map(|e| selection.project(e))
            .collect()
    }

    fn push(&mut self, events: Vec<StoredEvent>, keep: usize) {
        if let Some(last) = events.last() {
            self.end = last.checkpoint();
        }
        self.events.extend(events);
        while self.events.len() > keep {
            if let Some(dropped) = self.events.pop_front() {
                self.start = dropped.checkpoint();
            }
        }
    }
}

/// How soon a reader held back by an open transaction looks again.
pub const HELD_BACK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Whether this node has committed events past `position` (its writer's `committed_head`)
/// that a reader's last read could not see yet: on PostgreSQL, an older transaction was still
/// open. SQLite has one writer: never.
pub fn held_back(db: &Db, committed_head: i64, position: i64) -> bool {
    matches!(db, Db::Postgres(_)) && committed_head > position
}

pub struct LogTail {
    db: Db,
    /// The highest position this node's writer has committed.
    committed: Arc<AtomicI64>,
    window: Mutex<Option<Window>>,
    keep: usize,
    /// Reads of the database: (for the window, by callers behind it).
    reads: (AtomicU64, AtomicU64),
}

impl LogTail {
    /// A tail of `db`, whose local commits `committed` (the writer's committed head) tells.
    pub fn new(db: Db, committed: Arc<AtomicI64>) -> Self {
        Self::keeping(db, committed, KEEP)
    }

    /// A tail holding at most `keep` events.
    pub fn keeping(db: Db, committed: Arc<AtomicI64>, keep: usize) -> Self {
        Self {
            db,
            committed,
            window: Mutex::new(None),
            keep: keep.max(1),
            reads: (AtomicU64::new(0), AtomicU64::new(0)),
        }
    }

    /// How many times it has read the database: for the events it holds, and for callers
    /// behind them.
    pub fn reads(&self) -> (u64, u64) {
        (
            self.reads.0.load(Ordering::Relaxed),
            self.reads.1.load(Ordering::Relaxed),
        )
    }

    fn count(&self, shared: bool) {
        let (counter, reader) = if shared {
            (&self.reads.0, "shared")
        } else {
            (&self.reads.1, "behind")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("xuexin_projector_log_reads_total", "reader" => reader).increment(1);
    }

    /// The writer's committed head now: what a caller woken by a local commit passes to
    /// `read` (loaded after it started listening for the next commit).
    pub fn committed_head(&self) -> i64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Up to `limit` events after `from`, in global order, decoded as `selection` asks: what
    /// `log::read_selected` returns. `seen`: the committed head the caller must see, from
    /// `committed_head` (woken by a local commit); `None` reads the database whatever is held
    /// (woken by the clock: another node's commit, or an event held back on PostgreSQL).
    #[tracing::instrument(skip(self, selection))]
    pub async fn read(
        &self,
        from: Checkpoint,
        limit: i64,
        seen: Option<i64>,
        selection: &Selection,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let wanted = usize::try_from(limit).unwrap_or(0);
        let mut guard = self.window.lock().await;
        let window = match guard.as_mut() {
            // Behind what is held: read alone, and leave the front where it is.
            Some(window) if from < window.start => {
                drop(guard);
                self.count(false);
                return log::read_selected(&self.db, from, limit, selection).await;
            }
            // Ahead of it (the first read, or the front was lagging): start again here.
            Some(window) if from > window.end => {
                *window = Window::empty_at(from);
                window
            }
            Some(window) => window,
            None => guard.insert(Window::empty_at(from)),
        };
        let held = window.events.len() - window.index_after(from);
        let fresh = seen.is_some_and(|seen| window.read_to_end_covers >= Some(seen));
        if held < wanted && !fresh {
            let covers = self.committed_head();
            self.count(true);
            let events = log::read_after(&self.db, window.end, limit).await?;
            if events.len() < wanted {
                window.read_to_end_covers = Some(covers);
            }
            // Taken before trimming, so that a caller at the back still gets its batch.
            let mut batch = window.after(from, wanted, selection);
            let room = wanted.saturating_sub(batch.len());
            batch.extend(events.iter().take(room).map(|e| selection.project(e)));
            window.push(events, self.keep);
            return Ok(batch);
        }
        Ok(window.after(from, wanted, selection))
    }
}
