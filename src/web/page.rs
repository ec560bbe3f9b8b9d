//! What every page is made of: the templates, the frame around a page, cookies, the CSRF
//! binding, the browser's session.

use crate::messages::{self, Language};
use crate::security::{constant_time_eq, new_token};
use crate::sessions::Session;
use crate::state::SharedState;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::Environment;
use serde::Serialize;
use std::sync::LazyLock;

pub const SESSION_COOKIE: &str = "xuexin_session";
pub const CSRF_COOKIE: &str = "xuexin_csrf";
pub use crate::http::language::{cookie, LANGUAGE_COOKIE};

/// The templates, by name (compiled into the binary).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("forms.html", include_str!("templates/forms.html")),
    ("login.html", include_str!("templates/login.html")),
    ("account.html", include_str!("templates/account.html")),
    (
        "account_log.html",
        include_str!("templates/account_log.html"),
    ),
    (
        "account_phone.html",
        include_str!("templates/account_phone.html"),
    ),
    (
        "account_sessions.html",
        include_str!("templates/account_sessions.html"),
    ),
    ("archive.html", include_str!("templates/archive.html")),
    (
        "archive_bind.html",
        include_str!("templates/archive_bind.html"),
    ),
    ("identity.html", include_str!("templates/identity.html")),
    (
        "identity_records.html",
        include_str!("templates/identity_records.html"),
    ),
    (
        "account_change.html",
        include_str!("templates/account_change.html"),
    ),
    (
        "identity_proof.html",
        include_str!("templates/identity_proof.html"),
    ),
    ("inbox.html", include_str!("templates/inbox.html")),
    ("external.html", include_str!("templates/external.html")),
    (
        "external_go.html",
        include_str!("templates/external_go.html"),
    ),
    ("support.html", include_str!("templates/support.html")),
    ("refused.html", include_str!("templates/refused.html")),
    ("sso_error.html", include_str!("templates/sso_error.html")),
    (
        "sso_consent.html",
        include_str!("templates/sso_consent.html"),
    ),
    ("sso_logout.html", include_str!("templates/sso_logout.html")),
    ("register.html", include_str!("templates/register.html")),
    ("registered.html", include_str!("templates/registered.html")),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
    ("recover.html", include_str!("templates/recover.html")),
    (
        "find_username.html",
        include_str!("templates/find_username.html"),
    ),
    (
        "staff_accounts.html",
        include_str!("templates/staff_accounts.html"),
    ),
    ("staff_asof.html", include_str!("templates/staff_asof.html")),
    (
        "staff_audit.html",
        include_str!("templates/staff_audit.html"),
    ),
    (
        "staff_audit_account.html",
        include_str!("templates/staff_audit_account.html"),
    ),
    ("staff_base.html", include_str!("templates/staff_base.html")),
    (
        "staff_chain.html",
        include_str!("templates/staff_chain.html"),
    ),
    (
        "staff_codes.html",
        include_str!("templates/staff_codes.html"),
    ),
    (
        "staff_conscripts.html",
        include_str!("templates/staff_conscripts.html"),
    ),
    (
        "staff_corrections.html",
        include_str!("templates/staff_corrections.html"),
    ),
    (
        "staff_correction_requests.html",
        include_str!("templates/staff_correction_requests.html"),
    ),
    (
        "staff_factor.html",
        include_str!("templates/staff_factor.html"),
    ),
    (
        "staff_forbidden.html",
        include_str!("templates/staff_forbidden.html"),
    ),
    ("staff_home.html", include_str!("templates/staff_home.html")),
    (
        "staff_import_report.html",
        include_str!("templates/staff_import_report.html"),
    ),
    (
        "staff_imports.html",
        include_str!("templates/staff_imports.html"),
    ),
    (
        "staff_login.html",
        include_str!("templates/staff_login.html"),
    ),
    (
        "staff_names.html",
        include_str!("templates/staff_names.html"),
    ),
    (
        "staff_review.html",
        include_str!("templates/staff_review.html"),
    ),
    (
        "staff_reviews.html",
        include_str!("templates/staff_reviews.html"),
    ),
    (
        "staff_schools.html",
        include_str!("templates/staff_schools.html"),
    ),
    (
        "staff_platforms.html",
        include_str!("templates/staff_platforms.html"),
    ),
    ("staff_slip.html", include_str!("templates/staff_slip.html")),
    (
        "staff_tickets.html",
        include_str!("templates/staff_tickets.html"),
    ),
    (
        "staff_unchecked.html",
        include_str!("templates/staff_unchecked.html"),
    ),
];

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    for (name, source) in TEMPLATES {
        if let Err(error) = env.add_template(name, source) {
            // A test renders every template, so this is a build that was never tested.
            tracing::error!(template = name, error = %error, "a page template does not parse");
        }
    }
    // `t("code")`: the catalogue's text in the request's language.
    env.add_function("t", |code: &str| messages::text(code).to_string());
    env
});

/// What every page shows around its content.
#[derive(Serialize)]
pub struct Chrome {
    /// `zh-CN` or `en` (the `lang` of the page).
    pub lang: &'static str,
    /// The page's title (a catalogue text).
    pub title: String,
    /// The link that shows this page in the other language.
    pub other_language_href: String,
    pub other_language_tag: &'static str,
    /// The other language's name, written in that language.
    pub other_language_name: &'static str,
    /// Whether someone is logged in (the header shows 退出).
    pub logged_in: bool,
    /// The CSRF token for the forms of the page.
    pub csrf: String,
}

impl Chrome {
    pub fn new(title_code: &str, path: &str, csrf: &Csrf, logged_in: bool) -> Self {
        let language = messages::current();
        let other = match language {
            Language::Zh => Language::En,
            Language::En => Language::Zh,
        };
        let back: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        Self {
            lang: language.tag(),
            title: messages::text(title_code).to_string(),
            other_language_href: format!("/language?to={}&back={back}", other.tag()),
            other_language_tag: other.tag(),
            other_language_name: match other {
                Language::Zh => messages::text("language.native.zh"),
                Language::En => messages::text("language.native.en"),
            },
            logged_in,
            csrf: csrf.token.clone(),
        }
    }
}

/// Renders `template` with `context`; a page that cannot be rendered is a 500 with a plain
/// text, logged.
pub fn render(status: StatusCode, template: &str, context: impl Serialize) -> Response {
    let rendered = PAGES.get_template(template).and_then(|t| t.render(context));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(
                template,
                error = format!("{error:#}"),
                "a page failed to render"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                messages::text("internal_error"),
            )
                .into_response()
        }
    }
}

/// `Set-Cookie` for one of ours: HttpOnly, SameSite=Lax, the whole site; Secure over https.
/// `max_age` 0 removes it.
pub fn set_cookie(state: &SharedState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A login that opened a session: the session cookie (for the session's lifetime) and the way
/// to `to`. The person's login, WeChat / Alipay, and the staff sign-in all end here.
pub fn signed_in(state: &SharedState, token: &str, to: &str) -> Response {
    let mut response = axum::response::Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            SESSION_COOKIE,
            token,
            state.config.session_ttl.as_secs(),
        ),
    );
    response
}

/// The browser's CSRF binding: a random value in its own cookie, and the token the forms carry
/// (a keyed digest of it, so the cookie alone does not make a token).
pub struct Csrf {
    binding: String,
    token: String,
    fresh: bool,
}

const CSRF_MAX_AGE: u64 = 30 * 24 * 3600;

impl Csrf {
    /// The browser's binding, or a new one to be set on the answer.
    pub fn of(state: &SharedState, headers: &HeaderMap) -> Self {
        let (binding, fresh) = match cookie(headers, CSRF_COOKIE) {
            Some(value) => (value.to_string(), false),
            None => (new_token(), true),
        };
        let token = state.digest.digest("web-csrf", binding.as_bytes());
        Self {
            binding,
            token,
            fresh,
        }
    }

    /// Whether a form's token is this browser's (false without the cookie).
    pub fn accepts(&self, form_token: &str) -> bool {
        !self.fresh && constant_time_eq(self.token.as_bytes(), form_token.as_bytes())
    }

    /// Sets the binding cookie on `response` if it is new.
    pub fn keep(&self, state: &SharedState, mut response: Response) -> Response {
        if self.fresh {
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(state, CSRF_COOKIE, &self.binding, CSRF_MAX_AGE),
            );
        }
        response
    }
}

/// The session of the browser's session cookie, if it is still valid.
pub async fn browser_session(state: &SharedState, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, SESSION_COOKIE)?;
    match state.sessions.authenticate(token).await {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not read a browser session"
            );
            None
        }
    }
}

/// The pages an account waiting for identity review may open: its account overview, the
/// review's own pages, logging out and the pages anyone may open.
const PENDING_REVIEW_PAGES: &[&str] = &[
    "/",
    "/account",
    "/logout",
    "/language",
    "/login",
    "/register",
    "/recover",
    "/reset-password",
    "/find-username",
];

/// The same, for whole groups of pages.
const PENDING_REVIEW_PREFIXES: &[&str] = &["/identity", "/verify-email"];

/// The pages a staff session may open before its second factor.
const BEFORE_FACTOR: &[&str] = &[
    "/staff/factor",
    "/staff/factor/qr.svg",
    "/staff/login",
    "/logout",
    "/language",
];

/// Middleware of the pages, reading the browser's session once:
/// - a staff session that has not passed its second factor is sent to `/staff/factor` from
///   every other page (as the API answers 403 `second_factor_required`);
/// - a session waiting for identity review is sent to 证件号码重复 from every other page,
///   until the review has ended (then the session is freed, as the API's `Authenticated`
///   frees it).
pub async fn session_guard(
    axum::extract::State(state): axum::extract::State<SharedState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let review_allowed = PENDING_REVIEW_PAGES.contains(&path)
        || PENDING_REVIEW_PREFIXES
            .iter()
            .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    let factor_allowed = BEFORE_FACTOR.contains(&path);
    if review_allowed && factor_allowed {
        return next.run(request).await;
    }
    let Some(session) = browser_session(&state, request.headers()).await else {
        return next.run(request).await;
    };
    if session.factor_pending && !factor_allowed {
        return axum::response::Redirect::to("/staff/factor").into_response();
    }
    if !session.pending_review || review_allowed {
        return next.run(request).await;
    }
    let still_pending = match state
        .store
        .load::<xuexin_domain::account::Account>(&session.account_id.to_string())
        .await
    {
        Ok(loaded) => {
            loaded.aggregate.status()
                == Some(xuexin_domain::account::AccountStatus::PendingIdentityReview)
        }
        Err(error) => return read_failed(error, "the account of a pending session"),
    };
    if still_pending {
        return axum::response::Redirect::to("/identity").into_response();
    }
    if let Err(error) = state
        .sessions
        .clear_pending_review(session.account_id)
        .await
    {
        return read_failed(error, "freeing a reviewed session");
    }
    next.run(request).await
}

/// Lets the page's forms end in a redirect to `targets` (a partner platform's redirect URI):
/// the CSP's `form-action` names their origins too.
pub fn with_form_targets(mut response: Response, targets: &[&str]) -> Response {
    let policy = crate::http::headers::csp_with_form_targets(targets);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The 403 page of a form sent without this browser's CSRF token; nothing was done.
pub fn refused(state: &SharedState, csrf: &Csrf, path: &str) -> Response {
    let page = render(
        StatusCode::FORBIDDEN,
        "refused.html",
        minijinja::context! {
            chrome => Chrome::new("web.refused.title", path, csrf, false),
        },
    );
    csrf.keep(state, page)
}

/// Waits (boundedly) until `views` have applied `position`: a page shown right after a change
/// reads what the change wrote. Past the bound the page shows what there is.
pub async fn reflect(state: &SharedState, views: &[&'static str], position: Option<i64>) {
    if let Some(position) = position {
        if let Err(error) = state.reads.wait(views, position).await {
            tracing::warn!(error = %error, "a view lags a write the page shows");
        }
    }
}

/// A logged-in page's first step: the browser's session (else the way to the login page) and
/// its CSRF binding for the page's forms.
pub async fn page_session(
    state: &SharedState,
    headers: &HeaderMap,
) -> Result<(Csrf, Session), Response> {
    match browser_session(state, headers).await {
        Some(session) => Ok((Csrf::of(state, headers), session)),
        None => Err(axum::response::Redirect::to("/login").into_response()),
    }
}

/// A logged-in form's first steps: this browser's CSRF token, then its session. `Err` is the
/// answer instead: the 403 page (nothing was done) or the way to the login page.
pub async fn form_session(
    state: &SharedState,
    headers: &HeaderMap,
    token: &str,
    path: &str,
) -> Result<(Csrf, Session), Response> {
    let csrf = Csrf::of(state, headers);
    if !csrf.accepts(token) {
        return Err(refused(state, &csrf, path));
    }
    match browser_session(state, headers).await {
        Some(session) => Ok((csrf, session)),
        None => Err(axum::response::Redirect::to("/login").into_response()),
    }
}

/// How a form shows a refused SMS code: its status, the message's code, whether it sits at the
/// code's field (else above the form: the gateway or the store failed), and the seconds the
/// 免费获取 countdown waits.
pub struct CodeRefusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub at_field: bool,
    pub resend_after: u64,
}

pub fn code_refusal(error: crate::codes::CodeError) -> CodeRefusal {
    use crate::codes::CodeError;
    let at_field = |status, code| CodeRefusal {
        status,
        code,
        at_field: true,
        resend_after: 0,
    };
    match error {
        CodeError::RateLimited(exceeded) => {
            // A wait of minutes is counted down; the daily limit's hours are only said.
            let wait = exceeded.retry_after.as_secs().max(1);
            CodeRefusal {
                resend_after: if wait <= 300 { wait } else { 0 },
                ..at_field(StatusCode::TOO_MANY_REQUESTS, "sms_rate_limited")
            }
        }
        CodeError::Invalid { .. } => at_field(StatusCode::UNPROCESSABLE_ENTITY, "sms_code_invalid"),
        CodeError::TooManyAttempts => {
            at_field(StatusCode::UNPROCESSABLE_ENTITY, "sms_code_attempts")
        }
        CodeError::Gateway(error) => {
            tracing::error!(error = format!("{error:#}"), "the SMS gateway failed");
            CodeRefusal {
                at_field: false,
                ..at_field(StatusCode::SERVICE_UNAVAILABLE, "sms_gateway_unavailable")
            }
        }
        CodeError::Store(error) => {
            tracing::error!(error = format!("{error:#}"), "the code store failed");
            CodeRefusal {
                at_field: false,
                ..at_field(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

/// A read the page needs failed: logged, and the catalogue's 系统错误 in its place.
pub fn read_failed(error: anyhow::Error, what: &str) -> Response {
    tracing::error!(
        error = format!("{error:#}"),
        what,
        "a page could not read its data"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        messages::text("internal_error"),
    )
        .into_response()
}

/// The pages' style sheet and their script (the pages work without it).
pub fn static_files() -> Router<SharedState> {
    fn asset(
        content_type: &'static str,
        body: &'static str,
    ) -> axum::routing::MethodRouter<SharedState> {
        get(move || async move {
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                body,
            )
        })
    }
    Router::new()
        .route(
            "/static/web.css",
            asset("text/css; charset=utf-8", include_str!("static/web.css")),
        )
        .route(
            "/static/icon.svg",
            asset("image/svg+xml", include_str!("static/icon.svg")),
        )
        .route(
            "/static/web.js",
            asset(
                "text/javascript; charset=utf-8",
                include_str!("static/web.js"),
            ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            assert!(
                TEMPLATES.iter().any(|(known, _)| *known == name),
                "{name} is not in TEMPLATES"
            );
        }
    }

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn templates_hold_no_text_of_their_own_and_only_codes_of_the_catalogue() {
        for (name, source) in TEMPLATES {
            assert!(
                !source
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{name} has Chinese text outside the catalogue"
            );
            for part in source.split("t(\"").skip(1) {
                let code = part.split('"').next().unwrap_or("");
                assert!(
                    messages::has(code),
                    "{name}: {code} is not in the catalogue"
                );
            }
        }
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; xuexin_session=tok; b="),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "c"), None);
    }
}
