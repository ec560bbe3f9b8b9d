//! 安全邮箱验证 in the browser: the mail's link opens a page whose button confirms the token (a
//! GET alone never verifies: mail scanners open links), and 重新发送激活邮件 from 账号管理. The next visit to 账号管理 says 邮箱绑定成功 (seed 001, 第五步).

use super::page::{form_session, render, set_cookie, Chrome, Csrf};
use crate::application::account::AccountManagement;
use crate::application::email::{EmailError, EmailVerification};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, Query, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::values::{mask_email, Email};
use xuexin_domain::Actor;

/// Set when an address is verified; 账号管理 shows 邮箱绑定成功 once and clears it.
pub const EMAIL_BOUND_COOKIE: &str = "xuexin_email_bound";

#[derive(Serialize)]
struct VerifyView<'a> {
    chrome: Chrome,
    /// `confirm` (the button), `done`, `refused` or `sent`.
    step: &'a str,
    token: &'a str,
    message: Option<String>,
}

fn page(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    step: &str,
    token: &str,
    message: Option<String>,
) -> Response {
    let view = VerifyView {
        chrome: Chrome::new("web.verify.title", "/verify-email", csrf, false),
        step,
        token,
        message,
    };
    csrf.keep(state, render(status, "verify_email.html", view))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The mail's link: a page with 完成验证.
#[tracing::instrument(skip_all)]
pub async fn verify_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    page(&state, &csrf, StatusCode::OK, "confirm", &query.token, None)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

#[tracing::instrument(skip_all)]
pub async fn verify_submit(
    State(state): State<SharedState>,
    State(email): State<EmailVerification>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/verify-email");
    }
    let (status, code) = match email
        .confirm(&form.token, &context.metadata(Actor::Anonymous))
        .await
    {
        Ok(verified) => {
            let message = messages::format(
                "web.verify.done",
                &[("email", &mask_email(&verified.email))],
            );
            let mut response = page(&state, &csrf, StatusCode::OK, "done", "", Some(message));
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, EMAIL_BOUND_COOKIE, "1", 7 * 24 * 3600),
            );
            return response;
        }
        Err(EmailError::TokenInvalid) => (StatusCode::BAD_REQUEST, "email_token_invalid"),
        Err(EmailError::AlreadyVerified) => (StatusCode::CONFLICT, "email_already_verified"),
        Err(EmailError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        Err(EmailError::RateLimited { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, "email_rate_limited")
        }
        Err(EmailError::Internal(error)) => {
            tracing::error!(error = format!("{error:#}"), "could not verify an e-mail");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        }
    };
    let message = Some(messages::text(code).to_string());
    page(&state, &csrf, status, "refused", &form.token, message)
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf: String,
}

/// 重新发送激活邮件, from 账号管理 while the address waits: to the account's own address (never
/// one typed into the page), limited as the API's resend is.
#[tracing::instrument(skip_all)]
pub async fn resend_submit(
    State(state): State<SharedState>,
    State(email): State<EmailVerification>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<ResendForm>,
) -> Response {
    let (csrf, session) =
        match form_session(&state, &headers, &form.csrf, "/verify-email/resend").await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let address = match account.profile(&session).await {
        Ok(Some(profile)) if profile.email_status != "verified" => {
            profile.email.as_deref().and_then(|e| Email::parse(e).ok())
        }
        Ok(_) => None,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "could not read the profile");
            None
        }
    };
    let Some(address) = address else {
        return Redirect::to("/account").into_response();
    };
    let metadata = context.metadata(Actor::Account(session.account_id.to_string()));
    match email.resend(&address, &metadata).await {
        Ok(()) => {
            let message = messages::format(
                "web.registered.mail_sent",
                &[("email", &mask_email(address.as_str()))],
            );
            page(&state, &csrf, StatusCode::OK, "sent", "", Some(message))
        }
        Err(EmailError::RateLimited { .. }) => {
            let message = Some(messages::text("email_rate_limited").to_string());
            page(
                &state,
                &csrf,
                StatusCode::TOO_MANY_REQUESTS,
                "refused",
                "",
                message,
            )
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "could not resend a mail");
            let message = Some(messages::text("internal_error").to_string());
            page(
                &state,
                &csrf,
                StatusCode::INTERNAL_SERVER_ERROR,
                "refused",
                "",
                message,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// 重新发送激活邮件 to an address typed on the page (the registration form's e-mail, or the
/// success page's): the same use case and limits as the API's anonymous resend, and the same
/// answer whether or not the address waits for activation.
#[tracing::instrument(skip_all)]
pub async fn send_to_address(
    State(state): State<SharedState>,
    State(email): State<EmailVerification>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<AddressForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/verify-email/send");
    }
    let Ok(address) = Email::parse(form.email.trim()) else {
        let message = Some(messages::text("email_format").to_string());
        return page(
            &state,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "",
            message,
        );
    };
    match email
        .resend(&address, &context.metadata(Actor::Anonymous))
        .await
    {
        Ok(()) => {
            let message = messages::format(
                "web.verify.resent_if_waiting",
                &[("email", &mask_email(address.as_str()))],
            );
            page(&state, &csrf, StatusCode::OK, "sent", "", Some(message))
        }
        Err(EmailError::RateLimited { .. }) => {
            let message = Some(messages::text("email_rate_limited").to_string());
            let status = StatusCode::TOO_MANY_REQUESTS;
            page(&state, &csrf, status, "refused", "", message)
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "could not resend a mail");
            let message = Some(messages::text("internal_error").to_string());
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            page(&state, &csrf, status, "refused", "", message)
        }
    }
}
