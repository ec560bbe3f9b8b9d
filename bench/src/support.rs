//! Shared pieces: the binary under test, fresh databases, peak memory of a child process.

use anyhow::Context;
use serde_json::Value;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The release `xuexin` binary next to this one.
pub fn xuexin_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("xuexin");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release` first (scripts/bench does)",
        path.display()
    );
    Ok(path)
}

pub fn postgres_admin_url() -> String {
    std::env::var("XUEXIN_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh PostgreSQL database; returns its URL.
pub async fn fresh_postgres(label: &str) -> anyhow::Result<String> {
    let admin = postgres_admin_url();
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .with_context(|| format!("PostgreSQL at {admin} is unreachable"))?;
    let name = format!("xuexin_bench_{label}");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut connection)
        .await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut connection)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    Ok(format!("{base}/{name}"))
}

/// With `reuse`, the database a previous run loaded under this label, if it exists;
/// otherwise a fresh one. Answers the URL and whether it was kept.
pub async fn reusable_postgres(label: &str, reuse: bool) -> anyhow::Result<(String, bool)> {
    if reuse {
        let admin = postgres_admin_url();
        let mut connection = sqlx::PgConnection::connect(&admin).await?;
        let name = format!("xuexin_bench_{label}");
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut connection)
                .await?;
        if exists.is_some() {
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_string();
            return Ok((format!("{base}/{name}"), true));
        }
    }
    Ok((fresh_postgres(label).await?, false))
}

/// Rows in a table (0 when it does not exist).
pub async fn count_rows(database_url: &str, table: &str) -> u64 {
    let Ok(mut connection) = sqlx::PgConnection::connect(database_url).await else {
        return 0;
    };
    sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut connection)
        .await
        .map_or(0, |n| n.max(0) as u64)
}

pub struct Measured {
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
    pub stdout: String,
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Runs a command to completion, sampling its peak resident set (VmHWM) every 10 ms.
pub fn run_measured(mut command: Command) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("failed to start the command")?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Measured {
        elapsed,
        peak_rss_kib: peak,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

pub fn write_results(path: &Path, results: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(results)?)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

/// The machine the numbers were measured on.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_string))
        .unwrap_or_default();
    serde_json::json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "memory": memory,
    })
}
