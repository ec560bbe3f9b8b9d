//! Rebuilding read models from the log, and checking that the live ones equal a rebuild.
//!
//! `verify` folds the log into a scratch copy of the schema (PostgreSQL: a scratch schema on
//! the same database; SQLite: a scratch file), each projection up to the point its live copy
//! has reached, then compares every table row by row. Process managers (which send mail or
//! queue tasks) are neither rebuilt nor verified.

use crate::store::log::{read_after, read_selected, Selection};
use anyhow::Context;
use std::sync::Arc;
use xuexin_projections::{checkpoint, Checkpoint, Db, Projection, StoredEvent, Tx};

/// The projections a rebuild may run from the first event.
pub fn rebuildable() -> Vec<Arc<dyn Projection>> {
    xuexin_projections::all()
        .into_iter()
        .filter(|p| p.rebuildable())
        .collect()
}

pub fn by_name(name: &str) -> anyhow::Result<Arc<dyn Projection>> {
    let all = rebuildable();
    let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
    let joined = names.join(", ");
    all.into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| anyhow::anyhow!("no rebuildable projection {name} (there are: {joined})"))
}

/// Events read per batch of a rebuild (a live projector reads `projector::BATCH`).
pub const REBUILD_BATCH: i64 = 5000;

/// Empties the projections' tables and folds the whole log into them again, in one pass: each
/// batch is read once and applied by every projection, with every checkpoint, in one
/// transaction. Safe while the service runs: its projectors are fenced by the checkpoints; if
/// one moves a checkpoint first, this pass reloads and gives each projection only the events
/// it has not applied.
#[tracing::instrument(skip_all, fields(projections = projections.len()))]
pub async fn rebuild(
    db: &Db,
    projections: &[Arc<dyn Projection>],
    mut progress: impl FnMut(u64),
) -> anyhow::Result<u64> {
    // Outside the reset's transaction: on SQLite it holds the one write lock.
    for projection in projections {
        checkpoint::ensure(db, projection.name()).await?;
    }
    let mut tx = db.begin().await.context("failed to begin the reset")?;
    for projection in projections {
        let name = projection.name();
        for table in projection.tables() {
            empty_table(db, &mut tx, table).await?;
        }
        // Back to the start (the row stays: advancing is conditional on it, which also fences
        // a running service's projector).
        checkpoint::reset(&mut tx, name)
            .await
            .context("failed to reset the checkpoint")?;
    }
    tx.commit().await.context("failed to commit the reset")?;

    let selection = Selection::of(projections);
    let mut applied = 0u64;
    // The batch read while the previous one was being written, and where it starts.
    let mut prefetched: Option<(Checkpoint, Vec<StoredEvent>)> = None;
    loop {
        let mut reached = Vec::with_capacity(projections.len());
        for projection in projections {
            reached.push(checkpoint::load(db, projection.name()).await?);
        }
        let Some(from) = reached.iter().copied().min() else {
            return Ok(applied);
        };
        let events = match prefetched.take() {
            Some((start, events)) if start == from => events,
            _ => read_selected(db, from, REBUILD_BATCH, &selection).await?,
        };
        let Some(last) = events.last().map(|e| e.checkpoint()) else {
            return Ok(applied);
        };
        let write = async {
            let mut tx = db
                .begin()
                .await
                .context("failed to begin a rebuild batch")?;
            for (projection, at) in projections.iter().zip(&reached) {
                let start = events.partition_point(|e| e.checkpoint() <= *at);
                let Some(first) = events.get(start) else {
                    continue;
                };
                projection
                    .apply_batch(&mut tx, &events[start..])
                    .await
                    .with_context(|| {
                        format!(
                            "{} failed in the batch of positions {} to {}",
                            projection.name(),
                            first.position,
                            last.position
                        )
                    })?;
                if !checkpoint::advance(&mut tx, projection.name(), *at, last).await? {
                    tx.rollback().await.ok();
                    return anyhow::Ok(false);
                }
            }
            tx.commit()
                .await
                .context("failed to commit a rebuild batch")?;
            anyhow::Ok(true)
        };
        // The next batch is read (and decoded, on another worker) while this one is written.
        let next = (events.len() as i64 >= REBUILD_BATCH).then(|| {
            let db = db.clone();
            let selection = selection.clone();
            tokio::spawn(async move { read_selected(&db, last, REBUILD_BATCH, &selection).await })
        });
        let written = write.await;
        let next = match next {
            Some(task) => task.await.context("the read-ahead task failed")??,
            None => Vec::new(),
        };
        if !written? {
            tracing::debug!("a running projector advanced first; reloading");
            continue;
        }
        applied += events.len() as u64;
        progress(applied);
        if !next.is_empty() {
            prefetched = Some((last, next));
        }
    }
}

/// Empties a read model's table. PostgreSQL: `TRUNCATE` where the role may (instant, and it
/// leaves no dead rows for the fold's inserts to wade through), `DELETE` otherwise (a runtime
/// role granted before TRUNCATE was). SQLite: `DELETE` (which it truncates itself).
async fn empty_table(db: &Db, tx: &mut Tx, table: &str) -> anyhow::Result<()> {
    let truncate = match db {
        Db::Postgres(pool) => sqlx::query_scalar::<_, bool>(
            "SELECT has_table_privilege(current_user, $1::regclass, 'TRUNCATE')",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .with_context(|| format!("failed to check the privileges on {table}"))?,
        Db::Sqlite(_) => false,
    };
    let sql = if truncate {
        format!("TRUNCATE {table}")
    } else {
        format!("DELETE FROM {table}")
    };
    xuexin_projections::tx_execute!(tx, &sql)
        .with_context(|| format!("failed to empty {table}"))?;
    Ok(())
}

/// A table whose live rows differ from a rebuild's.
#[derive(Debug, serde::Serialize)]
pub struct Difference {
    pub projection: String,
    pub table: String,
    /// Rows (as JSON) only in the live table, and only in the rebuild; a few of each.
    pub only_live: Vec<String>,
    pub only_rebuilt: Vec<String>,
    pub live_rows: usize,
    pub rebuilt_rows: usize,
}

/// Every row of a table as JSON text, sorted (column order is the schema's in both copies).
async fn rows_of(db: &Db, table: &str) -> anyhow::Result<Vec<String>> {
    let mut rows: Vec<String> = match db {
        Db::Postgres(pool) => {
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                    .fetch_all(pool)
                    .await
                    .with_context(|| format!("failed to read {table}"))?;
            rows.into_iter().map(|(r,)| r).collect()
        }
        Db::Sqlite(pool) => {
            let columns: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(pool)
                    .await?;
            let pairs: Vec<String> = columns
                .iter()
                .map(|(c,)| format!("'{c}', \"{c}\""))
                .collect();
            let rows: Vec<(String,)> = sqlx::query_as(&format!(
                "SELECT json_object({}) FROM {table}",
                pairs.join(", ")
            ))
            .fetch_all(pool)
            .await
            .with_context(|| format!("failed to read {table}"))?;
            rows.into_iter().map(|(r,)| r).collect()
        }
    };
    rows.sort();
    Ok(rows)
}

/// A fresh, migrated copy of the schema beside the live one; dropped by `close`.
struct Scratch {
    db: Db,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    async fn open(live: &Db, database_url: &str) -> anyhow::Result<Self> {
        match live {
            Db::Postgres(pool) => {
                let schema = format!("xuexin_verify_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(pool)
                    .await
                    .context("failed to create a scratch schema")?;
                let set_path = format!("SET search_path TO {schema}");
                let scratch = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .after_connect(move |conn, _| {
                        let set_path = set_path.clone();
                        Box::pin(
                            async move { sqlx::query(&set_path).execute(conn).await.map(|_| ()) },
                        )
                    })
                    .connect(database_url)
                    .await
                    .context("failed to connect for the scratch schema")?;
                let db = Db::Postgres(scratch);
                crate::store::migrate(&db).await?;
                Ok(Self {
                    db,
                    schema: Some(schema),
                    _dir: None,
                })
            }
            Db::Sqlite(_) => {
                let dir = tempfile::tempdir().context("failed to make a scratch directory")?;
                let url = format!("sqlite://{}", dir.path().join("verify.db").display());
                let db = crate::store::connect(&url, 2).await?;
                crate::store::migrate(&db).await?;
                Ok(Self {
                    db,
                    schema: None,
                    _dir: Some(dir),
                })
            }
        }
    }

    async fn close(self, live: &Db) -> anyhow::Result<()> {
        self.db.close().await;
        if let (Some(schema), Db::Postgres(pool)) = (&self.schema, live) {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(pool)
                .await
                .context("failed to drop the scratch schema")?;
        }
        Ok(())
    }
}

/// Folds the log into a scratch schema (each projection up to where its live copy stands) and
/// compares every table. Returns the differences (none: the live read models are true).
#[tracing::instrument(skip_all)]
pub async fn verify(
    live: &Db,
    database_url: &str,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Vec<Difference>> {
    let projections = rebuildable();
    let mut reached: Vec<Checkpoint> = Vec::with_capacity(projections.len());
    for projection in &projections {
        reached.push(checkpoint::load(live, projection.name()).await?);
    }
    let until = reached.iter().copied().max().unwrap_or_default();
    let scratch = Scratch::open(live, database_url).await?;
    let outcome = async {
        let mut at = Checkpoint::default();
        let mut folded = 0u64;
        loop {
            let events = read_after(live, at, 1000).await?;
            let events: Vec<_> = events
                .into_iter()
                .take_while(|e| e.checkpoint() <= until)
                .collect();
            let Some(last) = events.last().map(|e| e.checkpoint()) else {
                break;
            };
            let mut tx = scratch.db.begin().await?;
            for event in &events {
                for (projection, reached) in projections.iter().zip(&reached) {
                    if event.checkpoint() <= *reached {
                        projection.apply(&mut tx, event).await.with_context(|| {
                            format!("{} failed at {}", projection.name(), event.position)
                        })?;
                    }
                }
            }
            tx.commit().await?;
            folded += events.len() as u64;
            progress(folded);
            at = last;
        }
        let mut differences = Vec::new();
        for projection in &projections {
            for table in projection.tables() {
                let live_rows = rows_of(live, table).await?;
                let rebuilt = rows_of(&scratch.db, table).await?;
                if live_rows != rebuilt {
                    let only = |a: &[String], b: &[String]| -> Vec<String> {
                        a.iter()
                            .filter(|r| b.binary_search(r).is_err())
                            .take(5)
                            .cloned()
                            .collect()
                    };
                    differences.push(Difference {
                        projection: projection.name().to_string(),
                        table: table.to_string(),
                        only_live: only(&live_rows, &rebuilt),
                        only_rebuilt: only(&rebuilt, &live_rows),
                        live_rows: live_rows.len(),
                        rebuilt_rows: rebuilt.len(),
                    });
                }
            }
        }
        anyhow::Ok(differences)
    }
    .await;
    scratch.close(live).await?;
    outcome
}
