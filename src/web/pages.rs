//! The pages and their forms: login, the account overview, logout, the language switch.

use super::page::{
    browser_session, form_session, page_session, read_failed, render, set_cookie, Chrome, Csrf,
    LANGUAGE_COOKIE, SESSION_COOKIE,
};
use crate::application::account::AccountManagement;
use crate::application::login::{self, Login, LoginError};
use crate::http::extract::RequestContext;
use crate::messages::{self, Language};
use crate::state::SharedState;
use axum::extract::{DefaultBodyLimit, Form, Query, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_domain::values::Secret;
use xuexin_domain::Actor;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/login/{provider}", post(super::external::login_with))
        .route("/oauth/{provider}/callback", get(super::external::callback))
        .route("/account/bind/{provider}", post(super::external::bind))
        .route("/account/unbind/{provider}", post(super::external::unbind))
        .route("/account", get(account_page))
        .route("/account/grants/{client_id}/revoke", post(revoke_grant))
        .route("/account/log", get(account_log_page))
        .route(
            "/account/change/{what}",
            get(super::changes::change_page).post(super::changes::change_submit),
        )
        .route(
            "/account/sessions",
            get(super::sessions::sessions_page).post(super::sessions::sessions_submit),
        )
        .route(
            "/account/phone",
            get(super::manage::phone_page).post(super::manage::phone_submit),
        )
        .route("/archive", get(super::archive::archive))
        .route("/archive/check", post(super::archive::check_submit))
        .route(
            "/archive/bind",
            get(super::archive::bind_form).post(super::archive::bind_submit),
        )
        .route("/archive/photo/{record}/{kind}", get(super::archive::photo))
        .route("/identity", get(super::identity::claim_page))
        .route(
            "/identity/records",
            get(super::identity::records_form).post(super::identity::records_submit),
        )
        .route(
            "/identity/classmates",
            get(super::identity::classmates_form).post(super::identity::invite_submit),
        )
        .route(
            "/identity/photo",
            get(super::identity::photo_form)
                .post(super::identity::photo_submit)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/support",
            get(super::support::support_page)
                .post(super::support::file_ticket)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/support/{ticket}/close",
            post(super::support::close_ticket),
        )
        .route(
            "/support/{ticket}/screenshot",
            get(super::support::screenshot),
        )
        .route(
            "/identity/liveness",
            get(super::identity::liveness_form).post(super::identity::liveness_submit),
        )
        .route(
            "/inbox",
            get(super::identity::inbox).post(super::identity::inbox_answer),
        )
        .route("/language", get(choose_language))
        .route(
            "/verify-email",
            get(super::email::verify_page).post(super::email::verify_submit),
        )
        .route("/verify-email/resend", post(super::email::resend_submit))
        .route("/verify-email/send", post(super::email::send_to_address))
        .route(
            "/find-username",
            get(super::recover::find_username_page).post(super::recover::find_username_submit),
        )
        .route("/reset-password", get(super::recover::reset_link_page))
        .route(
            "/recover",
            get(super::recover::recover_page).post(super::recover::recover_submit),
        )
        .route(
            "/register",
            get(super::register::register_page).post(super::register::register_submit),
        )
}

/// The forms that carry an image (a photo, a screenshot): the image's 2 MB and the form's
/// other fields. Every other request keeps the API's 64 KiB.
const UPLOAD_LIMIT: usize = crate::blobs::MAX_IMAGE_BYTES + 64 * 1024;

/// `/`: the account for someone logged in, else the login page.
async fn home(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    match browser_session(&state, &headers).await {
        Some(_) => Redirect::to("/account").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// A field's error, shown under it and tied to it (`aria-describedby`).
type FieldErrors = BTreeMap<&'static str, String>;

#[derive(Serialize)]
struct LoginView<'a> {
    chrome: Chrome,
    login: &'a str,
    errors: FieldErrors,
    /// 微信登录 / 支付宝登录: the platforms configured here.
    platforms: Vec<(&'static str, &'static str)>,
    /// A partner platform's sign-in waiting for this login (`?sso=`), and the line naming it.
    sso: Option<String>,
    sso_for: Option<String>,
}

/// A partner platform's sign-in waiting for a login.
struct SsoLogin {
    id: String,
    /// 登录后将返回 ….
    line: String,
    hint: Option<String>,
    redirect_uri: String,
}

/// The partner platform's sign-in a login page carries: its id and the line naming the
/// platform (登录后将返回 …), if the request is still waiting.
async fn sso_of(state: &SharedState, id: Option<&str>) -> Option<SsoLogin> {
    let id = id.filter(|id| !id.is_empty())?;
    match state.sso.pending(id).await {
        Ok(Some(pending)) => Some(SsoLogin {
            id: pending.id,
            line: messages::format(
                "web.sso.login_for",
                &[("platform", &pending.request.platform)],
            ),
            hint: pending.request.login_hint,
            redirect_uri: pending.request.redirect_uri,
        }),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not read a sign-in request"
            );
            None
        }
    }
}

fn login_form(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    login: &str,
    errors: FieldErrors,
    sso: Option<SsoLogin>,
) -> Response {
    let target = sso.as_ref().map(|s| s.redirect_uri.clone());
    let (sso, sso_for) = sso.map(|s| (s.id, s.line)).unzip();
    let page = render(
        status,
        "login.html",
        LoginView {
            chrome: Chrome::new("web.login.title", "/login", csrf, false),
            login,
            errors,
            sso,
            sso_for,
            platforms: super::external::configured(&state.external)
                .into_iter()
                .map(|(key, _)| {
                    let code = format!("web.login.with_{key}");
                    (key, messages::text(&code))
                })
                .collect(),
        },
    );
    let page = match target {
        Some(target) => super::page::with_form_targets(page, &[&target]),
        None => page,
    };
    csrf.keep(state, page)
}

#[derive(Deserialize)]
struct LoginQuery {
    sso: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn login_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    // A partner platform's sign-in shows the form even to someone logged in: the provider
    // sends them here only when it wants a (fresh) login.
    let sso = sso_of(&state, query.sso.as_deref()).await;
    if sso.is_none() && browser_session(&state, &headers).await.is_some() {
        return Redirect::to("/account").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let hint = sso
        .as_ref()
        .and_then(|s| s.hint.clone())
        .unwrap_or_default();
    login_form(
        &state,
        &csrf,
        StatusCode::OK,
        &hint,
        FieldErrors::new(),
        sso,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sso: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// Where each refusal of a login shows, and with what status (also the staff sign-in's).
pub(super) fn login_refusal(error: LoginError) -> (StatusCode, FieldErrors) {
    let mut errors = FieldErrors::new();
    let status = match error {
        LoginError::Missing { login, password } => {
            if login {
                errors.insert("login", messages::text("login_required").into());
            }
            if password {
                errors.insert("password", messages::text("password_required").into());
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        LoginError::InvalidCredentials | LoginError::NotLinked => {
            errors.insert("password", messages::text("invalid_credentials").into());
            StatusCode::UNAUTHORIZED
        }
        LoginError::Locked { .. } => {
            errors.insert("password", messages::text("account_locked").into());
            StatusCode::LOCKED
        }
        LoginError::RateLimited { .. } => {
            errors.insert("password", messages::text("login_rate_limited").into());
            StatusCode::TOO_MANY_REQUESTS
        }
        LoginError::Busy => {
            errors.insert("password", messages::text("overloaded").into());
            StatusCode::SERVICE_UNAVAILABLE
        }
        LoginError::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "login failed");
            errors.insert("password", messages::text("internal_error").into());
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    (status, errors)
}

#[tracing::instrument(skip_all)]
async fn login_submit(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<LoginForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/login");
    }
    let result = login::login(
        &services,
        &form.login,
        Secret::new(form.password),
        &context.metadata(Actor::Anonymous),
    )
    .await;
    let sso = sso_of(&state, Some(&form.sso)).await;
    match result {
        Ok(logged_in) => {
            let to = match &sso {
                Some(sso) => format!("/oauth2/continue?sso={}", sso.id),
                None => "/account".to_string(),
            };
            super::page::signed_in(&state, &logged_in.token, &to)
        }
        Err(error) => {
            let (status, errors) = login_refusal(error);
            login_form(&state, &csrf, status, form.login.trim(), errors, sso)
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// 退出: ends this browser's session.
#[tracing::instrument(skip_all)]
async fn logout(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/account");
    }
    if let Some(session) = browser_session(&state, &headers).await {
        if let Err(error) = login::logout(&services, &session).await {
            tracing::error!(error = format!("{error:#}"), "logout failed");
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    response
}

/// One line of the account overview.
#[derive(Serialize)]
struct Line {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct AccountView {
    chrome: Chrome,
    /// 邮箱绑定成功, once after the address was verified in this browser.
    notice: Option<&'static str>,
    /// The security e-mail waits for its link: 重新发送激活邮件.
    email_pending: bool,
    /// The account re-registered with a held ID number: 解决身份证号重复的问题.
    pending_review: bool,
    /// WeChat and Alipay: (key, name, bound) for each platform configured or bound.
    platforms: Vec<(&'static str, &'static str, bool)>,
    name: String,
    lines: Vec<Line>,
    /// The partner platforms that sign the person in: (client_id, name, what they receive).
    grants: Vec<(String, String, Vec<&'static str>)>,
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// 撤销授权: a partner platform no longer signs the person in; its tokens die at once.
#[tracing::instrument(skip_all)]
async fn revoke_grant(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    axum::extract::Path(client_id): axum::extract::Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (_, session) = match form_session(&state, &headers, &form.csrf, "/account").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let metadata = context.metadata(session.actor());
    match state
        .sso
        .revoke_grant(session.account_id, &client_id, &metadata)
        .await
    {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(error) => read_failed(error, "a platform grant"),
    }
}

/// 账号管理: the account at a glance.
#[tracing::instrument(skip_all)]
async fn account_page(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
) -> Response {
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let grants = if session.staff.is_none() {
        match state.sso.grants(session.account_id).await {
            Ok(grants) => grants
                .into_iter()
                .map(|g| {
                    let scopes: Vec<&str> = g
                        .scopes
                        .iter()
                        .map(|s| messages::text(&format!("scope.{s}")))
                        .collect();
                    (g.client_id, g.platform, scopes)
                })
                .collect(),
            Err(error) => return read_failed(error, "the platform grants"),
        }
    } else {
        Vec::new()
    };
    // Never a view older than the login that opened the session (as `GET /api/v1/me`); past
    // the bounded wait the page shows what there is.
    if session.staff.is_none() {
        let views = [xuexin_projections::account_view::NAME];
        super::page::reflect(&state, &views, Some(session.position)).await;
    }
    let profile = match account.profile(&session).await {
        Ok(Some(profile)) => profile,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(error) => return read_failed(error, "the profile"),
    };
    let none = || messages::text("label.none").to_string();
    let time =
        |t: Option<xuexin_domain::Timestamp>| t.map_or_else(none, crate::messenger::beijing_time);
    let mut lines = vec![
        Line {
            label: messages::text("web.account.phone"),
            value: profile.phone.clone().unwrap_or_else(none),
        },
        Line {
            label: messages::text("web.account.document"),
            value: format!(
                "{} {}",
                profile.document_type_label, profile.document_number
            ),
        },
        Line {
            label: messages::text("web.account.email"),
            value: match &profile.email {
                Some(email) => format!(
                    "{} ({})",
                    xuexin_domain::values::mask_email(email),
                    messages::text(match profile.email_status {
                        "verified" => "web.account.email_verified",
                        _ => "web.account.email_pending",
                    })
                ),
                None => none(),
            },
        },
        Line {
            label: messages::text("web.account.status"),
            value: messages::text(match profile.status.as_str() {
                "Locked" => "web.account.status_locked",
                "PendingIdentityReview" => "web.account.status_pending_review",
                "Deactivated" => "web.account.status_deactivated",
                _ => "web.account.status_active",
            })
            .to_string(),
        },
        Line {
            label: messages::text("web.account.registered_at"),
            value: time(profile.registered_at),
        },
        Line {
            label: messages::text("web.account.last_login_at"),
            value: time(profile.last_login_at),
        },
    ];
    if profile.role.is_some() {
        lines.clear(); // a staff account has no personal details
    }
    let email_bound = profile.email_status == "verified"
        && crate::http::language::cookie(&headers, super::email::EMAIL_BOUND_COOKIE).is_some();
    let mut page = render(
        StatusCode::OK,
        "account.html",
        AccountView {
            chrome: Chrome::new("web.account.title", "/account", &csrf, true),
            notice: email_bound.then(|| messages::text("web.account.email_bound")),
            email_pending: profile.role.is_none()
                && profile.email.is_some()
                && profile.email_status != "verified",
            pending_review: profile.status == "PendingIdentityReview",
            platforms: [
                crate::oauth::Provider::WeChat,
                crate::oauth::Provider::Alipay,
            ]
            .into_iter()
            .map(|p| {
                let bound = profile.linked_providers.iter().any(|l| l == p.as_str());
                (p.as_str(), p.label(), bound)
            })
            .filter(|(key, _, bound)| {
                *bound
                    || super::external::configured(&state.external)
                        .iter()
                        .any(|(k, _)| k == key)
            })
            .collect(),
            name: profile.name,
            lines,
            grants,
        },
    );
    if email_bound {
        page.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state, super::email::EMAIL_BOUND_COOKIE, "", 0),
        );
    }
    csrf.keep(&state, page)
}

#[derive(Deserialize)]
struct LanguageQuery {
    to: Option<String>,
    back: Option<String>,
}

/// The language switch: remembers the language in a cookie and goes back to the page.
async fn choose_language(
    State(state): State<SharedState>,
    Query(query): Query<LanguageQuery>,
) -> Response {
    let language = query
        .to
        .as_deref()
        .and_then(Language::from_tag)
        .unwrap_or_default();
    // Only a path of this site: never an address elsewhere.
    let back = query
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, LANGUAGE_COOKIE, language.tag(), 365 * 24 * 3600),
    );
    response
}

#[derive(Serialize)]
struct LogLine {
    time: String,
    summary: String,
    actor: String,
}

#[derive(Serialize)]
struct AccountLogView {
    chrome: Chrome,
    entries: Vec<LogLine>,
}

/// 账号日志: the account's history, newest first, in the page's language.
#[tracing::instrument(skip_all)]
async fn account_log_page(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = browser_session(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if session.staff.is_some() {
        return Redirect::to("/account").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let history = match account.history(session.account_id).await {
        Ok(history) => history,
        Err(error) => return read_failed(error, "the history"),
    };
    let entries = history
        .into_iter()
        .rev()
        .map(|entry| LogLine {
            time: xuexin_domain::Timestamp::parse_rfc3339(&entry.time)
                .map_or(entry.time, crate::messenger::beijing_time),
            summary: entry.summary,
            actor: entry.actor_label,
        })
        .collect();
    let page = render(
        StatusCode::OK,
        "account_log.html",
        AccountLogView {
            chrome: Chrome::new("web.log.title", "/account/log", &csrf, true),
            entries,
        },
    );
    csrf.keep(&state, page)
}
