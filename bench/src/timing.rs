//! Equal time for known and unknown names (issue 13, item 4): the medians of interleaved
//! tries of a wrong password for a registered phone and for an unknown one, and of an
//! activation-mail resend for a registered, unverified address and for an unknown one, on
//! PostgreSQL and SQLite. Target: the medians of each pair differ by less than 1 ms.

use crate::loader::PASSWORD;
use crate::service::Service;
use crate::support::fresh_postgres;
use anyhow::Context;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Every limit that would refuse a try raised far away: only the work is measured.
const SETTINGS: &[(&str, &str)] = &[
    ("XUEXIN_LOCKOUT_THRESHOLD", "1000000000"),
    ("XUEXIN_LOGIN_FAILURES_PER_IP_HOURLY", "1000000000"),
    ("XUEXIN_LOGIN_FAILURES_PER_IP_ACCOUNT_HOURLY", "999999999"),
];

/// The pause before each try.
const GAP: Duration = Duration::from_millis(25);

const KNOWN_PHONE: &str = "13912345678";
const KNOWN_EMAIL: &str = "timing@example.com";
/// Like with like: the same unknown name each time, as the known one is the same each time
/// (each then meets its own counter rows already there).
const UNKNOWN_PHONE: &str = "13787654321";
const UNKNOWN_EMAIL: &str = "nobody-timing@example.com";

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    let middle = samples.len() / 2;
    let median = if samples.len() % 2 == 0 {
        (samples[middle - 1] + samples[middle]) / 2
    } else {
        samples[middle]
    };
    (median.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

async fn register(client: &reqwest::Client, service: &Service) -> anyhow::Result<()> {
    register_as(client, service, KNOWN_PHONE, KNOWN_EMAIL, 424_242).await
}

/// Registers `phone` (with `email` and the resident ID of sequence `seq`) through the API, the
/// SMS code read from the dev outbox; the password is the loader's.
pub(crate) async fn register_as(
    client: &reqwest::Client,
    service: &Service,
    phone: &str,
    email: &str,
    seq: usize,
) -> anyhow::Result<()> {
    client
        .post(service.url("/api/v1/sms-codes"))
        .json(&json!({"phone": phone, "purpose": "register"}))
        .send()
        .await?
        .error_for_status()?;
    let messages: Value = client
        .get(service.url("/api/v1/dev/outbox"))
        .query(&[("to", format!("+86{phone}").as_str()), ("limit", "1")])
        .send()
        .await?
        .json()
        .await?;
    let body = messages[0]["body"].as_str().context("no SMS code")?;
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 6)
        .context("no six digits in the SMS")?
        .to_string();
    let registered = client
        .post(service.url("/api/v1/registrations"))
        .json(&json!({
            "phone": phone, "sms_code": code,
            "password": PASSWORD, "password_confirmation": PASSWORD,
            "name": "计时员", "document_type": "resident_id_card",
            "document_number": crate::loader::resident_id("310104", seq),
            "email": email, "accept_terms": true,
        }))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "registration failed: {}",
        registered.text().await.unwrap_or_default()
    );
    Ok(())
}

/// Interleaved pairs (known first, then unknown, alternating which goes first) of `request`.
async fn pairs<F, Fut>(tries: usize, request: F) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)>
where
    F: Fn(bool, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (mut known, mut unknown) = (Vec::with_capacity(tries), Vec::with_capacity(tries));
    for i in 0..tries {
        for known_first in [i % 2 == 0, i % 2 != 0] {
            // Each try after the last one's queued work (a `LoginFailed`, a mail's event and
            // the projectors after it) had time to run: back to back, that work lands on the
            // next try, which is a different measure (docs/benchmarks.md).
            tokio::time::sleep(GAP).await;
            let start = Instant::now();
            request(known_first, i).await?;
            let took = start.elapsed();
            if known_first {
                known.push(took);
            } else {
                unknown.push(took);
            }
        }
        if i % 100 == 99 {
            eprintln!("  {} of {tries} pairs", i + 1);
        }
    }
    Ok((known, unknown))
}

async fn on(database_url: &str, backend: &str, tries: usize) -> anyhow::Result<Value> {
    let service = Service::start_with(database_url, None, SETTINGS).await?;
    let client = reqwest::Client::new();
    register(&client, &service).await?;
    // Warm up both paths (connections, caches).
    let login = |known: bool, _: usize| {
        let client = client.clone();
        let url = service.url("/api/v1/sessions");
        async move {
            let name = if known {
                KNOWN_PHONE.to_string()
            } else {
                UNKNOWN_PHONE.to_string()
            };
            let answer = client
                .post(url)
                .json(&json!({"login": name, "password": "Wrong-Passw0rd!"}))
                .send()
                .await?;
            anyhow::ensure!(
                answer.status() == reqwest::StatusCode::UNAUTHORIZED,
                "a wrong password answered {}",
                answer.status()
            );
            Ok(())
        }
    };
    let resend = |known: bool, _: usize| {
        let client = client.clone();
        let url = service.url("/api/v1/email-verifications");
        async move {
            let address = if known {
                KNOWN_EMAIL.to_string()
            } else {
                UNKNOWN_EMAIL.to_string()
            };
            let answer = client
                .post(url)
                .json(&json!({"email": address}))
                .send()
                .await?;
            anyhow::ensure!(
                answer.status() == reqwest::StatusCode::ACCEPTED,
                "a resend answered {}",
                answer.status()
            );
            Ok(())
        }
    };
    pairs(20, login).await?;
    eprintln!("== {backend}: {tries} interleaved wrong-password logins, known and unknown");
    let (known, unknown) = pairs(tries, login).await?;
    let (login_known, login_unknown) = (median_ms(known), median_ms(unknown));
    pairs(20, resend).await?;
    eprintln!("== {backend}: {tries} interleaved activation resends, registered and unknown");
    let (known, unknown) = pairs(tries, resend).await?;
    let (resend_known, resend_unknown) = (median_ms(known), median_ms(unknown));
    service.stop();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "tries": tries,
        "login_known_ms": login_known,
        "login_unknown_ms": login_unknown,
        "login_difference_ms": round((login_known - login_unknown).abs()),
        "resend_known_ms": resend_known,
        "resend_unknown_ms": resend_unknown,
        "resend_difference_ms": round((resend_known - resend_unknown).abs()),
    }))
}

pub async fn run(tries: usize) -> anyhow::Result<Value> {
    let postgres = fresh_postgres("timing").await?;
    let pg = on(&postgres, "PostgreSQL", tries).await?;
    eprintln!("  {pg}");
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("timing.db").display());
    let lite = on(&sqlite, "SQLite", tries).await?;
    eprintln!("  {lite}");
    Ok(json!({"postgres": pg, "sqlite": lite}))
}

/// The rows of docs/benchmarks.md for the timing results.
pub fn table(results: &Value) -> String {
    let mut rows = vec![
        "| backend | pair | known median ms | unknown median ms | difference ms | target | |"
            .to_string(),
        "|---|---|---:|---:|---:|---:|---|".to_string(),
    ];
    for (backend, key) in [("PostgreSQL", "postgres"), ("SQLite", "sqlite")] {
        for (pair, prefix) in [("wrong password", "login"), ("activation resend", "resend")] {
            let r = &results[key];
            let difference = r[format!("{prefix}_difference_ms")].as_f64();
            rows.push(format!(
                "| {backend} | {pair} | {} | {} | {} | < 1 | {} |",
                r[format!("{prefix}_known_ms")],
                r[format!("{prefix}_unknown_ms")],
                r[format!("{prefix}_difference_ms")],
                match difference {
                    Some(d) if d < 1.0 => "met",
                    Some(_) => "MISSED",
                    None => "—",
                }
            ));
        }
    }
    rows.join("\n")
}
