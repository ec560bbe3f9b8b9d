//! Prometheus metrics at `/metrics` (`metrics` + `metrics-exporter-prometheus`). Counters and
//! histograms are recorded where things happen (requests, logins, the hashing pool, message
//! delivery); the gauges of state kept in the database (projection and relay lag, the outbox,
//! the pool) are read when Prometheus scrapes. No label carries personal data: routes are path
//! templates, never paths, and no label holds an account, a phone or an address.

use crate::state::SharedState;
use anyhow::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use xuexin_projections::on_db;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets (seconds): from a cached read to a request near its timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the process's recorder once (every application in a process shares it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    // Without a listener the exporter keeps histogram samples until a render
                    // drains them: drain them on a timer too, so a node nobody scrapes does not
                    // grow.
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        let upkeep = handle.clone();
                        runtime.spawn(async move {
                            let mut every =
                                tokio::time::interval(std::time::Duration::from_secs(5));
                            loop {
                                every.tick().await;
                                upkeep.run_upkeep();
                            }
                        });
                    }
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics are off: no recorder");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "xuexin_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "xuexin_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency, by method and route template"
    );
    describe_counter!(
        "xuexin_http_refused_total",
        "Requests refused with 503: too many at once (concurrency) or too slow (timeout)"
    );
    describe_gauge!(
        "xuexin_http_in_flight",
        "Requests being served now (probes and /metrics not counted)"
    );
    describe_gauge!(
        "xuexin_hash_queue_depth",
        "Password hashes waiting for a worker"
    );
    describe_histogram!(
        "xuexin_hash_wait_seconds",
        Unit::Seconds,
        "Time a password hash waited for a worker"
    );
    describe_counter!(
        "xuexin_hash_refused_total",
        "Password hashes refused because the queue was full (503)"
    );
    describe_gauge!(
        "xuexin_projection_lag_events",
        "Events in the log a projection or process manager has not applied yet"
    );
    describe_gauge!(
        "xuexin_relay_lag_events",
        "Events in the log not yet acknowledged by NATS JetStream"
    );
    describe_gauge!("xuexin_log_head_position", "The event log's last position");
    describe_counter!(
        "xuexin_projector_log_reads_total",
        "Projectors' reads of the log: shared (one read of the newest events for every projector) or behind (a projector catching up reads alone)"
    );
    describe_counter!(
        "xuexin_event_append_statements_total",
        "Statements that appended events (group commit: one per batch of concurrent commands)"
    );
    describe_counter!(
        "xuexin_event_append_commands_total",
        "Commands whose events were appended (÷ statements = commands per group commit)"
    );
    describe_gauge!("xuexin_outbox_messages", "Messages to send, by channel and state (pending: not tried yet; retrying: failed at least once)");
    describe_counter!("xuexin_outbox_sent_total", "Messages delivered, by channel");
    describe_counter!(
        "xuexin_outbox_failures_total",
        "Failed delivery attempts, by channel (each is retried)"
    );
    describe_counter!("xuexin_logins_total", "Password logins, by outcome");
    describe_counter!(
        "xuexin_account_locks_total",
        "Accounts locked after repeated wrong passwords"
    );
    describe_gauge!(
        "xuexin_db_connections",
        "Database pool connections, by state (in_use, idle)"
    );
    describe_gauge!(
        "xuexin_db_connections_max",
        "The database pool's configured size"
    );
}

/// Counts and times every request by its route template.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // Any other token a client sends is one label value, so no client can add series.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("xuexin_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("xuexin_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// `GET /metrics`: the Prometheus text format.
#[tracing::instrument(skip_all)]
pub async fn scrape(State(state): State<SharedState>) -> Response {
    let Some(handle) = install() else {
        return (StatusCode::NOT_FOUND, "metrics are off").into_response();
    };
    if let Err(error) = read_gauges(&state).await {
        // The counters are still worth having when the database is down.
        tracing::warn!(
            error = format!("{error:#}"),
            "metrics: could not read the database's gauges"
        );
    }
    metrics::gauge!("xuexin_http_in_flight").set(state.overload.in_flight() as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn read_gauges(state: &SharedState) -> anyhow::Result<()> {
    let (size, idle) = on_db!(&state.db, pool => (pool.size(), pool.num_idle()));
    metrics::gauge!("xuexin_db_connections", "state" => "in_use")
        .set(f64::from(size) - idle as f64);
    metrics::gauge!("xuexin_db_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("xuexin_db_connections_max").set(f64::from(state.config.database_connections));

    let head = crate::store::log::head(&state.db).await?;
    metrics::gauge!("xuexin_log_head_position").set(head as f64);
    for (name, lag) in crate::projector::lags(&state.db).await? {
        metrics::gauge!("xuexin_projection_lag_events", "projection" => name).set(lag as f64);
    }
    let relays: Vec<(String, i64)> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT r.relay, (SELECT COUNT(*) FROM events e WHERE e.position > r.position)
             FROM relay_checkpoints r",
        )
        .fetch_all(pool)
        .await
        .context("failed to measure the relay's lag")?
    });
    let configured = state
        .config
        .nats_url
        .as_ref()
        .map(|_| format!("nats:{}", state.config.nats_stream));
    let mut seen_configured = false;
    for (relay, lag) in relays {
        seen_configured |= Some(&relay) == configured.as_ref();
        metrics::gauge!("xuexin_relay_lag_events", "relay" => relay).set(lag as f64);
    }
    if let (Some(relay), false) = (configured, seen_configured) {
        // Relaying is on but nothing was acknowledged yet: the whole log is behind.
        let total: (i64,) = on_db!(&state.db, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(pool).await?
        });
        metrics::gauge!("xuexin_relay_lag_events", "relay" => relay).set(total.0 as f64);
    }
    let outbox: Vec<(String, i64, i64)> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT channel,
                    COALESCE(SUM(CASE WHEN attempts = 0 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0)
             FROM message_outbox WHERE status = 'pending' GROUP BY channel",
        )
        .fetch_all(pool)
        .await
        .context("failed to count the outbox")?
    });
    for channel in ["email", "sms"] {
        let (pending, retrying) = outbox
            .iter()
            .find(|(c, _, _)| c == channel)
            .map_or((0, 0), |(_, p, r)| (*p, *r));
        metrics::gauge!("xuexin_outbox_messages", "channel" => channel, "state" => "pending")
            .set(pending as f64);
        metrics::gauge!("xuexin_outbox_messages", "channel" => channel, "state" => "retrying")
            .set(retrying as f64);
    }
    Ok(())
}
