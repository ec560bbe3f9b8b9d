//! `Idempotency-Key` on commands: the first response to a key is kept and a repeat with the
//! same body gets it back (`Idempotent-Replayed: true`) without running anything; the same key
//! with another body is refused. Keys are scoped to the path and the caller's session.
//! Login (`POST /api/v1/sessions`) is left out: its response is a bearer token, which is never
//! stored in the clear. So are the recovery steps and the OAuth start, whose responses carry
//! tickets, reset tokens and `state` (each single use anyway), and record imports, which are
//! idempotent by themselves.
//! A handler whose answer holds a secret on a path that takes a key (the conscription office's
//! generated initial password) marks its response with [`HoldsSecret`]: then only the status
//! is kept, never the body, and a repeat gets `409 idempotency_answer_not_stored` instead of
//! the secret. Records are deleted by housekeeping after `idempotency_window`.

use crate::problem::{Problem, ProblemKind};
use crate::security::token_hash;
use crate::state::SharedState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use xuexin_projections::{db_execute, on_db};

const MAX_BODY: usize = 4 * 1024 * 1024;

/// A response extension: the answer holds a secret (a one-time password) and must not be
/// stored for replay. Add it with `Extension(HoldsSecret)` (or [`holds_secret`]).
#[derive(Clone, Copy, Debug)]
pub struct HoldsSecret;

/// The marker when `secret` is true, nothing otherwise (an `IntoResponseParts`).
pub fn holds_secret(secret: bool) -> Option<axum::Extension<HoldsSecret>> {
    secret.then_some(axum::Extension(HoldsSecret))
}
const EXCLUDED_PATHS: &[&str] = &[
    "/api/v1/sessions",
    "/api/v1/captchas",
    "/api/v1/password-recoveries",
    "/api/v1/password-recoveries/sms-verifications",
    "/api/v1/password-recoveries/answers",
];

/// Paths whose responses hold a secret, beyond the exact ones above.
pub fn excluded(path: &str) -> bool {
    EXCLUDED_PATHS.contains(&path)
        || path.ends_with("/record-imports")
        || (path.starts_with("/api/v1/oauth/") && path.ends_with("/authorize"))
}

pub async fn idempotency(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get("idempotency-key").cloned() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    // Imports are idempotent by themselves (a re-import writes nothing) and may be large.
    if excluded(&path) {
        return next.run(request).await;
    }
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_string()
        }
        _ => {
            return Problem::new(ProblemKind::BadRequest, "idempotency_key_invalid").into_response()
        }
    };
    let caller = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(token_hash)
        .unwrap_or_else(|| "anonymous".into());
    let scope = format!("{path}|{caller}");

    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return Problem::new(ProblemKind::PayloadTooLarge, "payload_too_large").into_response();
    };
    let fingerprint = hex::encode(Sha256::digest(&bytes));
    match claim(&state, &scope, &key, &fingerprint).await {
        Ok(Claim::Fresh) => {}
        Ok(Claim::Replay(response)) => return response,
        Err(problem) => return problem.into_response(),
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return Problem::internal(anyhow::anyhow!("failed to read a response: {error}"))
                .into_response()
        }
    };
    let secret = parts.extensions.get::<HoldsSecret>().is_some();
    let outcome = if parts.status.is_server_error() {
        // Nothing to remember: the client may try the same key again.
        db_execute!(
            &state.db,
            "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
            &scope,
            &key,
        )
    } else if secret {
        // Only the status: a replay says the answer was not kept (the body held a secret).
        db_execute!(
            &state.db,
            "UPDATE idempotency_keys SET status_code = $3, response_body = NULL
             WHERE scope = $1 AND idempotency_key = $2",
            &scope,
            &key,
            i64::from(parts.status.as_u16()),
        )
    } else {
        db_execute!(
            &state.db,
            "UPDATE idempotency_keys SET status_code = $3, response_body = $4
             WHERE scope = $1 AND idempotency_key = $2",
            &scope,
            &key,
            i64::from(parts.status.as_u16()),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    };
    if let Err(error) = outcome {
        tracing::error!(error = %error, "failed to record an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

enum Claim {
    Fresh,
    Replay(Response),
}

async fn claim(
    state: &SharedState,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, Problem> {
    let now = state.clock.now().millis();
    // An entry whose first request never finished (a crash) may be taken over after this.
    let takeover_millis = state.config.idempotency_takeover.as_millis() as i64;
    let inserted = db_execute!(
        &state.db,
        "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idempotency_key) DO NOTHING",
        scope,
        key,
        fingerprint,
        now,
    )?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let row: Option<(String, Option<i64>, Option<String>, i64)> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys
             WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    let Some((request_hash, status, body, created_at)) = row else {
        // Deleted in between (the first attempt failed): start afresh.
        return Box::pin(claim(state, scope, key, fingerprint)).await;
    };
    if request_hash != fingerprint {
        return Err(Problem::new(
            ProblemKind::Validation,
            "idempotency_key_reused",
        ));
    }
    match (status, body) {
        (Some(status), Some(body)) => {
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
            let content_type = if status.is_success() {
                "application/json"
            } else {
                "application/problem+json"
            };
            let mut response = (status, body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(Claim::Replay(response))
        }
        (Some(status), None) => Err(Problem::new(
            ProblemKind::Conflict,
            "idempotency_answer_not_stored",
        )
        .with_extra("original_status", status)),
        _ if now - created_at > takeover_millis => {
            db_execute!(
                &state.db,
                "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND status_code IS NULL",
                scope,
                key,
            )?;
            Box::pin(claim(state, scope, key, fingerprint)).await
        }
        _ => {
            let mut problem = Problem::new(ProblemKind::Conflict, "idempotency_in_progress");
            let left = (takeover_millis - (now - created_at)).max(1000);
            problem.retry_after = Some(std::time::Duration::from_millis(left as u64));
            Err(problem)
        }
    }
}
