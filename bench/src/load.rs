//! Load generation: closed-loop clients for throughput, paced clients for latency, and the
//! percentiles of what they saw.

use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1000.0
    }

    pub fn summary(&self) -> Value {
        json!({
            "count": self.0.len(),
            "p50_ms": round2(self.percentile_ms(50.0)),
            "p99_ms": round2(self.percentile_ms(99.0)),
            "max_ms": round2(self.percentile_ms(100.0)),
        })
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub struct Throughput {
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// `clients` loops, each calling `request(client, n)` back to back for `duration`; a request
/// answers whether it succeeded. Requests still running at the end are waited for but not
/// counted after the deadline.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, request: F) -> Throughput
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let request = request.clone();
        let ok = ok.clone();
        let failed = failed.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let success = request(client, n).await;
                if Instant::now() <= deadline {
                    if success {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Throughput {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        seconds: duration.as_secs_f64(),
    }
}

/// One client sending `request(n)` every `interval` (or at once when a request ran late) for
/// `duration`, or `count` times when that comes first; the latency of each successful request.
pub async fn paced<F, Fut>(
    interval: Duration,
    duration: Duration,
    count: Option<u64>,
    request: F,
) -> (Latencies, u64)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut n = 0u64;
    while started.elapsed() < duration && count.is_none_or(|c| n < c) {
        let due = started + interval * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let sent = Instant::now();
        if request(n).await {
            latencies.push(sent.elapsed());
        } else {
            failures += 1;
        }
        n += 1;
    }
    (Latencies(latencies), failures)
}
