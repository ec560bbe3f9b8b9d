//! 微信登录 / 支付宝登录: bind an external login to the logged-in account, log in with it, and
//! (in `account`) unbind it. The flow's `state` is single use and bound to the browser that
//! started it (an HttpOnly cookie) and, for a bind, to the account.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::{OAuthPurpose, OAuthResult};
use super::sessions::SessionResponse;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::oauth::{ExchangeError, Provider, Purpose, BROWSER_COOKIE, STATE_SECONDS};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::security::new_token;
use crate::sessions::Session;
use crate::state::{AppState, SharedState};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::{AccountId, Actor};

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(callback))
}

fn provider_of(state: &AppState, raw: &str) -> Result<Provider, Problem> {
    let provider = Provider::parse(raw)
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "provider_invalid"))?;
    if !state.oauth.configured(provider) {
        return Err(Problem::new(
            ProblemKind::NotFound,
            "oauth_provider_unavailable",
        ));
    }
    Ok(provider)
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

fn redirect_uri(state: &AppState, provider: Provider) -> String {
    format!(
        "{}/api/v1/oauth/{}/callback",
        state.config.public_url.trim_end_matches('/'),
        provider.as_str()
    )
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
    let provider = provider_of(&state, &provider)?;
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
            Some(session.account_id.to_string())
        }
    };
    let browser = cookie_value(&headers, BROWSER_COOKIE).unwrap_or_else(new_token);
    let (flow_state, expires_at) = crate::oauth::new_state(
        &state.db,
        provider,
        purpose,
        account.as_deref(),
        &browser,
        state.clock.now(),
    )
    .await?;
    let authorize_url = state
        .oauth
        .authorize_url(provider, &redirect_uri(&state, provider), &flow_state)
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "oauth_provider_unavailable"))?;
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
    State(state): State<SharedState>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(query): ApiQuery<CallbackQuery>,
    headers: HeaderMap,
    context: RequestContext,
) -> Result<(StatusCode, Json<CallbackResponse>), Problem> {
    let provider = provider_of(&state, &provider)?;
    let invalid_state = || Problem::new(ProblemKind::BadRequest, "oauth_state_invalid");
    let flow_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid_state)?;
    let browser = cookie_value(&headers, BROWSER_COOKIE).ok_or_else(invalid_state)?;
    let now = state.clock.now();
    // The state is used up first: a code cannot be tried twice on one flow.
    let (purpose, account) =
        crate::oauth::take_state(&state.db, provider, flow_state, &browser, now)
            .await?
            .ok_or_else(invalid_state)?;
    let code = query
        .code
        .as_deref()
        .or(query.auth_code.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Problem::new(ProblemKind::BadRequest, "oauth_denied"))?;
    let subject = state
        .oauth
        .exchange(provider, code, now)
        .await
        .map_err(exchange_problem)?;
    match purpose {
        Purpose::Login => {
            let logged_in = crate::application::login::external_login(
                &state.login,
                provider,
                &subject,
                &context.metadata(Actor::Anonymous),
            )
            .await
            .map_err(super::sessions::login_problem)?;
            Ok((
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
            ))
        }
        Purpose::Bind => {
            let account_id = account
                .as_deref()
                .and_then(AccountId::parse)
                .ok_or_else(invalid_state)?;
            let metadata = context.metadata(Actor::Account(account_id.to_string()));
            state
                .account
                .link_external_login(account_id, provider, &subject, &metadata)
                .await
                .map_err(super::account::manage_problem)?;
            Ok((
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
            ))
        }
    }
}
