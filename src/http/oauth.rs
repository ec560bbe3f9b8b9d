//! 微信登录 / 支付宝登录: bind an external login to the logged-in account, log in with it, and
//! (in `account`) unbind it. The flow's `state` is single use and bound to the browser that
//! started it (an HttpOnly cookie) and, for a bind, to the account.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::{OAuthPurpose, OAuthResult};
use super::sessions::SessionResponse;
use crate::application::external::{ExternalError, ExternalLogins, Finished};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::oauth::{ExchangeError, Purpose, BROWSER_COOKIE, STATE_SECONDS};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::security::new_token;
use crate::sessions::Session;
use crate::state::{AppState, SharedState};
use axum::extract::{FromRef, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::Actor;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(callback))
}

/// The external-login flows' refusals as the API answers them (the one place they are mapped).
pub fn external_problem(error: ExternalError) -> Problem {
    match error {
        ExternalError::ProviderInvalid => Problem::new(ProblemKind::NotFound, "provider_invalid"),
        ExternalError::ProviderUnavailable => {
            Problem::new(ProblemKind::NotFound, "oauth_provider_unavailable")
        }
        ExternalError::StateInvalid => Problem::new(ProblemKind::BadRequest, "oauth_state_invalid"),
        ExternalError::Denied => Problem::new(ProblemKind::BadRequest, "oauth_denied"),
        ExternalError::Exchange(error) => exchange_problem(error),
        ExternalError::Login(error) => super::sessions::login_problem(error),
        ExternalError::Manage(error) => super::account::manage_problem(error),
        ExternalError::Internal(error) => Problem::internal(error),
    }
}

impl FromRef<SharedState> for ExternalLogins {
    fn from_ref(state: &SharedState) -> Self {
        state.external.clone()
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The session behind `Authorization: Bearer …`, if any (a bind needs one, a login does not).
async fn optional_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, Problem> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match token {
        Some(token) => Ok(state.sessions.authenticate(token).await?),
        None => Ok(None),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    /// `login` (扫码登录) or `bind` (绑定, needs a bearer token).
    #[schema(value_type = Option<OAuthPurpose>, nullable = false)]
    pub purpose: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthorizeResponse {
    /// Send the browser here (the platform's QR-code / authorization page).
    pub authorize_url: String,
    pub state: String,
    pub expires_at: String,
}

/// Start a WeChat or Alipay flow. Sets the `xuexin_oauth_browser` cookie the callback must
/// carry.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/{provider}/authorize",
    tag = "sessions",
    params(("provider" = String, Path, description = "`wechat` or `alipay`")),
    request_body = AuthorizeRequest,
    responses(
        (status = 200, description = "Where to send the browser", body = AuthorizeResponse),
        (status = 401, description = "`bind` without a session", body = ProblemDocument),
        (status = 404, description = "`provider_invalid`, `oauth_provider_unavailable`", body = ProblemDocument),
        (status = 422, description = "`purpose_invalid`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn authorize(
    State(state): State<SharedState>,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AuthorizeRequest>,
) -> Result<Response, Problem> {
    let provider = state
        .external
        .provider(&provider)
        .map_err(external_problem)?;
    let purpose = Purpose::parse(body.purpose.as_deref().unwrap_or("login"))
        .ok_or_else(|| Problem::validation(vec![FieldError::new("purpose", "purpose_invalid")]))?;
    let account = match purpose {
        Purpose::Login => None,
        Purpose::Bind => {
            let session = optional_session(&state, &headers)
                .await?
                .ok_or_else(|| Problem::new(ProblemKind::Unauthorized, "unauthenticated"))?;
            session.require_person()?;
            if session.pending_review {
                return Err(Problem::new(
                    ProblemKind::Forbidden,
                    "identity_review_pending",
                ));
            }
            Some(session.account_id)
        }
    };
    let browser = cookie_value(&headers, BROWSER_COOKIE).unwrap_or_else(new_token);
    let return_path = format!("/api/v1/oauth/{}/callback", provider.as_str());
    let started = state
        .external
        .start(provider, purpose, account, &browser, &return_path)
        .await
        .map_err(external_problem)?;
    let (authorize_url, flow_state, expires_at) =
        (started.authorize_url, started.state, started.expires_at);
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{BROWSER_COOKIE}={browser}; Path=/api/v1/oauth; Max-Age={STATE_SECONDS}; HttpOnly; SameSite=Lax{secure}"
    );
    let mut response = Json(AuthorizeResponse {
        authorize_url,
        state: flow_state,
        expires_at: expires_at.to_rfc3339(),
    })
    .into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| Problem::internal(anyhow::anyhow!(e)))?,
    );
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// WeChat's authorization code.
    pub code: Option<String>,
    /// Alipay's authorization code.
    pub auth_code: Option<String>,
    pub state: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackResponse {
    /// `logged_in` or `linked`.
    #[schema(value_type = OAuthResult)]
    pub result: String,
    pub provider: String,
    pub message: String,
    /// For a login: the new session.
    pub session: Option<SessionResponse>,
}

fn exchange_problem(error: ExchangeError) -> Problem {
    match error {
        ExchangeError::Rejected(reason) => {
            tracing::info!(reason, "the provider refused an authorization code");
            Problem::new(ProblemKind::BadRequest, "oauth_code_invalid")
        }
        ExchangeError::Provider(error) => {
            let mut problem = Problem::new(ProblemKind::Unavailable, "oauth_provider_error");
            problem.source = Some(error);
            problem
        }
    }
}

/// Where the platform sends the browser back: `code` (WeChat) or `auth_code` (Alipay) and the
/// `state`. A login answers a session (201); a bind links the platform's user to the account
/// that started the flow (200).
#[utoipa::path(
    get,
    path = "/api/v1/oauth/{provider}/callback",
    tag = "sessions",
    params(("provider" = String, Path, description = "`wechat` or `alipay`"), CallbackQuery),
    responses(
        (status = 200, description = "Linked", body = CallbackResponse),
        (status = 201, description = "Logged in", body = CallbackResponse),
        (status = 400, description = "`oauth_state_invalid`, `oauth_code_invalid`, `oauth_denied`", body = ProblemDocument),
        (status = 404, description = "`external_login_not_linked`", body = ProblemDocument),
        (status = 409, description = "`external_login_taken`, `external_login_linked`", body = ProblemDocument),
        (status = 503, description = "`oauth_provider_error`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn callback(
    State(external): State<ExternalLogins>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<CallbackQuery>,
    headers: HeaderMap,
    context: RequestContext,
) -> Result<(StatusCode, Json<CallbackResponse>), Problem> {
    let provider = external.provider(&provider).map_err(external_problem)?;
    let browser = cookie_value(&headers, BROWSER_COOKIE);
    let code = query.code.as_deref().or(query.auth_code.as_deref());
    let finished = external
        .finish(
            provider,
            query.state.as_deref(),
            browser.as_deref(),
            code,
            &context.metadata(Actor::Anonymous),
        )
        .await
        .map_err(external_problem)?;
    match finished {
        Finished::LoggedIn(logged_in) => Ok((
            StatusCode::CREATED,
            Json(CallbackResponse {
                result: "logged_in".into(),
                provider: provider.as_str().into(),
                message: crate::messages::format(
                    "external_login_succeeded",
                    &[("provider", provider.label())],
                ),
                session: Some(SessionResponse::from(logged_in)),
            }),
        )),
        Finished::Linked(provider) => Ok((
            StatusCode::OK,
            Json(CallbackResponse {
                result: "linked".into(),
                provider: provider.as_str().into(),
                message: crate::messages::format(
                    "external_login_bound",
                    &[("provider", provider.label())],
                ),
                session: None,
            }),
        )),
    }
}
