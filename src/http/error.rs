//! `application/problem+json` (RFC 9457) with the service's `code`, Chinese `message` and
//! per-field `errors`. 5xx causes are logged here and never sent.

use crate::application::FieldRefusal;
use crate::problem::{FieldError, Problem, ProblemKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body every error response has (for the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemDocument {
    /// Always `about:blank`: the `code` says what happened.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `phone_taken`.
    pub code: String,
    /// What to tell the person, in the language `Accept-Language` asks for (zh-CN or en).
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

pub fn status_of(kind: ProblemKind) -> StatusCode {
    match kind {
        ProblemKind::BadRequest => StatusCode::BAD_REQUEST,
        ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ProblemKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ProblemKind::Forbidden => StatusCode::FORBIDDEN,
        ProblemKind::NotFound => StatusCode::NOT_FOUND,
        ProblemKind::Conflict => StatusCode::CONFLICT,
        ProblemKind::Locked => StatusCode::LOCKED,
        ProblemKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ProblemKind::Overloaded | ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let problem = self.into_data();
        let status = status_of(problem.kind);
        if status.is_server_error() {
            match &problem.source {
                Some(source) => {
                    tracing::error!(code = %problem.code, error = format!("{source:#}"), "request failed")
                }
                None => tracing::warn!(code = %problem.code, "request refused"),
            }
        }
        let mut body = serde_json::Map::new();
        body.insert("type".into(), "about:blank".into());
        body.insert(
            "title".into(),
            status.canonical_reason().unwrap_or("Error").into(),
        );
        body.insert("status".into(), status.as_u16().into());
        body.insert("code".into(), problem.code.clone().into());
        body.insert("message".into(), problem.message.clone().into());
        if !problem.errors.is_empty() {
            body.insert(
                "errors".into(),
                serde_json::to_value(&problem.errors).unwrap_or_default(),
            );
        }
        for (key, value) in problem.extra {
            body.entry(key).or_insert(value);
        }
        let mut response = (status, axum::Json(serde_json::Value::Object(body))).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(retry_after) = problem.retry_after {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Fields refused, at their fields (422).
pub fn invalid_fields(refusals: Vec<FieldRefusal>) -> Problem {
    Problem::validation(
        refusals
            .iter()
            .map(|r| FieldError::new(&r.field, r.code))
            .collect(),
    )
}
