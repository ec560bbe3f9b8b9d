//! `/staff/login` and `/staff/factor`: a staff member's username and password, then the
//! second factor — at the first login (or after a reset) an authenticator app enrolled from
//! a QR code, with ten recovery codes shown once; afterwards a code or a recovery code.

use super::super::page::{browser_session, render, Chrome, Csrf};
use crate::application::factor::{FactorError, FactorState};
use crate::application::login::{self, Login};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeMap;
use xuexin_domain::values::Secret;
use xuexin_domain::Actor;

type FieldErrors = BTreeMap<&'static str, String>;

fn login_form(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    username: &str,
    errors: FieldErrors,
) -> Response {
    let page = render(
        status,
        "staff_login.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.login_title", "/staff/login", csrf, false),
            username => username,
            errors => errors,
        },
    );
    csrf.keep(state, page)
}

#[tracing::instrument(skip_all)]
pub async fn login_page(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(session) = browser_session(&state, &headers).await {
        if session.staff.is_some() {
            return Redirect::to("/staff").into_response();
        }
    }
    let csrf = Csrf::of(&state, &headers);
    login_form(&state, &csrf, StatusCode::OK, "", FieldErrors::new())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[tracing::instrument(skip_all)]
pub async fn login_submit(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<LoginForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::super::page::refused(&state, &csrf, "/staff/login");
    }
    let username = form.username.trim();
    // Only staff usernames: a person's phone or ID number does not log in here.
    let name = if username.is_empty() {
        String::new()
    } else {
        format!("staff:{username}")
    };
    let result = login::login(
        &services,
        &name,
        Secret::new(form.password),
        &context.metadata(Actor::Anonymous),
    )
    .await;
    let (status, errors) = match result {
        Ok(logged_in) => {
            return super::super::page::signed_in(&state, &logged_in.token, "/staff/factor")
        }
        // The person's login form's refusals, with the name's at the username.
        Err(error) => {
            let (status, errors) = super::super::pages::login_refusal(error);
            let errors: FieldErrors = errors
                .into_iter()
                .map(|(field, text)| (if field == "login" { "username" } else { field }, text))
                .collect();
            (status, errors)
        }
    };
    login_form(&state, &csrf, status, username, errors)
}

/// The secret in groups of four, as people type it into an app.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn factor_form(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    factor: &FactorState,
    error: Option<&'static str>,
) -> Response {
    let (enrol, secret) = match factor {
        FactorState::Enrol(enrolment) => (true, grouped(&enrolment.secret)),
        _ => (false, String::new()),
    };
    let page = render(
        status,
        "staff_factor.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.factor_title", "/staff/factor", csrf, true),
            enrol => enrol,
            secret => secret,
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// Where a browser without a usable staff session goes instead.
async fn staff_state(
    state: &SharedState,
    services: &Login,
    headers: &HeaderMap,
) -> Result<(crate::sessions::Session, FactorState), Response> {
    let Some(session) = browser_session(state, headers).await else {
        return Err(Redirect::to("/staff/login").into_response());
    };
    match services.factor_state(&session).await {
        Ok(FactorState::Passed) => Err(Redirect::to("/staff").into_response()),
        Ok(factor) => Ok((session, factor)),
        Err(FactorError::NotStaff) => {
            let csrf = Csrf::of(state, headers);
            Err(super::gate::forbidden(state, &csrf, "/staff/factor"))
        }
        Err(error) => Err(super::super::page::read_failed(
            anyhow::anyhow!("{error:#}"),
            "the second factor",
        )),
    }
}

#[tracing::instrument(skip_all)]
pub async fn factor_page(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
) -> Response {
    let (_, factor) = match staff_state(&state, &services, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let csrf = Csrf::of(&state, &headers);
    factor_form(&state, &csrf, StatusCode::OK, &factor, None)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[tracing::instrument(skip_all)]
pub async fn factor_submit(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<CodeForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::super::page::refused(&state, &csrf, "/staff/factor");
    }
    let (session, factor) = match staff_state(&state, &services, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let metadata = context.metadata(session.actor());
    let result = match &factor {
        FactorState::Enrol(_) => services
            .enrol_factor(&session, &form.code, &metadata)
            .await
            .map(Some),
        _ => services
            .pass_factor(&session, &form.code, &metadata)
            .await
            .map(|()| None),
    };
    match result {
        Ok(Some(codes)) => {
            let page = render(
                StatusCode::OK,
                "staff_codes.html",
                minijinja::context! {
                    chrome => Chrome::new("web.staff.codes_title", "/staff/factor", &csrf, true),
                    codes => codes,
                },
            );
            csrf.keep(&state, page)
        }
        Ok(None) => Redirect::to("/staff").into_response(),
        Err(error) => {
            let status = match error {
                FactorError::Invalid => StatusCode::UNAUTHORIZED,
                FactorError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                FactorError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                FactorError::Enrolled | FactorError::NotEnrolled => StatusCode::CONFLICT,
                FactorError::NotStaff => StatusCode::FORBIDDEN,
                FactorError::Internal(ref error) => {
                    tracing::error!(error = format!("{error:#}"), "the second factor failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            factor_form(
                &state,
                &csrf,
                status,
                &factor,
                Some(messages::text(error.code())),
            )
        }
    }
}

/// The enrolment's QR code (the `otpauth://` URI), as SVG; only for the session enrolling.
#[tracing::instrument(skip_all)]
pub async fn qr(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
) -> Response {
    let uri = match staff_state(&state, &services, &headers).await {
        Ok((_, FactorState::Enrol(enrolment))) => enrolment.uri,
        Ok(_) => return StatusCode::NOT_FOUND.into_response(),
        Err(answer) => return answer,
    };
    let Ok(code) = qrcodegen::QrCode::encode_text(&uri, qrcodegen::QrCodeEcc::Medium) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let border = 4;
    let size = code.size() + border * 2;
    let mut path = String::new();
    for y in 0..code.size() {
        for x in 0..code.size() {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response()
}
