//! Extractors: JSON bodies whose errors name the field, the request's context (id, client
//! IP), the bearer session, and the position a query waits for.

use crate::app::SharedState;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::sessions::Session;
use crate::store::CommandMetadata;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;
use xuexin_domain::account::{Account, AccountStatus};
use xuexin_domain::Actor;

/// A JSON body. Malformed JSON, or a value of the wrong type, is a 400 naming the field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|rejection: BytesRejection| {
                    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        Problem::new(ProblemKind::BadRequest, "payload_too_large")
                    } else {
                        Problem::new(ProblemKind::BadRequest, "invalid_json")
                    }
                })?;
        if !is_json {
            return Err(Problem::new(ProblemKind::BadRequest, "invalid_json")
                .with_message("请求格式有误：Content-Type 应为 application/json".into()));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(Self(value)),
            Err(error) => {
                let path = error.path().to_string();
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                let mut problem = Problem::new(ProblemKind::BadRequest, "invalid_json");
                problem.errors = vec![FieldError::new(&field, "invalid_json")];
                Err(problem)
            }
        }
    }
}

/// Request id and client address, for event metadata and rate limits.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: Option<String>,
}

impl RequestContext {
    pub fn metadata(&self, actor: Actor) -> CommandMetadata {
        CommandMetadata {
            actor,
            request_id: self.request_id.clone(),
            client_ip: self.client_ip.clone(),
        }
    }
}

impl<S> FromRequestParts<S> for RequestContext
where
    S: Send + Sync,
    SharedState: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = SharedState::from_ref(state);
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .map(|v| v.trim().to_string())
            })
            .flatten();
        let socket = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self {
            request_id,
            client_ip: forwarded.or(socket),
        })
    }
}

/// What an account waiting for identity review may use.
const VERIFICATION_PATHS: &[&str] = &["/api/v1/identity/", "/api/v1/logout"];

/// The logged-in account (from `Authorization: Bearer …`). An account waiting for identity
/// review gets only the verification endpoints (403 `identity_review_pending` elsewhere).
pub struct Authenticated(pub Session);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    SharedState: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = SharedState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(Problem::new(ProblemKind::Unauthorized, "unauthenticated"));
        };
        let Some(mut session) = state.sessions.authenticate(token).await? else {
            return Err(Problem::new(ProblemKind::Unauthorized, "unauthenticated"));
        };
        if session.pending_review
            && !VERIFICATION_PATHS
                .iter()
                .any(|p| parts.uri.path().starts_with(p))
        {
            // Waiting for identity review: only verification answers, unless the review has
            // ended since the login.
            let account = state
                .store
                .load::<Account>(&session.account_id.to_string())
                .await?
                .aggregate;
            if account.status() == Some(AccountStatus::PendingIdentityReview) {
                return Err(Problem::new(
                    ProblemKind::Forbidden,
                    "identity_review_pending",
                ));
            }
            state
                .sessions
                .clear_pending_review(session.account_id)
                .await?;
            session.pending_review = false;
        }
        Ok(Self(session))
    }
}

/// `?position=N`: the log position a query must reflect (from a command's response).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitFor {
    /// Wait (boundedly) until this position is reflected; answers 503 `read_timeout` if not.
    pub position: Option<i64>,
}

impl WaitFor {
    /// Also waits for the session's own login, so that a session never reads a view older
    /// than the login that opened it.
    pub async fn wait_in_session(
        &self,
        state: &SharedState,
        session: &Session,
        projections: &[&'static str],
    ) -> Result<(), Problem> {
        let position = self.position.unwrap_or(0).max(session.position);
        WaitFor {
            position: Some(position),
        }
        .wait(state, projections)
        .await
    }

    pub async fn wait(
        &self,
        state: &SharedState,
        projections: &[&'static str],
    ) -> Result<(), Problem> {
        let Some(position) = self.position else {
            return Ok(());
        };
        if position < 0 {
            return Err(Problem::new(ProblemKind::BadRequest, "position_invalid"));
        }
        match state.reads.wait(projections, position).await {
            Ok(()) => Ok(()),
            Err(crate::projector::WaitError::Timeout) => {
                Err(Problem::overloaded(std::time::Duration::from_secs(1))
                    .with_code("read_timeout"))
            }
            Err(crate::projector::WaitError::Store(e)) => Err(Problem::internal(e)),
        }
    }
}
