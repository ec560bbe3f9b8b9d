//! 注册: the registration form of seeds 001 and 002 (免费获取, every error at its field, the
//! choices a taken phone or ID number offers) and the success page.

use super::page::{render, Chrome, Csrf};
use crate::application::registration::{
    parse_registration, register, send_code, Registration, RegistrationError, RegistrationInput,
};
use crate::codes::CodeError;
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_domain::values::Phone;
use xuexin_domain::Actor;

/// The form as posted. Passwords and answers are never written back into the page.
#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    /// `send_code` (免费获取) or `register` (立即注册).
    #[serde(default)]
    action: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    sms_code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    document_type: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    question1: String,
    #[serde(default)]
    answer1: String,
    #[serde(default)]
    question2: String,
    #[serde(default)]
    answer2: String,
    #[serde(default)]
    question3: String,
    #[serde(default)]
    answer3: String,
    #[serde(default)]
    accept_terms: Option<String>,
    #[serde(default)]
    re_register: Option<String>,
    #[serde(default)]
    continue_registration: Option<String>,
}

#[derive(Serialize)]
struct DocumentChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct RegisterView<'a> {
    chrome: Chrome,
    form: Values<'a>,
    document_types: Vec<DocumentChoice>,
    errors: BTreeMap<String, String>,
    /// A notice at the top (the code was sent) or a refusal of the whole form.
    notice: Option<String>,
    alert: Option<String>,
    /// The choices a held phone or ID number offers (继续注册, 我要重新注册).
    phone_taken: bool,
    id_taken: bool,
    email_conflict: Option<&'static str>,
    resend_after: u64,
    /// The meter's words, by the level the script computes (弱/中/强/非常强).
    strength_labels: BTreeMap<&'static str, &'static str>,
}

/// What is written back into the form (no password, no answer).
#[derive(Serialize)]
struct Values<'a> {
    phone: &'a str,
    sms_code: &'a str,
    name: &'a str,
    document_number: &'a str,
    email: &'a str,
    question1: &'a str,
    question2: &'a str,
    question3: &'a str,
    accept_terms: bool,
    re_register: bool,
    continue_registration: bool,
}

const DOCUMENT_TYPES: [(&str, &str); 3] = [
    ("resident_id_card", "document_type.resident_id_card"),
    (
        "overseas_chinese_id_or_passport",
        "document_type.overseas_chinese_id_or_passport",
    ),
    ("other", "document_type.other"),
];

struct Outcome {
    status: StatusCode,
    errors: BTreeMap<String, String>,
    notice: Option<String>,
    alert: Option<String>,
    phone_taken: bool,
    id_taken: bool,
    /// The e-mail's conflict (`email_taken`, `email_pending_activation`, `email_bound`): the
    /// page offers what the seed does for it.
    email_conflict: Option<&'static str>,
    /// Seconds until 免费获取 may be pressed again (the page's script counts them down).
    resend_after: u64,
}

impl Outcome {
    fn blank(status: StatusCode) -> Self {
        Self {
            status,
            errors: BTreeMap::new(),
            notice: None,
            alert: None,
            phone_taken: false,
            id_taken: false,
            email_conflict: None,
            resend_after: 0,
        }
    }
}

fn page(state: &SharedState, csrf: &Csrf, form: &RegisterForm, outcome: Outcome) -> Response {
    let chosen = if form.document_type.is_empty() {
        "resident_id_card"
    } else {
        form.document_type.as_str()
    };
    let view = RegisterView {
        chrome: Chrome::new("web.register.title", "/register", csrf, false),
        form: Values {
            phone: form.phone.trim(),
            sms_code: form.sms_code.trim(),
            name: form.name.trim(),
            document_number: form.document_number.trim(),
            email: form.email.trim(),
            question1: &form.question1,
            question2: &form.question2,
            question3: &form.question3,
            accept_terms: form.accept_terms.is_some(),
            re_register: form.re_register.is_some(),
            continue_registration: form.continue_registration.is_some(),
        },
        document_types: DOCUMENT_TYPES
            .iter()
            .map(|(value, code)| DocumentChoice {
                value,
                label: messages::text(code),
                selected: *value == chosen,
            })
            .collect(),
        errors: outcome.errors,
        notice: outcome.notice,
        alert: outcome.alert,
        phone_taken: outcome.phone_taken,
        id_taken: outcome.id_taken,
        email_conflict: outcome.email_conflict,
        resend_after: outcome.resend_after,
        strength_labels: [
            ("weak", "strength.weak"),
            ("medium", "strength.medium"),
            ("strong", "strength.strong"),
            ("very_strong", "strength.very_strong"),
        ]
        .into_iter()
        .map(|(level, code)| (level, messages::text(code)))
        .collect(),
    };
    let response = render(outcome.status, "register.html", view);
    csrf.keep(state, response)
}

#[tracing::instrument(skip_all)]
pub async fn register_page(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    page(
        &state,
        &csrf,
        &RegisterForm::default(),
        Outcome::blank(StatusCode::OK),
    )
}

/// A code refusal at the code's field (or the whole form for the gateway and the store).
fn code_refusal(error: CodeError, outcome: &mut Outcome) {
    let refusal = super::page::code_refusal(error);
    outcome.status = refusal.status;
    outcome.resend_after = refusal.resend_after;
    let text = messages::text(refusal.code).to_string();
    if refusal.at_field {
        outcome.errors.insert("sms_code".into(), text);
    } else {
        outcome.alert = Some(text);
    }
}

#[tracing::instrument(skip_all)]
pub async fn register_submit(
    State(state): State<SharedState>,
    State(services): State<Registration>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<RegisterForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/register");
    }
    if form.action == "send_code" {
        let mut outcome = Outcome::blank(StatusCode::OK);
        match Phone::parse(&form.phone) {
            Err(_) => {
                outcome.status = StatusCode::UNPROCESSABLE_ENTITY;
                let code = if form.phone.trim().is_empty() {
                    "phone_required"
                } else {
                    "phone_format"
                };
                outcome
                    .errors
                    .insert("phone".into(), messages::text(code).into());
            }
            Ok(phone) => match send_code(&services, &phone, context.client_ip.as_deref()).await {
                Ok(sent) => {
                    outcome.resend_after = sent.resend_after.as_secs();
                    outcome.notice = Some(messages::format(
                        "web.register.code_sent",
                        &[("phone", &phone.masked())],
                    ))
                }
                Err(error) => code_refusal(error, &mut outcome),
            },
        }
        return page(&state, &csrf, &form, outcome);
    }

    let input = RegistrationInput {
        phone: form.phone.clone(),
        sms_code: form.sms_code.clone(),
        password: form.password.clone(),
        password_confirmation: form.password_confirmation.clone(),
        name: form.name.clone(),
        document_type: form.document_type.clone(),
        document_number: form.document_number.clone(),
        email: form.email.clone(),
        security_questions: [
            (&form.question1, &form.answer1),
            (&form.question2, &form.answer2),
            (&form.question3, &form.answer3),
        ]
        .into_iter()
        .filter(|(q, a)| !q.trim().is_empty() || !a.is_empty())
        .map(|(q, a)| (q.clone(), a.clone()))
        .collect(),
        accept_terms: form.accept_terms.is_some(),
        re_register: form.re_register.is_some(),
        continue_registration: form.continue_registration.is_some(),
    };
    let parsed = match parse_registration(services.clock.as_ref(), input) {
        Ok(parsed) => parsed,
        Err(refusals) => {
            let mut outcome = Outcome::blank(StatusCode::UNPROCESSABLE_ENTITY);
            for refusal in refusals {
                outcome
                    .errors
                    .entry(refusal.field.clone())
                    .or_insert_with(|| messages::text(refusal.code).into());
            }
            return page(&state, &csrf, &form, outcome);
        }
    };
    match register(&services, parsed, &context.metadata(Actor::Anonymous)).await {
        Ok(result) => {
            let view = RegisteredView {
                chrome: Chrome::new("web.registered.title", "/register", &csrf, false),
                username: result.phone_masked.unwrap_or_default(),
                mail_sent: result.email_masked.map(|email| {
                    messages::format("web.registered.mail_sent", &[("email", &email)])
                }),
            };
            csrf.keep(&state, render(StatusCode::CREATED, "registered.html", view))
        }
        Err(error) => {
            let mut outcome = Outcome::blank(StatusCode::CONFLICT);
            match error {
                RegistrationError::Conflicts(conflicts) => {
                    for conflict in &conflicts {
                        outcome.phone_taken |= conflict.code == "phone_taken";
                        outcome.id_taken |= conflict.code == "id_number_taken";
                        if conflict.field == "email" {
                            outcome.email_conflict = Some(conflict.code);
                        }
                        outcome
                            .errors
                            .insert(conflict.field.to_string(), conflict.message());
                    }
                }
                RegistrationError::CodeRequired => {
                    outcome.status = StatusCode::UNPROCESSABLE_ENTITY;
                    outcome.errors.insert(
                        "sms_code".into(),
                        messages::text("sms_code_required").into(),
                    );
                }
                RegistrationError::Code(error) => code_refusal(error, &mut outcome),
                RegistrationError::RateLimited { .. } => {
                    outcome.status = StatusCode::TOO_MANY_REQUESTS;
                    outcome.alert = Some(messages::text("registration_rate_limited").into());
                }
                RegistrationError::Busy | RegistrationError::Contention => {
                    outcome.status = StatusCode::SERVICE_UNAVAILABLE;
                    outcome.alert = Some(messages::text("overloaded").into());
                }
                RegistrationError::Internal(error) => {
                    tracing::error!(error = format!("{error:#}"), "registration failed");
                    outcome.status = StatusCode::INTERNAL_SERVER_ERROR;
                    outcome.alert = Some(messages::text("internal_error").into());
                }
            }
            page(&state, &csrf, &form, outcome)
        }
    }
}

#[derive(Serialize)]
struct RegisteredView {
    chrome: Chrome,
    /// The login name (the phone, masked).
    username: String,
    /// Where the verification mail went (masked), worded.
    mail_sent: Option<String>,
}
