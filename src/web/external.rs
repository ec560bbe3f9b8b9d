//! 微信登录 / 支付宝登录 in the browser: the login page's buttons, 绑定 and 解除绑定 in 账号管理,
//! and the page the platform sends the browser back to (`/oauth/{provider}/callback`). The
//! flows are `application::external`'s, as for the API; the flow's browser cookie is HttpOnly,
//! SameSite=Lax and lives 10 minutes.

use super::page::{form_session, render, Chrome, Csrf};
use crate::application::account::AccountManagement;
use crate::application::external::{ExternalError, ExternalLogins, Finished};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::oauth::{Provider, Purpose, BROWSER_COOKIE, STATE_SECONDS};
use crate::security::new_token;
use crate::state::SharedState;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use xuexin_domain::AccountId;

/// The platforms configured here, for the buttons: (`wechat`, 微信).
pub fn configured(external: &ExternalLogins) -> Vec<(&'static str, &'static str)> {
    [Provider::WeChat, Provider::Alipay]
        .into_iter()
        .filter(|p| external.providers.configured(*p))
        .map(|p| (p.as_str(), p.label()))
        .collect()
}

#[derive(Serialize)]
struct GoView<'a> {
    chrome: Chrome,
    url: &'a str,
    message: String,
}

/// A page of this site that moves on to `url` elsewhere by itself, for a form whose answer
/// leads off the site (the CSP's `form-action 'self'` keeps a POST from being redirected there).
pub(super) fn go_to(state: &SharedState, csrf: &Csrf, url: &str, message: String) -> Response {
    let view = GoView {
        chrome: Chrome::new("web.external.title", "/login", csrf, false),
        url,
        message,
    };
    csrf.keep(state, render(StatusCode::OK, "external_go.html", view))
}

#[derive(Serialize)]
struct OutcomeView {
    chrome: Chrome,
    ok: bool,
    message: String,
    /// Where the page's one link goes.
    next: &'static str,
}

fn outcome(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    message: String,
    next: &'static str,
) -> Response {
    let view = OutcomeView {
        chrome: Chrome::new("web.external.title", "/login", csrf, next == "/account"),
        ok: status.is_success(),
        message,
        next,
    };
    csrf.keep(state, render(status, "external.html", view))
}

/// A refusal's status and text.
fn refusal(error: ExternalError) -> (StatusCode, String) {
    let text = |code: &str| messages::text(code).to_string();
    match error {
        ExternalError::ProviderInvalid => (StatusCode::NOT_FOUND, text("provider_invalid")),
        ExternalError::ProviderUnavailable => {
            (StatusCode::NOT_FOUND, text("oauth_provider_unavailable"))
        }
        ExternalError::StateInvalid => (StatusCode::BAD_REQUEST, text("oauth_state_invalid")),
        ExternalError::Denied => (StatusCode::BAD_REQUEST, text("oauth_denied")),
        ExternalError::Exchange(crate::oauth::ExchangeError::Rejected(_)) => {
            (StatusCode::BAD_REQUEST, text("oauth_code_invalid"))
        }
        ExternalError::Exchange(crate::oauth::ExchangeError::Provider(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "a platform could not be reached"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                text("oauth_provider_error"),
            )
        }
        ExternalError::Login(crate::application::login::LoginError::NotLinked) => {
            (StatusCode::NOT_FOUND, text("external_login_not_linked"))
        }
        ExternalError::Login(crate::application::login::LoginError::Locked { .. }) => {
            (StatusCode::LOCKED, text("account_locked"))
        }
        ExternalError::Manage(crate::application::account::ManageError::Conflict(code)) => {
            (StatusCode::CONFLICT, text(code))
        }
        ExternalError::Manage(crate::application::account::ManageError::Taken { code, .. }) => {
            (StatusCode::CONFLICT, text(code))
        }
        other => {
            tracing::error!(error = format!("{other:#}"), "an external login failed");
            (StatusCode::INTERNAL_SERVER_ERROR, text("internal_error"))
        }
    }
}

/// Sends the browser on to the platform, with the flow's cookie. A form's POST may not be
/// redirected to another site (the CSP's `form-action 'self'`, which Chromium applies to
/// redirects), so the answer is a page of this site that moves on by itself (a meta refresh,
/// not governed by `form-action`) and offers the link.
fn to_platform(
    state: &SharedState,
    csrf: &Csrf,
    browser: &str,
    fresh: bool,
    provider: Provider,
    url: &str,
) -> Response {
    let message = messages::format("web.external.going", &[("provider", provider.label())]);
    let mut response = go_to(state, csrf, url, message);
    if fresh {
        let secure = if state.config.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{BROWSER_COOKIE}={browser}; Path=/; Max-Age={STATE_SECONDS}; HttpOnly; SameSite=Lax{secure}"
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn browser_of(headers: &HeaderMap) -> (String, bool) {
    match crate::http::language::cookie(headers, BROWSER_COOKIE) {
        Some(value) => (value.to_string(), false),
        None => (new_token(), true),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    /// A partner platform's sign-in waiting for this login (the login page's `sso`).
    #[serde(default)]
    sso: String,
}

/// Carries a partner platform's waiting sign-in through WeChat / Alipay and back (as long as
/// the request itself lives).
const SSO_COOKIE: &str = "xuexin_sso";

async fn start(
    state: &SharedState,
    external: &ExternalLogins,
    csrf: &Csrf,
    headers: &HeaderMap,
    provider: &str,
    purpose: Purpose,
    account: Option<AccountId>,
) -> Response {
    let next = if account.is_some() {
        "/account"
    } else {
        "/login"
    };
    let provider = match external.provider(provider) {
        Ok(provider) => provider,
        Err(error) => {
            let (status, message) = refusal(error);
            return outcome(state, csrf, status, message, next);
        }
    };
    let (browser, fresh) = browser_of(headers);
    let back = format!("/oauth/{}/callback", provider.as_str());
    match external
        .start(provider, purpose, account, &browser, &back)
        .await
    {
        Ok(started) => to_platform(
            state,
            csrf,
            &browser,
            fresh,
            provider,
            &started.authorize_url,
        ),
        Err(error) => {
            let (status, message) = refusal(error);
            outcome(state, csrf, status, message, next)
        }
    }
}

/// 微信登录 / 支付宝登录 from the login page.
#[tracing::instrument(skip_all)]
pub async fn login_with(
    State(state): State<SharedState>,
    State(external): State<ExternalLogins>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/login");
    }
    let mut response = start(
        &state,
        &external,
        &csrf,
        &headers,
        &provider,
        Purpose::Login,
        None,
    )
    .await;
    let waiting = !form.sso.is_empty()
        && form
            .sso
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if waiting {
        let lifetime = (crate::application::sso::REQUEST_TTL_MS / 1000) as u64;
        response.headers_mut().append(
            header::SET_COOKIE,
            super::page::set_cookie(&state, SSO_COOKIE, &form.sso, lifetime),
        );
    }
    response
}

/// 绑定 a platform to the logged-in account.
#[tracing::instrument(skip_all)]
pub async fn bind(
    State(state): State<SharedState>,
    State(external): State<ExternalLogins>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/account").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if session.staff.is_some() || session.pending_review {
        let message = messages::text("forbidden").to_string();
        return outcome(&state, &csrf, StatusCode::FORBIDDEN, message, "/account");
    }
    let account = Some(session.account_id);
    start(
        &state,
        &external,
        &csrf,
        &headers,
        &provider,
        Purpose::Bind,
        account,
    )
    .await
}

/// 解除绑定 a platform.
#[tracing::instrument(skip_all)]
pub async fn unbind(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
    context: RequestContext,
    Path(provider): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/account").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Some(provider) = Provider::parse(&provider) else {
        let message = messages::text("provider_invalid").to_string();
        return outcome(&state, &csrf, StatusCode::NOT_FOUND, message, "/account");
    };
    let metadata = context.metadata(session.actor());
    match account
        .unlink_external_login(&session, provider, &metadata)
        .await
    {
        Ok(position) => {
            super::page::reflect(&state, &[xuexin_projections::account_view::NAME], position).await;
            let message =
                messages::format("external_login_unbound", &[("provider", provider.label())]);
            outcome(&state, &csrf, StatusCode::OK, message, "/account")
        }
        Err(error) => {
            let (status, message) = refusal(ExternalError::Manage(error));
            outcome(&state, &csrf, status, message, "/account")
        }
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    auth_code: Option<String>,
    state: Option<String>,
}

/// Where the platform sends the browser back: a login opens the session and goes to 账号管理;
/// a bind says so; a refusal says why.
#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<SharedState>,
    State(external): State<ExternalLogins>,
    headers: HeaderMap,
    context: RequestContext,
    Path(provider): Path<String>,
    Query(query): Query<Callback>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let provider = match external.provider(&provider) {
        Ok(provider) => provider,
        Err(error) => {
            let (status, message) = refusal(error);
            return outcome(&state, &csrf, status, message, "/login");
        }
    };
    let browser = crate::http::language::cookie(&headers, BROWSER_COOKIE);
    let code = query.code.as_deref().or(query.auth_code.as_deref());
    let metadata = context.metadata(xuexin_domain::Actor::Anonymous);
    match external
        .finish(provider, query.state.as_deref(), browser, code, &metadata)
        .await
    {
        Ok(Finished::LoggedIn(logged_in)) => {
            // Back to the partner platform whose sign-in waited for this login, if any.
            let waiting = match crate::http::language::cookie(&headers, SSO_COOKIE) {
                Some(id) => state.sso.pending(id).await.ok().flatten(),
                None => None,
            };
            let to = waiting.map_or_else(
                || "/account".to_string(),
                |pending| format!("/oauth2/continue?sso={}", pending.id),
            );
            let mut response = super::page::signed_in(&state, &logged_in.token, &to);
            response.headers_mut().append(
                header::SET_COOKIE,
                super::page::set_cookie(&state, SSO_COOKIE, "", 0),
            );
            response
        }
        Ok(Finished::Linked(provider)) => {
            let message =
                messages::format("external_login_bound", &[("provider", provider.label())]);
            outcome(&state, &csrf, StatusCode::OK, message, "/account")
        }
        Err(error) => {
            let (status, message) = refusal(error);
            outcome(&state, &csrf, status, message, "/login")
        }
    }
}
