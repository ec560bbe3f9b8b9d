//! Overload: a limit on requests served at once, and on how long one may take. Past either, the
//! answer is `503` with `Retry-After` (problem code `overloaded` or `request_timeout`) instead
//! of a queue that grows until every request is late. The probes and `/metrics` are never
//! refused, so a load balancer and Prometheus still see an overloaded node.
//!
//! A request cut off by the timeout is dropped like a client that went away: a command's
//! append is one transaction, so it either committed or left nothing (a registration's saga is
//! resumed by recovery). Its `Idempotency-Key` stays claimed, as after a crash: a retry with it
//! answers `409 idempotency_in_progress` until the takeover time has passed.

use crate::problem::Problem;
use crate::state::SharedState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long a refused client is asked to wait.
const RETRY_AFTER: Duration = Duration::from_secs(2);

fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub async fn limit(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let overload = &state.overload;
    let Some(_permit) = overload.try_acquire() else {
        metrics::counter!("xuexin_http_refused_total", "reason" => "concurrency").increment(1);
        tracing::warn!("refused: too many requests at once");
        return Problem::overloaded(RETRY_AFTER).into_response();
    };
    match overload.timeout() {
        None => next.run(request).await,
        Some(timeout) => match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                metrics::counter!("xuexin_http_refused_total", "reason" => "timeout").increment(1);
                tracing::warn!(timeout_seconds = timeout.as_secs(), "request timed out");
                Problem::overloaded(RETRY_AFTER)
                    .with_code("request_timeout")
                    .into_response()
            }
        },
    }
}
