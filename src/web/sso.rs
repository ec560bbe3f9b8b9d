//! The OpenID provider's browser side (issue 17): the authorization endpoint, the way back
//! from the login page, the consent page and RP-initiated logout. The rules are
//! `application::sso`'s; here they become redirects and pages.

use super::page::{browser_session, render, set_cookie, Chrome, Csrf, SESSION_COOKIE};
use crate::application::login;
use crate::application::sso::{
    error_redirect, parameters, AuthorizeError, AuthorizeParams, LogoutStep, Step,
};
use crate::http::extract::RequestContext;
use crate::http::language::LANGUAGE_COOKIE;
use crate::messages::{self, Language};
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::header::{self, HeaderMap};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth2/continue", get(continue_request))
        .route("/oauth2/consent", get(consent_page).post(consent_submit))
        .route("/oauth2/logout", get(logout_get).post(logout_post))
}

#[derive(Serialize)]
struct ErrorView {
    chrome: Chrome,
    message: &'static str,
}

/// The page for a request that cannot go back to its platform (never a redirect).
fn error_page(
    state: &SharedState,
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
) -> Response {
    let csrf = Csrf::of(state, headers);
    let page = render(
        status,
        "sso_error.html",
        ErrorView {
            chrome: Chrome::new("web.sso.error_title", "/", &csrf, false),
            message: messages::text(code),
        },
    );
    csrf.keep(state, page)
}

fn refusal(state: &SharedState, headers: &HeaderMap, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Page(code) => error_page(state, headers, StatusCode::BAD_REQUEST, code),
        AuthorizeError::Redirect {
            redirect_uri,
            state: request_state,
            error,
            description,
        } => Redirect::to(&error_redirect(
            &state.sso.issuer,
            &redirect_uri,
            request_state.as_deref(),
            error,
            messages::text_in(description, Language::En),
        ))
        .into_response(),
        AuthorizeError::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "an authorization failed");
            error_page(
                state,
                headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
            )
        }
    }
}

fn step(
    state: &SharedState,
    headers: &HeaderMap,
    result: Result<Step, AuthorizeError>,
) -> Response {
    match result {
        Ok(Step::Login(id)) => Redirect::to(&format!("/login?sso={id}")).into_response(),
        Ok(Step::Consent(id)) => Redirect::to(&format!("/oauth2/consent?sso={id}")).into_response(),
        Ok(Step::Redirect(to)) => Redirect::to(&to).into_response(),
        Err(error) => refusal(state, headers, error),
    }
}

async fn authorize(
    state: SharedState,
    headers: HeaderMap,
    context: RequestContext,
    raw: &[u8],
) -> Response {
    let Ok(map) = parameters(raw) else {
        return error_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            "sso.duplicate_parameter",
        );
    };
    let params: AuthorizeParams = match serde_json::to_value(&map).and_then(serde_json::from_value)
    {
        Ok(params) => params,
        Err(_) => {
            return error_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                "validation_failed",
            )
        }
    };
    let session = browser_session(&state, &headers).await;
    let actor = session
        .as_ref()
        .map_or(xuexin_domain::Actor::Anonymous, |s| s.actor());
    let result = state
        .sso
        .authorize(&params, session.as_ref(), &context.metadata(actor))
        .await;
    let mut response = step(&state, &headers, result);
    // ui_locales: the first language we have becomes the pages' language.
    let chosen = params
        .ui_locales
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .find_map(|tag| match tag {
            "zh" | "zh-CN" | "zh-Hans" | "zh-Hans-CN" => Some(Language::Zh),
            "en" | "en-US" | "en-GB" => Some(Language::En),
            _ => None,
        });
    if let Some(language) = chosen {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state, LANGUAGE_COOKIE, language.tag(), 365 * 24 * 3600),
        );
    }
    response
}

#[tracing::instrument(skip_all)]
async fn authorize_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(
        state,
        headers,
        context,
        query.unwrap_or_default().as_bytes(),
    )
    .await
}

#[tracing::instrument(skip_all)]
async fn authorize_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    body: Bytes,
) -> Response {
    authorize(state, headers, context, &body).await
}

#[derive(Deserialize)]
struct Continuation {
    #[serde(default)]
    sso: String,
}

/// After the login page: on with the kept request.
#[tracing::instrument(skip_all)]
async fn continue_request(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Query(query): Query<Continuation>,
) -> Response {
    let session = browser_session(&state, &headers).await;
    let actor = session
        .as_ref()
        .map_or(xuexin_domain::Actor::Anonymous, |s| s.actor());
    let result = state
        .sso
        .proceed(&query.sso, session.as_ref(), &context.metadata(actor))
        .await;
    step(&state, &headers, result)
}

#[derive(Serialize)]
struct ConsentView {
    chrome: Chrome,
    sso: String,
    lead: String,
    scopes: Vec<&'static str>,
}

#[tracing::instrument(skip_all)]
async fn consent_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<Continuation>,
) -> Response {
    let pending = match state.sso.pending(&query.sso).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return error_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                "sso.request_expired",
            )
        }
        Err(error) => return refusal(&state, &headers, AuthorizeError::Internal(error)),
    };
    if browser_session(&state, &headers).await.is_none() {
        return Redirect::to(&format!("/login?sso={}", pending.id)).into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let scopes = pending
        .request
        .scopes
        .iter()
        .map(|scope| messages::text(&format!("scope.{scope}")))
        .collect();
    let page = render(
        StatusCode::OK,
        "sso_consent.html",
        ConsentView {
            chrome: Chrome::new("web.sso.consent_title", "/oauth2/consent", &csrf, true),
            lead: messages::format(
                "web.sso.consent_lead",
                &[("platform", &pending.request.platform)],
            ),
            sso: pending.id,
            scopes,
        },
    );
    let page = super::page::with_form_targets(page, &[&pending.request.redirect_uri]);
    csrf.keep(&state, page)
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sso: String,
    #[serde(default)]
    decision: String,
}

#[tracing::instrument(skip_all)]
async fn consent_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<ConsentForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/oauth2/consent");
    }
    let Some(session) = browser_session(&state, &headers).await else {
        return Redirect::to(&format!("/login?sso={}", form.sso)).into_response();
    };
    let result = state
        .sso
        .decide(
            &form.sso,
            &session,
            form.decision == "allow",
            &context.metadata(session.actor()),
        )
        .await;
    step(&state, &headers, result)
}

#[derive(Serialize)]
struct LogoutView {
    chrome: Chrome,
    params: Vec<(String, String)>,
}

/// Ends this browser's session and goes where the platform asked (else the login page).
async fn sign_out(state: &SharedState, headers: &HeaderMap, to: Option<String>) -> Response {
    if let Some(session) = browser_session(state, headers).await {
        if let Err(error) = login::logout(&state.login, &session).await {
            tracing::error!(error = format!("{error:#}"), "logout failed");
        }
    }
    let mut response = Redirect::to(to.as_deref().unwrap_or("/login")).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", 0));
    response
}

async fn logout(state: SharedState, headers: HeaderMap, method: Method, raw: &[u8]) -> Response {
    let Ok(map) = parameters(raw) else {
        return error_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            "sso.duplicate_parameter",
        );
    };
    let get = |name: &str| map.get(name).map(String::as_str);
    let session = browser_session(&state, &headers).await;
    let decided = state
        .sso
        .logout(
            get("id_token_hint"),
            get("client_id"),
            get("post_logout_redirect_uri"),
            get("state"),
            session.as_ref(),
        )
        .await;
    match decided {
        Ok(LogoutStep::SignOut { to }) => sign_out(&state, &headers, to).await,
        Ok(LogoutStep::Confirm { to }) => {
            let csrf = Csrf::of(&state, &headers);
            // The confirmation's own form: this browser's token, then sign out.
            if method == Method::POST && get("confirm") == Some("yes") {
                if csrf.accepts(get("csrf").unwrap_or("")) {
                    return sign_out(&state, &headers, to).await;
                }
                return super::page::refused(&state, &csrf, "/oauth2/logout");
            }
            let params = map
                .iter()
                .filter(|(k, _)| !["csrf", "confirm"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let page = render(
                StatusCode::OK,
                "sso_logout.html",
                LogoutView {
                    chrome: Chrome::new("web.sso.logout_title", "/oauth2/logout", &csrf, true),
                    params,
                },
            );
            let page = match &to {
                Some(to) => super::page::with_form_targets(page, &[to]),
                None => page,
            };
            csrf.keep(&state, page)
        }
        Err(error) => refusal(&state, &headers, error),
    }
}

#[tracing::instrument(skip_all)]
async fn logout_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    logout(
        state,
        headers,
        Method::GET,
        query.unwrap_or_default().as_bytes(),
    )
    .await
}

#[tracing::instrument(skip_all)]
async fn logout_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    logout(state, headers, Method::POST, &body).await
}
