//! Logging in and out.

use super::error::ProblemDocument;
use super::extract::{ApiJson, ApiPath, Authenticated, RequestContext};
use super::names::{AccountStatusName, BearerName, SecondFactorStepName, StaffRoleName};
use crate::application::login::{login, Login, LoginError};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::values::Secret;
use xuexin_domain::Actor;

impl FromRef<SharedState> for Login {
    fn from_ref(state: &SharedState) -> Self {
        state.login.clone()
    }
}

/// Login's refusals as the API answers them (the one place they are mapped).
pub fn login_problem(error: LoginError) -> Problem {
    match error {
        LoginError::Missing { login, password } => {
            let mut missing = Vec::new();
            if login {
                missing.push(FieldError::new("login", "login_required"));
            }
            if password {
                missing.push(FieldError::new("password", "password_required"));
            }
            Problem::validation(missing)
        }
        LoginError::InvalidCredentials => {
            Problem::new(ProblemKind::Unauthorized, "invalid_credentials")
        }
        LoginError::Locked { until, retry_after } => {
            let mut problem = Problem::new(ProblemKind::Locked, "account_locked")
                .with_extra("locked_until", until.to_rfc3339());
            problem.retry_after = Some(retry_after);
            problem
        }
        LoginError::RateLimited { retry_after } => {
            Problem::rate_limited("login_rate_limited", retry_after)
        }
        LoginError::NotLinked => Problem::new(ProblemKind::NotFound, "external_login_not_linked"),
        LoginError::Busy => Problem::overloaded(std::time::Duration::from_secs(1)),
        LoginError::Internal(error) => Problem::internal(error),
    }
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(logout))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(end_other_sessions))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// 手机号/身份证号/邮箱: the phone, the document number or a verified e-mail; staff log in
    /// with their username.
    #[schema(example = "13800138000")]
    #[schema(required = true, nullable = false)]
    pub login: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(value_type = BearerName)]
    pub token_type: String,
    pub expires_at: String,
    pub account_id: String,
    #[schema(value_type = AccountStatusName)]
    pub status: String,
    /// For staff accounts: `reviewer`, `registrar`, `provincial_authority`,
    /// `conscription_office`, `auditor` or `administrator`.
    #[schema(value_type = Option<StaffRoleName>)]
    pub role: Option<String>,
    /// For staff: the session reaches nothing before its second factor. `enrol` (first
    /// login, or after a reset: `GET /api/v1/staff/second-factor` gives the secret) or
    /// `required` (`POST /api/v1/staff/second-factor` with a code).
    #[schema(value_type = Option<SecondFactorStepName>)]
    pub second_factor: Option<String>,
    /// Log position of this login; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

/// Log in (登录).
///
/// An unknown name and a wrong password get the same answer. Five wrong passwords in a row
/// (counted across the phone, ID number and e-mail) lock the account for 15 minutes, longer
/// on each repeat, never for good; a successful login resets the count.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in", body = SessionResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 401, description = "Wrong name or password", body = ProblemDocument),
        (status = 422, description = "A field is missing", body = ProblemDocument),
        (status = 423, description = "The right password, but the account is locked after repeated failures; Retry-After says how long", body = ProblemDocument),
        (status = 429, description = "Too many failures from this client (login_rate_limited); Retry-After says how long", body = ProblemDocument),
        (status = 503, description = "Overloaded; retry after the Retry-After seconds", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_session(
    State(services): State<Login>,
    context: RequestContext,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<(StatusCode, Json<SessionResponse>), Problem> {
    let password = Secret::new(body.password.unwrap_or_default());
    let logged_in = login(
        &services,
        body.login.as_deref().unwrap_or(""),
        password,
        &context.metadata(Actor::Anonymous),
    )
    .await
    .map_err(login_problem)?;
    Ok((StatusCode::CREATED, Json(SessionResponse::from(logged_in))))
}

impl From<crate::application::login::LoggedIn> for SessionResponse {
    fn from(logged_in: crate::application::login::LoggedIn) -> Self {
        Self {
            token: logged_in.token,
            token_type: "Bearer".into(),
            expires_at: logged_in.expires_at.to_rfc3339(),
            account_id: logged_in.account_id.to_string(),
            status: logged_in.status,
            role: logged_in.role,
            second_factor: logged_in.second_factor.map(str::to_string),
            position: logged_in.position,
        }
    }
}

/// Log out: the bearer token stops working.
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(services): State<Login>,
    Authenticated(session): Authenticated,
) -> Result<StatusCode, Problem> {
    crate::application::login::logout(&services, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionDocument {
    /// Names the session in `DELETE /api/v1/me/sessions/{session_id}` (never its token).
    pub session_id: String,
    /// The browser and system, from the User-Agent it logged in with: `Chrome · Windows`.
    pub device: String,
    pub client_ip: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// The session this request was made in.
    pub current: bool,
}

/// My sessions (账号管理 → 登录设备): every live session of the account, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's live sessions", body = Vec<SessionDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "The account waits for identity review", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_sessions(
    State(services): State<Login>,
    Authenticated(session): Authenticated,
) -> Result<Json<Vec<SessionDocument>>, Problem> {
    let listed = crate::application::login::sessions(&services, &session).await?;
    Ok(Json(
        listed
            .into_iter()
            .map(|s| SessionDocument {
                session_id: s.id,
                device: s.device,
                client_ip: s.client_ip,
                created_at: s.created_at.to_rfc3339(),
                expires_at: s.expires_at.to_rfc3339(),
                current: s.current,
            })
            .collect(),
    ))
}

/// End one of my sessions (退出): its token stops working at once. Ending the current session
/// is logging out.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{session_id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "From `GET /api/v1/me/sessions`")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "The account waits for identity review", body = ProblemDocument),
        (status = 404, description = "The account has no live session of that id", body = ProblemDocument),
        (status = 422, description = "A control character in the path", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn end_session(
    State(services): State<Login>,
    Authenticated(session): Authenticated,
    ApiPath(session_id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    if crate::application::login::end_session(&services, &session, &session_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::new(ProblemKind::NotFound, "session_not_found"))
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndedSessions {
    /// How many sessions ended.
    pub ended: u64,
}

/// End all my other sessions (退出其他设备): every session of the account but this one.
#[utoipa::path(
    delete,
    path = "/api/v1/me/other-sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The other sessions have ended", body = EndedSessions),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "The account waits for identity review", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn end_other_sessions(
    State(services): State<Login>,
    Authenticated(session): Authenticated,
) -> Result<Json<EndedSessions>, Problem> {
    let ended = crate::application::login::end_other_sessions(&services, &session).await?;
    Ok(Json(EndedSessions { ended }))
}
