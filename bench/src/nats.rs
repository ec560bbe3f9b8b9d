//! NATS: the benchmark's own nats-server (this machine's binary, JetStream, a scratch store
//! directory, a free port — the shared server's streams are left alone), the relay's
//! throughput against a bare async-nats JetStream publisher, and commit-to-consumer latency.

use crate::load::{round2, Latencies};
use crate::service::free_port;
use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The stream the service under test relays to.
pub const STREAM: &str = "XUEXIN_BENCH_EVENTS";

pub struct NatsServer {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    pub async fn start() -> anyhow::Result<Self> {
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".to_string());
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {binary} (set NATS_SERVER)"))?;
        let url = format!("nats://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if async_nats::connect(&url).await.is_ok() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            child,
            url,
            _dir: dir,
        })
    }

    pub async fn context(&self) -> anyhow::Result<jetstream::Context> {
        Ok(jetstream::new(async_nats::connect(&self.url).await?))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn stream_messages(context: &jetstream::Context, name: &str) -> anyhow::Result<u64> {
    let mut stream = context.get_stream(name).await?;
    Ok(stream.info().await?.state.messages)
}

/// Runs `xuexin relay` over a database whose relay checkpoint is at the start, until the
/// stream holds every event; events/s and the mean message size.
pub async fn relay_throughput(
    nats: &NatsServer,
    database_url: &str,
    events: u64,
) -> anyhow::Result<(f64, u64)> {
    let context = nats.context().await?;
    let _ = context.delete_stream(STREAM).await;
    let mut child = Command::new(crate::support::xuexin_binary()?)
        .arg("relay")
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", &nats.url)
        .env("XUEXIN_NATS_STREAM", STREAM)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    let result = async {
        loop {
            let count = stream_messages(&context, STREAM).await.unwrap_or(0);
            if count >= events {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(1800),
                "the relay stalled at {count} of {events}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let info = context
            .get_stream(STREAM)
            .await?
            .info()
            .await?
            .state
            .clone();
        Ok((events as f64 / seconds, info.bytes / info.messages.max(1)))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The baseline: one async-nats client publishing `count` messages of `size` bytes to a
/// file-storage stream configured as the relay's, with a message id each, at most `window`
/// publishes awaiting their acks (the relay's own window).
pub async fn bare_publisher(
    nats: &NatsServer,
    count: u64,
    size: usize,
    window: usize,
) -> anyhow::Result<f64> {
    let context = nats.context().await?;
    let name = "BENCH_BARE";
    let _ = context.delete_stream(STREAM).await;
    let _ = context.delete_stream(name).await;
    context
        .create_stream(jetstream::stream::Config {
            name: name.to_string(),
            subjects: vec!["bench.bare.>".to_string()],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("failed to create the baseline stream: {e}"))?;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::with_capacity(window);
    for n in 0..count {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("bare:{n}").as_str());
        let ack = context
            .publish_with_headers("bench.bare.Account.Event", headers, body.clone())
            .await
            .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?;
        pending.push_back(ack);
        if pending.len() >= window {
            if let Some(ack) = pending.pop_front() {
                ack.await.map_err(|e| anyhow::anyhow!("no ack: {e}"))?;
            }
        }
    }
    for ack in pending {
        ack.await.map_err(|e| anyhow::anyhow!("no ack: {e}"))?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let _ = context.delete_stream(name).await;
    Ok(rate)
}

/// Subscribes to the relay's stream from now on and records, for every message, the time from
/// the event's commit (its metadata `time`) to its arrival here.
pub struct LatencyConsumer {
    task: tokio::task::JoinHandle<anyhow::Result<Latencies>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl LatencyConsumer {
    pub async fn start(nats: &NatsServer) -> anyhow::Result<Self> {
        let context = nats.context().await?;
        xuexin::relay::ensure_stream(&context, STREAM).await?;
        let stream = context.get_stream(STREAM).await?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("failed to create a consumer: {e}"))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("failed to consume: {e}"))?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => return Ok(Latencies(latencies)),
                    next = messages.next() => {
                        let Some(message) = next else { return Ok(Latencies(latencies)) };
                        let message = message.map_err(|e| anyhow::anyhow!("consumer: {e}"))?;
                        let arrived = now_millis();
                        let body: Value = serde_json::from_slice(&message.payload)?;
                        if let Some(time) = body["time"]
                            .as_str()
                            .and_then(xuexin_domain::Timestamp::parse_rfc3339)
                        {
                            let ms = (arrived - time.millis() as f64).max(0.0);
                            latencies.push(Duration::from_secs_f64(ms / 1000.0));
                        }
                    }
                }
            }
        });
        Ok(Self { task, stop })
    }

    pub async fn finish(self) -> anyhow::Result<Latencies> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = self.stop.send(true);
        self.task.await?
    }
}

fn now_millis() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub fn latency_summary(latencies: &Latencies, rate: f64) -> Value {
    json!({
        "target_rate": rate,
        "received": latencies.0.len(),
        "p50_ms": round2(latencies.percentile_ms(50.0)),
        "p99_ms": round2(latencies.percentile_ms(99.0)),
    })
}
