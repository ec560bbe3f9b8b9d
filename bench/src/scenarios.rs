//! The scenarios of docs/benchmarks.md. Each answers JSON; `all` runs them in order and
//! prints the table.

use crate::load::{closed_loop, paced, round2};
use crate::loader::{self, email, phone, resident_id, PASSWORD};
use crate::nats::{self, NatsServer};
use crate::service::{RssSampler, Service};
use crate::support::{count_rows, fresh_postgres, reusable_postgres, xuexin_binary};
use anyhow::Context;
use serde_json::{json, Value};
use sqlx::Connection;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xuexin::security::hashing::{hash_now, verify_now, HashingParams};
use xuexin_domain::values::Secret;

pub struct Options {
    /// Account counts for the growth rows; the largest one up to 1,000,000 also carries the
    /// login, query, append, registration, memory and NATS-latency runs.
    pub sizes: Vec<usize>,
    /// Events in the log the rebuild and relay rows use.
    pub log_events: u64,
    /// Length of each timed run.
    pub seconds: u64,
    /// Keep the datasets a previous run loaded (same sizes) instead of loading them again.
    pub reuse: bool,
    /// Load the datasets and stop.
    pub prepare: bool,
}

impl Options {
    pub fn smoke() -> Self {
        Self {
            sizes: vec![2_000],
            log_events: 20_000,
            seconds: 2,
            reuse: false,
            prepare: false,
        }
    }
}

fn mib(kib: u64) -> f64 {
    round2(kib as f64 / 1024.0)
}

/// argon2id verifications per second at the service's parameters, one thread per core, with
/// nothing else running: the machine's limit for anything that hashes.
pub fn hash_limit(seconds: u64) -> f64 {
    let params = HashingParams::OWASP;
    let secret = Secret::new(PASSWORD);
    let phc = hash_now(params, &secret);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let phc = phc.clone();
            let secret = secret.clone();
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < deadline {
                    if verify_now(params, &phc, &secret).matches {
                        count += 1;
                    }
                }
                count
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

fn pick(client: usize, n: u64, accounts: usize) -> usize {
    // A cheap scatter over the accounts (a multiplicative hash), so clients do not walk in step.
    ((client as u64 * 1_000_003 + n)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        % accounts as u64) as usize
}

async fn login(client: &reqwest::Client, service: &Service, login: &str) -> Option<String> {
    let response = client
        .post(service.url("/api/v1/sessions"))
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["token"].as_str().map(str::to_string)
}

/// 重新发送激活邮件 for `address`, from the client address `from`.
async fn resend(client: &reqwest::Client, url: &str, address: &str, from: &str) -> bool {
    matches!(
        client
            .post(url)
            .header("x-forwarded-for", from)
            .json(&json!({"email": address}))
            .send()
            .await,
        Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED
    )
}

/// The address of the load's `n`th client. The service trusts `X-Forwarded-For` here (the
/// load generator stands in for the proxy in front of it), so that the load comes from many
/// clients, as a real one does, rather than all from 127.0.0.1: one per-client rate-limit row
/// shared by every request would make each request wait for the one before it to commit.
fn client_ip(n: usize) -> String {
    format!("10.{}.{}.{}", 100 + n / 65_536, (n / 256) % 256, n % 256)
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Logins through HTTP at saturation (32 clients, random accounts, right password), with
/// `GET /api/v1/me` and a login-index lookup sampled 25 times a second each meanwhile, and
/// the service's memory sampled throughout.
pub async fn logins(
    service: &Service,
    accounts: usize,
    hash_limit: f64,
    seconds: u64,
) -> anyhow::Result<Value> {
    let client = http_client()?;
    let mut tokens = Vec::new();
    for k in 0..20 {
        let token = login(&client, service, &phone(pick(99, k, accounts)))
            .await
            .context("a loaded account could not log in")?;
        tokens.push(token);
    }
    let sampler = RssSampler::start(service.pid());
    let duration = Duration::from_secs(seconds);
    let run = {
        let client = client.clone();
        let url = service.url("/api/v1/sessions");
        tokio::spawn(closed_loop(32, duration, move |c, n| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let account = pick(c, n, accounts);
                matches!(
                    client
                        .post(&url)
                        .header("x-forwarded-for", client_ip(c))
                        .json(&json!({"login": phone(account), "password": PASSWORD}))
                        .send()
                        .await,
                    Ok(r) if r.status().is_success()
                )
            }
        }))
    };
    // Let the load reach saturation before sampling.
    let warmup = Duration::from_secs((seconds / 6).max(1));
    tokio::time::sleep(warmup).await;
    let window = duration.saturating_sub(warmup + Duration::from_secs(1));
    let me = {
        let client = client.clone();
        let url = service.url("/api/v1/me");
        let tokens = tokens.clone();
        async move {
            paced(Duration::from_millis(40), window, None, |n| {
                let request = client
                    .get(&url)
                    .bearer_auth(&tokens[n as usize % tokens.len()]);
                async move { matches!(request.send().await, Ok(r) if r.status().is_success()) }
            })
            .await
        }
    };
    let lookup = {
        let client = client.clone();
        let url = service.url("/api/v1/email-verifications");
        async move {
            paced(Duration::from_millis(40), window, None, |n| {
                let address = email(2 * pick(98, n, accounts / 2));
                let client = client.clone();
                let url = url.clone();
                async move { resend(&client, &url, &address, &client_ip(1_000)).await }
            })
            .await
        }
    };
    let ((me, me_failed), (lookup, lookup_failed)) = tokio::join!(me, lookup);
    let throughput = run.await?;
    let peak = sampler.finish().await;
    let rate = throughput.per_second();
    Ok(json!({
        "clients": 32,
        "seconds": seconds,
        "logins": throughput.ok,
        "failed": throughput.failed,
        "logins_per_s": round2(rate),
        "hash_limit_per_s": round2(hash_limit),
        "ratio": round2(rate / hash_limit),
        "me_under_load": me.summary(),
        "me_failed": me_failed,
        "lookup_under_load": lookup.summary(),
        "lookup_failed": lookup_failed,
        "peak_rss_mib": mib(peak),
    }))
}

async fn log_head(database_url: &str) -> anyhow::Result<i64> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&mut connection)
        .await?;
    Ok(head.unwrap_or(0))
}

/// A command that hashes nothing (重新发送激活邮件: one `EmailVerificationRequested`) at 16
/// clients, each on its own accounts, against pgbench inserting rows of the same width into a
/// copy of the events table (same columns, defaults and indexes) at the same concurrency.
pub async fn appends(
    service: &Service,
    database_url: &str,
    accounts: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    let client = http_client()?;
    let before = log_head(database_url).await?;
    let started = Instant::now();
    let url = service.url("/api/v1/email-verifications");
    let unverified = accounts / 2;
    let throughput = closed_loop(16, Duration::from_secs(seconds), move |c, n| {
        let client = client.clone();
        let url = url.clone();
        let account = 2 * ((c + 16 * n as usize) % unverified) + 1;
        async move { resend(&client, &url, &email(account), &client_ip(c)).await }
    })
    .await;
    // The request answers once the command is queued (issue 13: equal time for known and
    // unknown names); the event is appended after. What counts is events in the log: wait
    // until every accepted command is there, and divide by the whole time.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut after = log_head(database_url).await?;
    while after - before < throughput.ok as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = log_head(database_url).await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = (after - before) as f64 / elapsed;
    let baseline = pgbench_insert(database_url, 16, seconds).await?;
    Ok(json!({
        "clients": 16,
        "seconds": seconds,
        "commands": throughput.ok,
        "failed": throughput.failed,
        "accepted_per_s": round2(throughput.per_second()),
        "events_written": after - before,
        "seconds_until_written": round2(elapsed),
        "events_per_s": round2(rate),
        "pgbench_inserts_per_s": round2(baseline),
        "ratio": round2(rate / baseline),
    }))
}

async fn pgbench_insert(database_url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let (payload, metadata) = loader::sample_row(&mut connection).await?;
    sqlx::query("DROP TABLE IF EXISTS bench_append")
        .execute(&mut connection)
        .await?;
    sqlx::query("CREATE TABLE bench_append (LIKE events INCLUDING ALL)")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    let quote = |s: &str| s.replace('\'', "''");
    let script = format!(
        "INSERT INTO bench_append (aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata) VALUES ('Account', gen_random_uuid()::text, 4, \
         'EmailVerificationRequested', '1.0', '{}', '{}');\n",
        quote(&payload),
        quote(&metadata)
    );
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("append.sql");
    std::fs::write(&file, script)?;
    let (host_part, database) = database_url
        .rsplit_once('/')
        .context("a database URL ends in /name")?;
    let host = host_part
        .rsplit_once('@')
        .map_or(host_part, |(_, h)| h)
        .trim_start_matches("postgres://");
    let (host, port) = host.split_once(':').unwrap_or((host, "5432"));
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&file)
        .args(["-h", host, "-p", port, "-U", "postgres", database])
        .output()
        .context("pgbench is missing (Debian: postgresql-contrib / postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .context("pgbench printed no tps")?;
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("DROP TABLE bench_append")
        .execute(&mut connection)
        .await?;
    Ok(tps)
}

fn code_in(body: &str) -> Option<String> {
    body.as_bytes()
        .windows(6)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(u8::is_ascii_digit)
                && !body.as_bytes().get(i + 6).is_some_and(u8::is_ascii_digit)
                && (*i == 0 || !body.as_bytes()[i - 1].is_ascii_digit())
        })
        .map(|(_, w)| String::from_utf8_lossy(w).into_owned())
}

/// How many people earlier registration runs registered (or began to) on this database.
async fn earlier_registrations(database_url: &str) -> anyhow::Result<usize> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM account_view_v1 WHERE phone_masked LIKE '137%'")
            .fetch_one(&mut connection)
            .await?;
    Ok(count as usize)
}

/// Registrations/s at 16 clients. The SMS codes are asked for and read from the captured
/// outbox before the clock starts, so the timed part is `POST /api/v1/registrations` alone
/// (one argon2id hash each, plus the saga's claims).
pub async fn registrations(
    service: &Service,
    database_url: &str,
    hash_limit: f64,
    seconds: u64,
) -> anyhow::Result<Value> {
    let client = http_client()?;
    let needed = (hash_limit * seconds as f64 * 1.5) as usize + 50;
    // People numbered after those an earlier run registered on a reused dataset (their phones
    // and ID numbers are taken).
    let first = earlier_registrations(database_url).await?;
    eprintln!("  asking for {needed} registration codes");
    let phone_of = move |k: usize| format!("137{:08}", first + k);
    let codes: Vec<Option<String>> = futures::stream::iter(0..needed)
        .map(|k| {
            let client = client.clone();
            let sms = service.url("/api/v1/sms-codes");
            let outbox = service.url("/api/v1/dev/outbox");
            let phone = phone_of(k);
            async move {
                let sent = client
                    .post(&sms)
                    .json(&json!({"phone": phone, "purpose": "register"}))
                    .send()
                    .await
                    .ok()?;
                if !sent.status().is_success() {
                    return None;
                }
                let messages: Value = client
                    .get(&outbox)
                    .query(&[("to", phone.as_str()), ("limit", "1")])
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                messages[0]["body"].as_str().and_then(code_in)
            }
        })
        .buffered(8)
        .collect()
        .await;
    let codes: Vec<(usize, String)> = codes
        .into_iter()
        .enumerate()
        .filter_map(|(k, c)| c.map(|c| (k, c)))
        .collect();
    anyhow::ensure!(
        codes.len() * 10 >= needed * 9,
        "only {} of {needed} SMS codes",
        codes.len()
    );
    let codes = Arc::new(codes);
    let next = Arc::new(AtomicUsize::new(0));
    let url = service.url("/api/v1/registrations");
    let throughput = {
        let codes = codes.clone();
        closed_loop(16, Duration::from_secs(seconds), move |_, _| {
            let client = client.clone();
            let url = url.clone();
            let codes = codes.clone();
            let index = next.fetch_add(1, Ordering::Relaxed);
            async move {
                let Some((k, code)) = codes.get(index) else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return false;
                };
                let body = json!({
                    "phone": phone_of(*k), "sms_code": code,
                    "password": PASSWORD, "password_confirmation": PASSWORD,
                    "name": "测试员", "document_type": "resident_id_card",
                    "document_number": resident_id("310104", first + *k), "accept_terms": true,
                });
                matches!(client.post(&url).json(&body).send().await,
                         Ok(r) if r.status().is_success())
            }
        })
        .await
    };
    let rate = throughput.per_second();
    Ok(json!({
        "clients": 16,
        "seconds": seconds,
        "registrations": throughput.ok,
        "failed": throughput.failed,
        "registrations_per_s": round2(rate),
        "hash_limit_per_s": round2(hash_limit),
        "ratio": round2(rate / hash_limit),
    }))
}

/// `xuexin projections rebuild login_index_v1` over the whole log against a raw
/// `COPY (SELECT … ORDER BY position) TO STDOUT` of the same rows, read by this process.
pub async fn rebuild(database_url: &str, events: u64) -> anyhow::Result<Value> {
    let started = Instant::now();
    let status = Command::new(xuexin_binary()?)
        .args(["projections", "rebuild", "login_index_v1"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .status()?;
    anyhow::ensure!(status.success(), "the rebuild failed");
    let rebuild_seconds = started.elapsed().as_secs_f64();

    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let started = Instant::now();
    let mut stream = connection
        .copy_out_raw(
            "COPY (SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata FROM events ORDER BY position) TO STDOUT",
        )
        .await?;
    let mut bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len();
    }
    drop(stream);
    let copy_seconds = started.elapsed().as_secs_f64();
    let rebuild_rate = events as f64 / rebuild_seconds;
    let copy_rate = events as f64 / copy_seconds;
    Ok(json!({
        "events": events,
        "rebuild_seconds": round2(rebuild_seconds),
        "rebuild_events_per_s": round2(rebuild_rate),
        "copy_seconds": round2(copy_seconds),
        "copy_mib": mib(bytes as u64 / 1024),
        "copy_events_per_s": round2(copy_rate),
        "ratio": round2(rebuild_rate / copy_rate),
    }))
}

use futures::StreamExt;

/// The relay draining the whole log from its start, against the bare publisher with the
/// relay's mean message size and window.
pub async fn relay(nats: &NatsServer, database_url: &str, events: u64) -> anyhow::Result<Value> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("DELETE FROM relay_checkpoints")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    let (relay_rate, size) = nats::relay_throughput(nats, database_url, events).await?;
    // The relay's own window, so that both wait on acks alike.
    let window = xuexin::relay::RelayConfig::new("", "", false).window;
    let bare_rate = nats::bare_publisher(nats, events, size as usize, window).await?;
    Ok(json!({
        "events": events,
        "mean_message_bytes": size,
        "window": window,
        "relay_events_per_s": round2(relay_rate),
        "bare_publisher_per_s": round2(bare_rate),
        "ratio": round2(relay_rate / bare_rate),
    }))
}

/// Commit-to-consumer latency with commands arriving at `rate` a second (open loop).
pub async fn nats_latency(
    nats: &NatsServer,
    service: &Service,
    accounts: usize,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Value> {
    let consumer = nats::LatencyConsumer::start(nats).await?;
    let client = http_client()?;
    let url = service.url("/api/v1/email-verifications");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::new();
    let unverified = accounts / 2;
    for n in 0..rate * seconds {
        let due = started + interval.mul_f64(n as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let client = client.clone();
        let url = url.clone();
        let account = 2 * (n as usize % unverified) + 1;
        tasks.push(tokio::spawn(async move {
            resend(
                &client,
                &url,
                &email(account),
                &client_ip(n as usize % 1_024),
            )
            .await
        }));
    }
    let mut ok = 0u64;
    for task in tasks {
        if task.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let achieved = ok as f64 / started.elapsed().as_secs_f64();
    let latencies = consumer.finish().await?;
    let mut summary = nats::latency_summary(&latencies, rate as f64);
    summary["commands_ok"] = json!(ok);
    summary["achieved_rate"] = json!(round2(achieved));
    Ok(summary)
}

/// Lookup and append latency with nothing else running: 1,000 of each, one client.
pub async fn growth_point(service: &Service, accounts: usize) -> anyhow::Result<Value> {
    let client = http_client()?;
    let url = service.url("/api/v1/email-verifications");
    let count = 1000.min(accounts as u64 / 2);
    let forever = Duration::from_secs(3600);
    let (lookup, lookup_failed) = paced(Duration::ZERO, forever, Some(count), |n| {
        let address = email(2 * pick(7, n, accounts / 2));
        let client = client.clone();
        let url = url.clone();
        async move { resend(&client, &url, &address, &client_ip(0)).await }
    })
    .await;
    let (append, append_failed) = paced(Duration::ZERO, forever, Some(count), |n| {
        let address = email(2 * pick(8, n, accounts / 2) + 1);
        let client = client.clone();
        let url = url.clone();
        async move { resend(&client, &url, &address, &client_ip(0)).await }
    })
    .await;
    anyhow::ensure!(
        lookup_failed + append_failed == 0,
        "{lookup_failed} lookups and {append_failed} appends failed"
    );
    Ok(json!({
        "accounts": accounts,
        "lookup": lookup.summary(),
        "append": append.summary(),
    }))
}

/// The database of a dataset: with `reuse`, the one an earlier run loaded if it holds enough
/// (its load then not measured: NaN seconds); otherwise a fresh one, loaded now. A dataset is
/// `accounts` accounts, or (`None`) accounts until the log holds `log_events` events.
async fn dataset(
    label: &str,
    accounts: Option<usize>,
    log_events: Option<u64>,
    reuse: bool,
) -> anyhow::Result<(String, loader::Loaded)> {
    let (url, kept) = reusable_postgres(label, reuse).await?;
    if kept {
        let (table, wanted) = match accounts {
            Some(n) => ("account_view_v1", n as u64),
            None => ("events", log_events.unwrap_or(0)),
        };
        if count_rows(&url, table).await >= wanted {
            eprintln!("  reusing {label}, loaded by an earlier run");
            loader::skip_history(&url).await?;
            let loaded = loader::Loaded {
                accounts: accounts.unwrap_or(0),
                events: count_rows(&url, "events").await,
                load_seconds: f64::NAN,
                rebuild_seconds: f64::NAN,
            };
            return Ok((url, loaded));
        }
        fresh_postgres(label).await?;
    }
    let loaded = loader::load(&url, accounts.unwrap_or(usize::MAX), log_events).await?;
    eprintln!(
        "  loaded {} accounts, {} events in {:.1} s, read models rebuilt in {:.1} s",
        loaded.accounts, loaded.events, loaded.load_seconds, loaded.rebuild_seconds
    );
    Ok((url, loaded))
}

/// Loads every dataset `all` measures on (keeping those an earlier run left, with `reuse`),
/// and answers how long each load and read-model build took.
async fn prepare(options: &Options) -> anyhow::Result<Value> {
    let mut loads = Vec::new();
    let mut datasets = vec![("log".to_string(), None, Some(options.log_events))];
    for &accounts in &options.sizes {
        datasets.push((format!("accounts_{accounts}"), Some(accounts), None));
    }
    for (label, accounts, log_events) in datasets {
        eprintln!("== dataset {label}");
        let (_, loaded) = dataset(&label, accounts, log_events, options.reuse).await?;
        if loaded.load_seconds.is_nan() {
            continue;
        }
        loads.push(json!({
            "dataset": label,
            "accounts": loaded.accounts,
            "events": loaded.events,
            "load_seconds": round2(loaded.load_seconds),
            "rebuild_all_seconds": round2(loaded.rebuild_seconds),
        }));
    }
    Ok(json!({ "machine": crate::support::machine(), "prepared": loads }))
}

/// One row on a dataset loaded earlier, with its own hash limit and a nats-server.
pub async fn one_row(row: &str, accounts: usize, seconds: u64, rate: u64) -> anyhow::Result<Value> {
    let (url, kept) = reusable_postgres(&format!("accounts_{accounts}"), true).await?;
    anyhow::ensure!(
        kept && count_rows(&url, "account_view_v1").await >= accounts as u64,
        "no dataset of {accounts} accounts: run `all --prepare --accounts {accounts}` first"
    );
    loader::skip_history(&url).await?;
    let hash = hash_limit(seconds.min(10));
    let nats = NatsServer::start().await?;
    let service = Service::start(&url, Some(&nats.url)).await?;
    let result = match row {
        "logins" => logins(&service, accounts, hash, seconds).await,
        "appends" => appends(&service, &url, accounts, seconds).await,
        "latency" => nats_latency(&nats, &service, accounts, rate, seconds).await,
        _ => registrations(&service, &url, hash, seconds).await,
    };
    service.stop();
    result
}

/// Everything, in an order that loads each dataset once.
pub async fn all(options: &Options) -> anyhow::Result<Value> {
    let mut results = serde_json::Map::new();
    results.insert("machine".into(), crate::support::machine());
    let seconds = options.seconds;

    if options.prepare {
        return prepare(options).await;
    }
    eprintln!("== hash limit");
    let hash = hash_limit(seconds.min(10));
    eprintln!("  {hash:.1} argon2id verifications/s on all cores");
    results.insert("hash_limit_per_s".into(), json!(round2(hash)));

    eprintln!("== equal time for known and unknown names");
    let tries = if options.seconds < 5 { 50 } else { 500 };
    let timing = crate::timing::run(tries).await?;
    results.insert("timing".into(), timing);

    let nats = NatsServer::start().await?;

    eprintln!("== a log of {} events", options.log_events);
    let (url, log) = dataset("log", None, Some(options.log_events), options.reuse).await?;
    let events = log.events;
    eprintln!("== rebuild of the login index vs COPY");
    let rebuilt = rebuild(&url, events).await?;
    eprintln!("  {rebuilt}");
    results.insert("rebuild".into(), rebuilt);
    eprintln!("== relay vs bare publisher");
    let relayed = relay(&nats, &url, events).await?;
    eprintln!("  {relayed}");
    results.insert("relay".into(), relayed);

    let main_size = options
        .sizes
        .iter()
        .copied()
        .filter(|&n| n <= 1_000_000)
        .max()
        .unwrap_or(options.sizes[0]);
    let mut growth = Vec::new();
    for &accounts in &options.sizes {
        eprintln!("== {accounts} accounts");
        let label = format!("accounts_{accounts}");
        let (url, loaded) = dataset(&label, Some(accounts), None, options.reuse).await?;
        let service = Service::start(&url, Some(&nats.url)).await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle = service.rss_kib();
        let point = growth_point(&service, accounts).await?;
        eprintln!("  {point}");
        let mut point = point;
        point["events"] = json!(loaded.events);
        point["load_seconds"] = json!(round2(loaded.load_seconds));
        point["rebuild_all_seconds"] = json!(round2(loaded.rebuild_seconds));
        point["idle_rss_mib"] = json!(mib(idle));
        growth.push(point);
        if accounts == main_size {
            results.insert("accounts_loaded".into(), json!(accounts));
            results.insert("idle_rss_mib".into(), json!(mib(idle)));
            // The limit again, just before the rows that divide by it: this machine's speed
            // drifts over a run (other guests, the load's aftermath).
            let hash = hash_limit(seconds.min(10));
            eprintln!("  {hash:.1} argon2id verifications/s on all cores, before the logins");
            eprintln!("== logins at saturation, queries under load");
            let logins = logins(&service, accounts, hash, seconds * 3).await?;
            eprintln!("  {logins}");
            results.insert("logins".into(), logins);
            eprintln!("== appends vs pgbench");
            let appended = appends(&service, &url, accounts, seconds).await?;
            eprintln!("  {appended}");
            results.insert("appends".into(), appended);
            eprintln!("== NATS latency at 1,000 events/s");
            let latency = nats_latency(&nats, &service, accounts, 1000, seconds).await?;
            eprintln!("  {latency}");
            results.insert("nats_latency".into(), latency);
            // 1,000 commands/s is more than this service appends on two cores: the row above
            // measures queueing too. The same at a rate it keeps up with, for comparison.
            eprintln!("== NATS latency at 250 events/s");
            let latency = nats_latency(&nats, &service, accounts, 250, seconds).await?;
            eprintln!("  {latency}");
            results.insert("nats_latency_250".into(), latency);
            eprintln!("== registrations");
            let hash = hash_limit(seconds.min(10));
            eprintln!(
                "  {hash:.1} argon2id verifications/s on all cores, before the registrations"
            );
            let registered = registrations(&service, &url, hash, seconds * 2).await?;
            eprintln!("  {registered}");
            results.insert("registrations".into(), registered);
            results.insert("peak_rss_mib".into(), json!(mib(service.peak_rss_kib())));
        }
        service.stop();
    }
    eprintln!("== appends on SQLite vs a bare SQLite insert loop");
    results.insert("sqlite".into(), crate::sqlite::run(options.seconds).await?);
    results.insert("growth".into(), Value::Array(growth));
    Ok(Value::Object(results))
}

/// The table printed at the end of `all`.
pub fn table(results: &Value) -> String {
    let f = |v: &Value| match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "—".to_string(),
    };
    let verdict = |ratio: &Value, target: f64, higher: bool| match ratio.as_f64() {
        Some(r) if (higher && r >= target) || (!higher && r < target) => "met",
        Some(_) => "MISSED",
        None => "—",
    };
    let r = results;
    let timing_rows = crate::timing::table(&r["timing"]);
    let mut rows = vec![
        "| # | measure | figure | limit (same run) | ratio | target | |".to_string(),
        "|---|---|---:|---:|---:|---:|---|".to_string(),
    ];
    rows.push(format!(
        "| 1 | logins/s through HTTP, 32 clients | {} | {} argon2id verifies/s | {} | ≥ 0.85 | {} |",
        f(&r["logins"]["logins_per_s"]),
        f(&r["logins"]["hash_limit_per_s"]),
        f(&r["logins"]["ratio"]),
        verdict(&r["logins"]["ratio"], 0.85, true)
    ));
    rows.push(format!(
        "| 2 | `GET /api/v1/me` under login load, p50 / p99 ms | {} / {} | | | p99 < 20 | {} |",
        f(&r["logins"]["me_under_load"]["p50_ms"]),
        f(&r["logins"]["me_under_load"]["p99_ms"]),
        verdict(&r["logins"]["me_under_load"]["p99_ms"], 20.0, false)
    ));
    rows.push(format!(
        "| 2 | login-index lookup under login load, p50 / p99 ms | {} / {} | | | p99 < 20 | {} |",
        f(&r["logins"]["lookup_under_load"]["p50_ms"]),
        f(&r["logins"]["lookup_under_load"]["p99_ms"]),
        verdict(&r["logins"]["lookup_under_load"]["p99_ms"], 20.0, false)
    ));
    rows.push(format!(
        "| 3 | appends/s, 16 clients | {} | {} pgbench inserts/s | {} | ≥ 0.5 | {} |",
        f(&r["appends"]["events_per_s"]),
        f(&r["appends"]["pgbench_inserts_per_s"]),
        f(&r["appends"]["ratio"]),
        verdict(&r["appends"]["ratio"], 0.5, true)
    ));
    rows.push(format!(
        "| 3b | appends/s on SQLite (embedded default), 16 tasks | {} | {} bare SQLite inserts/s (WAL) | {} | — | |",
        f(&r["sqlite"]["appends_per_s"]),
        f(&r["sqlite"]["bare_inserts_per_s"]),
        f(&r["sqlite"]["ratio"]),
    ));
    rows.push(format!(
        "| 4 | registrations/s, 16 clients | {} | {} argon2id verifies/s | {} | ≥ 0.7 | {} |",
        f(&r["registrations"]["registrations_per_s"]),
        f(&r["registrations"]["hash_limit_per_s"]),
        f(&r["registrations"]["ratio"]),
        verdict(&r["registrations"]["ratio"], 0.7, true)
    ));
    rows.push(format!(
        "| 5 | login-index rebuild, events/s ({} events) | {} | {} COPY rows/s | {} | ≥ 0.35 | {} |",
        f(&r["rebuild"]["events"]),
        f(&r["rebuild"]["rebuild_events_per_s"]),
        f(&r["rebuild"]["copy_events_per_s"]),
        f(&r["rebuild"]["ratio"]),
        verdict(&r["rebuild"]["ratio"], 0.35, true)
    ));
    rows.push(format!(
        "| 6 | commit-to-consumer latency at 1,000 events/s, p50 / p99 ms | {} / {} | | | p99 < 100 | {} |",
        f(&r["nats_latency"]["p50_ms"]),
        f(&r["nats_latency"]["p99_ms"]),
        verdict(&r["nats_latency"]["p99_ms"], 100.0, false)
    ));
    rows.push(format!(
        "| 6 | the same at 250 events/s, p50 / p99 ms | {} / {} | | | | |",
        f(&r["nats_latency_250"]["p50_ms"]),
        f(&r["nats_latency_250"]["p99_ms"]),
    ));
    rows.push(format!(
        "| 6 | relay events/s | {} | {} bare publishes/s | {} | ≥ 0.5 | {} |",
        f(&r["relay"]["relay_events_per_s"]),
        f(&r["relay"]["bare_publisher_per_s"]),
        f(&r["relay"]["ratio"]),
        verdict(&r["relay"]["ratio"], 0.5, true)
    ));
    rows.push(format!(
        "| 7 | RSS idle with {} accounts / peak during logins, MiB | {} / {} | | | | |",
        f(&r["accounts_loaded"]),
        f(&r["idle_rss_mib"]),
        f(&r["logins"]["peak_rss_mib"]),
    ));
    if let Some(points) = r["growth"].as_array() {
        for point in points {
            rows.push(format!(
                "| 8 | {} accounts ({} events): lookup p50 / p99, append p50 / p99, ms | {} / {}, {} / {} | | | | |",
                f(&point["accounts"]),
                f(&point["events"]),
                f(&point["lookup"]["p50_ms"]),
                f(&point["lookup"]["p99_ms"]),
                f(&point["append"]["p50_ms"]),
                f(&point["append"]["p99_ms"]),
            ));
        }
    }
    format!(
        "{}\n\nEqual time for known and unknown names:\n\n{timing_rows}",
        rows.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Latencies;

    #[test]
    fn finds_the_six_digit_code_and_not_longer_numbers() {
        assert_eq!(
            code_in("【学信网】您的校验码为123456，10分钟内有效。").as_deref(),
            Some("123456")
        );
        assert_eq!(
            code_in("编号 2026112300 校验码 654321").as_deref(),
            Some("654321")
        );
        assert_eq!(code_in("no code"), None);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let latencies = Latencies((1..=100).map(Duration::from_millis).collect());
        assert_eq!(latencies.percentile_ms(50.0), 50.0);
        assert_eq!(latencies.percentile_ms(99.0), 99.0);
        assert_eq!(latencies.percentile_ms(100.0), 100.0);
    }
}
