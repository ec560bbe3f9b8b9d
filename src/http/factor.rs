//! A staff member's second factor over the API (issue 16): a staff session reaches no staff
//! endpoint before it. At the first login (or after a reset) it enrols an authenticator app;
//! afterwards it gives a code, or a one-time recovery code. An administrator can reset
//! another staff member's factor.

use super::error::ProblemDocument;
use super::extract::{ApiJson, ApiPath, Authenticated, RequestContext};
use super::names::SecondFactorStateName;
use crate::application::account::AccountManagement;
use crate::application::factor::{FactorError, FactorState};
use crate::application::login::Login;
use crate::problem::{Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::AccountId;

/// The second factor's refusals as the API answers them (the one place they are mapped).
pub fn factor_problem(error: FactorError) -> Problem {
    match error {
        FactorError::NotStaff => Problem::new(ProblemKind::Forbidden, "forbidden"),
        FactorError::Enrolled | FactorError::NotEnrolled => {
            Problem::new(ProblemKind::Conflict, error.code())
        }
        FactorError::Invalid => Problem::new(ProblemKind::Unauthorized, error.code()),
        FactorError::RateLimited { retry_after } => {
            Problem::rate_limited(error.code(), retry_after)
        }
        FactorError::Busy => Problem::overloaded(std::time::Duration::from_secs(1)),
        FactorError::Internal(error) => Problem::internal(error),
    }
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(factor_state, pass_factor))
        .routes(routes!(enrol_factor))
        .routes(routes!(reset_factor))
}

#[derive(Serialize, ToSchema)]
pub struct FactorStateResponse {
    /// `enrol`: add the secret to an authenticator app and confirm with a code; `required`:
    /// give a code; `passed`: this session has passed it.
    #[schema(value_type = SecondFactorStateName)]
    pub state: String,
    /// For `enrol`: the TOTP secret (base32), for apps that take it typed.
    pub secret: Option<String>,
    /// For `enrol`: the `otpauth://` URI the QR code holds.
    pub otpauth_uri: Option<String>,
}

/// Where my staff session stands with its second factor.
#[utoipa::path(
    get,
    path = "/api/v1/staff/second-factor",
    tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The state, and for an enrolment the secret", body = FactorStateResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a staff session", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn factor_state(
    State(login): State<Login>,
    Authenticated(session): Authenticated,
) -> Result<Json<FactorStateResponse>, Problem> {
    let state = login.factor_state(&session).await.map_err(factor_problem)?;
    Ok(Json(match state {
        FactorState::Enrol(enrolment) => FactorStateResponse {
            state: "enrol".into(),
            secret: Some(enrolment.secret),
            otpauth_uri: Some(enrolment.uri),
        },
        FactorState::Required => FactorStateResponse {
            state: "required".into(),
            secret: None,
            otpauth_uri: None,
        },
        FactorState::Passed => FactorStateResponse {
            state: "passed".into(),
            secret: None,
            otpauth_uri: None,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// The authenticator app's 6-digit code, or (to pass, not to enrol) a recovery code.
    #[schema(required = true, nullable = false)]
    pub code: Option<String>,
}

/// Pass my session's second factor with a code.
///
/// A code is good for its 30-second step and the ones beside it, once. A recovery code works
/// once. Five wrong codes in 15 minutes close the factor for the rest of the window.
#[utoipa::path(
    post,
    path = "/api/v1/staff/second-factor",
    tag = "staff",
    request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Passed: the session reaches its role's endpoints"),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 401, description = "Not logged in, or a wrong, used or expired code (second_factor_invalid)", body = ProblemDocument),
        (status = 403, description = "Not a staff session", body = ProblemDocument),
        (status = 409, description = "No factor is enrolled yet (second_factor_not_enrolled)", body = ProblemDocument),
        (status = 429, description = "Too many wrong codes; Retry-After says how long", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn pass_factor(
    State(login): State<Login>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<StatusCode, Problem> {
    login
        .pass_factor(
            &session,
            body.code.as_deref().unwrap_or(""),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(factor_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct EnrolledResponse {
    /// Ten one-time recovery codes, shown this once (only their digests are kept).
    pub recovery_codes: Vec<String>,
}

/// Enrol my second factor: confirm the secret of `GET /api/v1/staff/second-factor` with a
/// code from the app. The session passes.
#[utoipa::path(
    post,
    path = "/api/v1/staff/second-factor/enrolment",
    tag = "staff",
    request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Enrolled; the recovery codes", body = EnrolledResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 401, description = "Not logged in, or a wrong code (second_factor_invalid)", body = ProblemDocument),
        (status = 403, description = "Not a staff session", body = ProblemDocument),
        (status = 409, description = "A factor is already enrolled (second_factor_enrolled)", body = ProblemDocument),
        (status = 429, description = "Too many wrong codes; Retry-After says how long", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn enrol_factor(
    State(login): State<Login>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<(StatusCode, Json<EnrolledResponse>), Problem> {
    let recovery_codes = login
        .enrol_factor(
            &session,
            body.code.as_deref().unwrap_or(""),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(factor_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolledResponse { recovery_codes }),
    ))
}

/// Reset a staff member's second factor (administrators). Their sessions end; their next
/// login enrols a new factor.
#[utoipa::path(
    delete,
    path = "/api/v1/staff/accounts/{account_id}/second-factor",
    tag = "staff",
    params(("account_id" = String, Path, description = "The staff account")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Reset"),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an administrator, or before the second factor", body = ProblemDocument),
        (status = 404, description = "No such staff account", body = ProblemDocument),
        (status = 409, description = "No factor is enrolled (second_factor_not_enrolled)", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reset_factor(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(account_id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    session.require_role(&[StaffRole::Administrator])?;
    let not_found = || Problem::new(ProblemKind::NotFound, "account_not_found");
    let id = AccountId::parse(&account_id).ok_or_else(not_found)?;
    account
        .reset_factor(id, &context.metadata(session.actor()))
        .await
        .map_err(|error| match error {
            FactorError::NotStaff => not_found(),
            other => factor_problem(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
