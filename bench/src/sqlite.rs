//! The embedded default (issue 18): appends through the event store on a SQLite file ÷ a bare
//! SQLite insert loop in WAL mode on the same file system.
//!
//! Both run in this process on files under `target/bench/`. The store side is 16 tasks, each
//! running `LoginName` claims on new names (one event each: a load, the hash chain, the append
//! through the group commit). The bare side is one connection inserting rows of the same width
//! into a table with the events table's columns and key, one row per transaction.

use anyhow::Context;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::ConnectOptions;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xuexin::store::{CommandMetadata, EventStore};
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand};
use xuexin_domain::AccountId;

const CLIENTS: usize = 16;

pub async fn run(seconds: u64) -> anyhow::Result<Value> {
    let dir = std::path::Path::new("target/bench");
    std::fs::create_dir_all(dir)?;
    let scratch = tempfile::tempdir_in(dir)?;
    let store_file = scratch.path().join("store.db");
    let bare_file = scratch.path().join("bare.db");
    let appends = store_appends(&store_file, seconds).await?;
    eprintln!("  event store on SQLite: {appends:.1} appends/s");
    let bare = bare_inserts(&bare_file, seconds).await?;
    eprintln!("  bare SQLite insert loop (WAL): {bare:.1} inserts/s");
    Ok(json!({
        "clients": CLIENTS,
        "seconds": seconds,
        "appends_per_s": round2(appends),
        "bare_inserts_per_s": round2(bare),
        "ratio": round2(appends / bare),
    }))
}

async fn store_appends(file: &std::path::Path, seconds: u64) -> anyhow::Result<f64> {
    let url = format!("sqlite://{}", file.display());
    let db = xuexin::store::connect(&url, 16).await?;
    xuexin::store::migrate(&db).await?;
    let store = Arc::new(EventStore::new(
        db,
        Arc::new(xuexin::clock::SystemClock),
        100,
    ));
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let metadata = CommandMetadata::system("bench");
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let value = format!("bench{c}-{n}@example.com");
                    let id = login_name_id(LoginNameKind::Email, &value).to_string();
                    let command = LoginNameCommand::Claim {
                        account_id: AccountId::new_random(),
                        kind: LoginNameKind::Email,
                        value,
                    };
                    store
                        .execute::<LoginName>(&id, command, &(), &metadata)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn bare_inserts(file: &std::path::Path, seconds: u64) -> anyhow::Result<f64> {
    let mut connection = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .context("failed to open the bare SQLite file")?;
    sqlx::query(
        "CREATE TABLE bench_append (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, sequence INTEGER NOT NULL,
            event_type TEXT NOT NULL, event_version TEXT NOT NULL,
            payload TEXT NOT NULL, metadata TEXT NOT NULL,
            UNIQUE (aggregate_type, aggregate_id, sequence))",
    )
    .execute(&mut connection)
    .await?;
    let payload = json!({"LoginNameClaimed": {"account_id": AccountId::new_random().to_string(),
        "kind": "Email", "value": "bench0-0@example.com"}})
    .to_string();
    let metadata = json!({"actor": "system:bench", "request_id": uuid::Uuid::new_v4().to_string(),
        "time": "2026-12-07T00:00:00+00:00", "prev_hash": "0".repeat(64), "hash": "0".repeat(64)})
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        sqlx::query(
            "INSERT INTO bench_append
                (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('LoginName', ?, 1, 'LoginNameClaimed', '1.0', ?, ?)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&payload)
        .bind(&metadata)
        .execute(&mut connection)
        .await?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
