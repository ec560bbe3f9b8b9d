//! 账号管理's changes in the browser: 更换手机号 (the current password, the new phone and the
//! code sent to it), on the same use cases as `PATCH /api/v1/me/phone`.

use super::page::{browser_session, code_refusal, form_session, render, Chrome, Csrf};
use crate::application::account::{AccountManagement, ManageError};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::{Form, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_domain::values::{Phone, Secret};
use xuexin_domain::Actor;

/// The phone page's fields; a refusal of another goes to the phone.
const PHONE_FIELDS: &[&str] = &["current_password", "sms_code", "phone"];

#[derive(Default, Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    csrf: String,
    /// `send_code` (免费获取) or `change` (确认更换).
    #[serde(default)]
    action: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    sms_code: String,
}

#[derive(Serialize)]
struct PhoneView<'a> {
    chrome: Chrome,
    phone: &'a str,
    sms_code: &'a str,
    errors: BTreeMap<&'static str, &'static str>,
    notice: Option<String>,
    alert: Option<&'static str>,
    resend_after: u64,
    /// 更换成功: the page says so and offers the way back.
    done: bool,
}

pub(super) struct Outcome {
    pub(super) status: StatusCode,
    pub(super) errors: BTreeMap<&'static str, &'static str>,
    pub(super) notice: Option<String>,
    pub(super) alert: Option<&'static str>,
    resend_after: u64,
    pub(super) done: bool,
}

impl Outcome {
    pub(super) fn new(status: StatusCode) -> Self {
        Self {
            status,
            errors: BTreeMap::new(),
            notice: None,
            alert: None,
            resend_after: 0,
            done: false,
        }
    }

    pub(super) fn at(status: StatusCode, field: &'static str, code: &'static str) -> Self {
        let mut outcome = Self::new(status);
        outcome.errors.insert(field, messages::text(code));
        outcome
    }

    /// Account management's refusals, each at its field where the page has it (`fields`; the
    /// last is where the others go).
    pub(super) fn refused(error: ManageError, fields: &[&'static str]) -> Self {
        let main = fields.last().copied().unwrap_or("current_password");
        match error {
            ManageError::Invalid(refusals) => {
                let mut outcome = Self::new(StatusCode::UNPROCESSABLE_ENTITY);
                for refusal in refusals {
                    let field = fields
                        .iter()
                        .copied()
                        .find(|f| *f == refusal.field)
                        .unwrap_or(main);
                    outcome
                        .errors
                        .entry(field)
                        .or_insert_with(|| messages::text(refusal.code));
                }
                outcome
            }
            ManageError::CurrentPasswordWrong => Self::at(
                StatusCode::FORBIDDEN,
                "current_password",
                "current_password_wrong",
            ),
            ManageError::CurrentPasswordRateLimited { .. } => Self::at(
                StatusCode::TOO_MANY_REQUESTS,
                "current_password",
                "current_password_rate_limited",
            ),
            ManageError::Taken { code, .. } => Self::at(StatusCode::CONFLICT, main, code),
            ManageError::Code(error) => {
                let refusal = code_refusal(error);
                let mut outcome = Self::new(refusal.status);
                outcome.resend_after = refusal.resend_after;
                if refusal.at_field {
                    outcome
                        .errors
                        .insert("sms_code", messages::text(refusal.code));
                } else {
                    outcome.alert = Some(messages::text(refusal.code));
                }
                outcome
            }
            ManageError::Refused(ExecuteError::Domain(error)) => {
                let mut outcome = Self::new(StatusCode::CONFLICT);
                outcome.alert = Some(messages::text(error.code()));
                outcome
            }
            ManageError::Refused(ExecuteError::Contention) | ManageError::Busy => {
                let mut outcome = Self::new(StatusCode::SERVICE_UNAVAILABLE);
                outcome.alert = Some(messages::text("overloaded"));
                outcome
            }
            ManageError::NotAPerson | ManageError::Conflict(_) => {
                let mut outcome = Self::new(StatusCode::FORBIDDEN);
                outcome.alert = Some(messages::text("forbidden"));
                outcome
            }
            ManageError::Refused(ExecuteError::Store(error)) | ManageError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "an account change failed");
                let mut outcome = Self::new(StatusCode::INTERNAL_SERVER_ERROR);
                outcome.alert = Some(messages::text("internal_error"));
                outcome
            }
        }
    }
}

fn page(state: &SharedState, csrf: &Csrf, form: &PhoneForm, outcome: Outcome) -> Response {
    let view = PhoneView {
        chrome: Chrome::new("web.phone.title", "/account/phone", csrf, true),
        phone: form.phone.trim(),
        sms_code: form.sms_code.trim(),
        errors: outcome.errors,
        notice: outcome.notice,
        alert: outcome.alert,
        resend_after: outcome.resend_after,
        done: outcome.done,
    };
    csrf.keep(state, render(outcome.status, "account_phone.html", view))
}

#[tracing::instrument(skip_all)]
pub async fn phone_page(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if browser_session(&state, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    page(
        &state,
        &csrf,
        &PhoneForm::default(),
        Outcome::new(StatusCode::OK),
    )
}

#[tracing::instrument(skip_all)]
pub async fn phone_submit(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<PhoneForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/account/phone").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(phone) = Phone::parse(&form.phone) else {
        let code = if form.phone.trim().is_empty() {
            "phone_required"
        } else {
            "phone_format"
        };
        let outcome = Outcome::at(StatusCode::UNPROCESSABLE_ENTITY, "phone", code);
        return page(&state, &csrf, &form, outcome);
    };
    if form.action == "send_code" {
        let outcome = match account
            .send_phone_code(&session, &phone, context.client_ip.as_deref())
            .await
        {
            Ok(sent) => {
                let mut outcome = Outcome::new(StatusCode::OK);
                outcome.resend_after = sent.resend_after.as_secs();
                outcome.notice = Some(messages::format(
                    "web.register.code_sent",
                    &[("phone", &phone.masked())],
                ));
                outcome
            }
            Err(error) => Outcome::refused(error, PHONE_FIELDS),
        };
        return page(&state, &csrf, &form, outcome);
    }
    if form.sms_code.trim().is_empty() {
        let outcome = Outcome::at(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sms_code",
            "sms_code_required",
        );
        return page(&state, &csrf, &form, outcome);
    }
    let metadata = context.metadata(Actor::Account(session.account_id.to_string()));
    let code = Secret::new(form.sms_code.trim().to_string());
    let outcome = match account
        .change_phone(
            &session,
            Some(form.current_password.as_str()),
            &phone,
            &code,
            &metadata,
        )
        .await
    {
        Ok(changed) => {
            // 账号管理, opened next, shows the new phone.
            super::page::reflect(
                &state,
                &[xuexin_projections::account_view::NAME],
                changed.position,
            )
            .await;
            let mut outcome = Outcome::new(StatusCode::OK);
            outcome.done = true;
            outcome.notice = Some(messages::format(
                "web.phone.done",
                &[("phone", &phone.masked())],
            ));
            outcome
        }
        Err(error) => Outcome::refused(error, PHONE_FIELDS),
    };
    page(&state, &csrf, &form, outcome)
}
