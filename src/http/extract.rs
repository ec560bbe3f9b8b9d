//! Extractors: JSON bodies, query strings and path parameters, read strictly and with errors
//! that name the field (control characters refused in every string of them), the request's
//! context (id, client IP), the bearer session, and the position a query waits for.

use crate::problem::{FieldError, Problem, ProblemKind};
use crate::sessions::Session;
use crate::state::SharedState;
use crate::store::CommandMetadata;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{
    ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, RawPathParams, Request,
};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;
use xuexin_domain::account::{Account, AccountStatus};
use xuexin_domain::Actor;

/// Fields whose text may span lines: reasons, requested corrections, descriptions. Newlines
/// (`\n`, `\r`) are accepted in these and nowhere else; every other control character (C0,
/// DEL, C1) is refused everywhere, so that no NUL reaches PostgreSQL (where it is an error)
/// or the SQLite log (where it would be kept forever), and both backends answer the same.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    "reason",
    "correction",
    "manual_review_reason",
    "description",
];

/// Whether `text` holds a character refused in a field (`free_text`: one of
/// [`FREE_TEXT_FIELDS`]).
pub fn has_control_character(text: &str, free_text: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(free_text && (c == '\n' || c == '\r')))
}

/// 422 `control_character`, one entry per field that holds one.
pub fn control_character_problem(fields: Vec<String>) -> Problem {
    let mut problem = Problem::new(ProblemKind::Validation, "control_character");
    problem.errors = fields
        .iter()
        .map(|field| FieldError::new(field, "control_character"))
        .collect();
    problem
}

/// Every string (and object key) in a JSON value that holds a refused character, by its path
/// (`security_questions[0].answer`, as serde_path_to_error names fields).
fn control_character_fields(
    value: &serde_json::Value,
    path: &str,
    name: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let here = || {
        if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        }
    };
    match value {
        Value::String(text) => {
            if has_control_character(text, FREE_TEXT_FIELDS.contains(&name)) {
                out.push(here());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                control_character_fields(item, &format!("{}[{i}]", here()), name, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if has_control_character(key, false) {
                    out.push(here());
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                control_character_fields(item, &child, key, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Whether the request says its body is JSON: `application/json`, with parameters at most.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A body over the limit is 413 `payload_too_large`; any other failure to read it is 400.
fn body_rejection(rejection: BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(ProblemKind::PayloadTooLarge, "payload_too_large")
    } else {
        Problem::new(ProblemKind::BadRequest, "malformed_body")
    }
}

/// A JSON body, read strictly: the content type must be `application/json` (else 415
/// `unsupported_media_type`), the body one JSON object and nothing after it (else 400
/// `malformed_json`), no string may hold a control character (else 422 `control_character`,
/// see [`FREE_TEXT_FIELDS`]), and a value of the wrong type is a 400 `invalid_json` naming
/// the field. Over the body limit: 413 `payload_too_large`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                ProblemKind::UnsupportedMediaType,
                "unsupported_media_type",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        // One value, then only whitespace: `from_slice` refuses trailing characters.
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| Problem::new(ProblemKind::BadRequest, "malformed_json"))?;
        if !value.is_object() {
            return Err(Problem::new(ProblemKind::BadRequest, "malformed_json")
                .with_message(crate::messages::text("json_object_expected").into()));
        }
        let mut refused = Vec::new();
        control_character_fields(&value, "", "", &mut refused);
        if !refused.is_empty() {
            return Err(control_character_problem(refused));
        }
        match serde_path_to_error::deserialize(value) {
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

/// A raw body (signed callbacks), whose only failure is its size: 413 `payload_too_large`.
pub struct ApiBytes(pub Bytes);

impl<S> FromRequest<S> for ApiBytes
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(body_rejection)
    }
}

/// The query string. A value that does not parse (`?limit=abc`, a number past i64) is 400
/// `malformed_query` naming the parameter; a control character in any name or value is 422
/// `control_character`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("").as_bytes();
        let refused: Vec<String> = form_urlencoded::parse(query)
            .filter(|(name, value)| {
                has_control_character(name, false) || has_control_character(value, false)
            })
            .map(|(name, _)| {
                if has_control_character(&name, false) {
                    "query".to_string()
                } else {
                    name.into_owned()
                }
            })
            .collect();
        if !refused.is_empty() {
            return Err(control_character_problem(refused));
        }
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(Self(value)),
            Err(error) => {
                let path = error.path().to_string();
                let field = if path == "." {
                    "query".to_string()
                } else {
                    path
                };
                let mut problem = Problem::new(ProblemKind::BadRequest, "malformed_query");
                problem.errors = vec![FieldError::new(&field, "malformed_query")];
                Err(problem)
            }
        }
    }
}

/// The path's parameters. A control character in a segment is 422 `control_character`
/// naming the parameter; a segment that does not decode or parse is 400 `malformed_path`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let malformed = || Problem::new(ProblemKind::BadRequest, "malformed_path");
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| malformed())?;
        let refused: Vec<String> = raw
            .iter()
            .filter(|(_, value)| has_control_character(value, false))
            .map(|(name, _)| name.to_string())
            .collect();
        if !refused.is_empty() {
            return Err(control_character_problem(refused));
        }
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| malformed())?;
        Ok(Self(value))
    }
}

/// Request id and client address, for event metadata and rate limits.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    pub fn metadata(&self, actor: Actor) -> CommandMetadata {
        CommandMetadata {
            actor,
            request_id: self.request_id.clone(),
            client_ip: self.client_ip.clone(),
            user_agent: self.user_agent.clone(),
            caused_by: None,
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
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Self {
            request_id,
            client_ip: forwarded.or(socket),
            user_agent,
        })
    }
}

/// What an account waiting for identity review may use.
const VERIFICATION_PATHS: &[&str] = &["/api/v1/identity/", "/api/v1/logout"];

/// What a staff session may use before its second factor.
const SECOND_FACTOR_PATHS: &[&str] = &["/api/v1/staff/second-factor", "/api/v1/logout"];

/// The logged-in account (from `Authorization: Bearer …`). An account waiting for identity
/// review gets only the verification endpoints (403 `identity_review_pending` elsewhere); a
/// staff session before its second factor only the factor's (403 `second_factor_required`).
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
        if session.factor_pending
            && !SECOND_FACTOR_PATHS
                .iter()
                .any(|p| parts.uri.path().starts_with(p))
        {
            return Err(Problem::new(
                ProblemKind::Forbidden,
                "second_factor_required",
            ));
        }
        if session.pending_review
            && !VERIFICATION_PATHS
                .iter()
                .any(|p| parts.uri.path().starts_with(p))
        {
            // Waiting for identity review: only verification answers, unless the review has
            // ended since the login. A request that asks to read a command's consequences
            // (`?settled=`, e.g. the approved proof's) first waits for them: the account turns
            // Active through a process task.
            let settled = parts.uri.query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == "settled")
                    .and_then(|(_, value)| value.parse::<i64>().ok())
            });
            if let Some(settled) = settled.filter(|p| *p > 0) {
                if let Err(error) = state.reads.settle(&[], settled).await {
                    tracing::debug!(error = %error, "the consequences did not settle in time");
                }
            }
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

/// `?position=N`: the log position a query must reflect (from a command's response);
/// `?settled=N`: also every consequence the process managers draw from it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitFor {
    /// Wait (boundedly) until this position is reflected; answers 503 `read_timeout` if not.
    pub position: Option<i64>,
    /// Wait (boundedly) until the command that committed this position has settled: the
    /// record binder, the identity transfers and the messenger have drawn its consequences
    /// (a record bound, an old account deactivated, a mail queued), and this query's views
    /// show them; 503 `read_timeout` if not.
    pub settled: Option<i64>,
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
            settled: self.settled,
        }
        .wait(state, projections)
        .await
    }

    pub async fn wait(
        &self,
        state: &SharedState,
        projections: &[&'static str],
    ) -> Result<(), Problem> {
        if self.position.is_some_and(|p| p < 0) || self.settled.is_some_and(|p| p < 0) {
            return Err(Problem::new(ProblemKind::BadRequest, "position_invalid"));
        }
        let waited = match (self.position, self.settled) {
            (None, None) => return Ok(()),
            (position, None) => state.reads.wait(projections, position.unwrap_or(0)).await,
            (position, Some(settled)) => {
                match state.reads.wait(projections, position.unwrap_or(0)).await {
                    Ok(()) => state.reads.settle(projections, settled).await,
                    failed => failed,
                }
            }
        };
        match waited {
            Ok(()) => Ok(()),
            Err(crate::projector::WaitError::Timeout) => {
                Err(Problem::overloaded(std::time::Duration::from_secs(1))
                    .with_code("read_timeout"))
            }
            Err(crate::projector::WaitError::AheadOfLog) => Err(Problem::new(
                ProblemKind::BadRequest,
                "position_ahead_of_log",
            )),
            Err(crate::projector::WaitError::Store(e)) => Err(Problem::internal(e)),
        }
    }
}
