//! 找回密码 (seed 002): the username and a captcha, then only the ways the account has bound
//! (a code by SMS; a link to the security e-mail after the name and document number; the
//! security questions), a new password, and 密码重置成功. The tickets travel in hidden fields
//! of POSTed forms, never in a URL; only the mailed link carries its token, and its page posts
//! it on.

use super::page::{render, Chrome, Csrf};
use crate::application::recovery::{self, RecoveryError};
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
use xuexin_domain::Actor;

#[derive(Serialize, Default)]
struct Captcha {
    id: String,
    /// A `data:` URL (the CSP allows `img-src data:`).
    image: String,
}

#[derive(Serialize, Default)]
struct MethodView {
    method: &'static str,
    label: String,
}

/// The one page of the flow, at one of its steps: `start`, `methods`, `sms`, `email`,
/// `email_sent`, `questions`, `reset`, `done`.
#[derive(Serialize)]
struct RecoverView {
    chrome: Chrome,
    step: &'static str,
    username: String,
    captcha: Captcha,
    ticket: String,
    methods: Vec<MethodView>,
    sent_to: String,
    /// The security questions to answer, in order.
    questions: Vec<String>,
    /// What the e-mail form keeps after a refusal.
    name: String,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
}

impl RecoverView {
    fn new(step: &'static str, csrf: &Csrf) -> Self {
        Self {
            chrome: Chrome::new("web.recover.title", "/recover", csrf, false),
            step,
            username: String::new(),
            captcha: Captcha::default(),
            ticket: String::new(),
            methods: Vec::new(),
            sent_to: String::new(),
            questions: Vec::new(),
            name: String::new(),
            errors: BTreeMap::new(),
            alert: None,
        }
    }
}

fn show(state: &SharedState, csrf: &Csrf, status: StatusCode, view: RecoverView) -> Response {
    csrf.keep(state, render(status, "recover.html", view))
}

/// Where a refusal shows, and its status.
fn refusal(error: RecoveryError, view: &mut RecoverView) -> StatusCode {
    let mut at = |field: &str, code: &str| {
        view.errors
            .insert(field.to_string(), messages::text(code).to_string());
    };
    match error {
        RecoveryError::Invalid(refusals) => {
            for r in refusals {
                view.errors
                    .entry(r.field.clone())
                    .or_insert_with(|| messages::text(r.code).to_string());
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RecoveryError::Code(CodeError::Invalid { .. }) => {
            at("sms_code", "sms_code_invalid");
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RecoveryError::Code(CodeError::TooManyAttempts) => {
            at("sms_code", "sms_code_attempts");
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RecoveryError::Code(CodeError::RateLimited(_)) => {
            view.alert = Some(messages::text("sms_rate_limited").into());
            StatusCode::TOO_MANY_REQUESTS
        }
        RecoveryError::RateLimited { code, .. } => {
            view.alert = Some(messages::text(code).into());
            StatusCode::TOO_MANY_REQUESTS
        }
        RecoveryError::TicketInvalid => {
            view.alert = Some(messages::text("recovery_token_invalid").into());
            StatusCode::BAD_REQUEST
        }
        RecoveryError::MethodUnavailable => {
            view.alert = Some(messages::text("recovery_method_unavailable").into());
            StatusCode::CONFLICT
        }
        RecoveryError::Busy => {
            view.alert = Some(messages::text("overloaded").into());
            StatusCode::SERVICE_UNAVAILABLE
        }
        RecoveryError::IdentityMismatch => {
            at("document_number", "recovery_identity_mismatch");
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RecoveryError::AnswersWrong { .. } => {
            at("answers", "security_answers_wrong");
            StatusCode::UNPROCESSABLE_ENTITY
        }
        RecoveryError::QuestionsClosed { .. } => {
            view.alert = Some(messages::text("security_questions_closed").into());
            StatusCode::LOCKED
        }
        other => {
            tracing::error!(error = %other, "a recovery step failed");
            view.alert = Some(messages::text("internal_error").into());
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The first step with a fresh captcha.
async fn start_step(
    state: &SharedState,
    csrf: &Csrf,
    context: &RequestContext,
    mut view: RecoverView,
    status: StatusCode,
) -> Response {
    view.step = "start";
    match recovery::new_captcha(&state.recovery, context.client_ip.as_deref()).await {
        Ok(captcha) => {
            view.captcha = Captcha {
                image: captcha.data_url(),
                id: captcha.id,
            };
            show(state, csrf, status, view)
        }
        Err(error) => {
            let status = refusal(error, &mut view);
            show(state, csrf, status, view)
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn recover_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let view = RecoverView::new("start", &csrf);
    start_step(&state, &csrf, &context, view, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct RecoverForm {
    #[serde(default)]
    csrf: String,
    /// `start`, `send_sms`, `verify_sms` or `reset`.
    #[serde(default)]
    step: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha_answer: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    sms_code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    answer1: String,
    #[serde(default)]
    answer2: String,
    #[serde(default)]
    answer3: String,
}

/// `GET /reset-password?token=…`, where the reset mail links: the new-password step with the
/// link's token in the form (it is checked, and used up, when the form is sent).
#[tracing::instrument(skip_all)]
pub async fn reset_link_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    axum::extract::Query(link): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let mut view = RecoverView::new("reset", &csrf);
    view.ticket = link.get("token").cloned().unwrap_or_default();
    show(&state, &csrf, StatusCode::OK, view)
}

fn method_label(method: &str, target: Option<&str>) -> String {
    let code = match method {
        "sms" => "web.recover.by_sms",
        "email" => "web.recover.by_email",
        _ => "web.recover.by_questions",
    };
    messages::format(code, &[("target", target.unwrap_or(""))])
}

#[tracing::instrument(skip_all)]
pub async fn recover_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<RecoverForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/recover");
    }
    let services = &state.recovery;
    let ip = context.client_ip.as_deref();
    let mut view = RecoverView::new("start", &csrf);
    match form.step.as_str() {
        "send_sms" => {
            view.ticket = form.ticket.clone();
            match recovery::send_sms_code(services, Some(&form.ticket), ip).await {
                Ok(sent) => {
                    view.step = "sms";
                    view.sent_to = sent.sent_to;
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    view.step = "methods";
                    let status = refusal(error, &mut view);
                    show(&state, &csrf, status, view)
                }
            }
        }
        "email" => {
            view.step = "email";
            view.ticket = form.ticket.clone();
            show(&state, &csrf, StatusCode::OK, view)
        }
        "send_email" => {
            let sent = recovery::request_email_link(
                services,
                Some(&form.ticket),
                Some(&form.name),
                Some(&form.document_number),
                &context.metadata(Actor::Anonymous),
            )
            .await;
            view.ticket = form.ticket.clone();
            match sent {
                Ok((address, _)) => {
                    view.step = "email_sent";
                    view.sent_to = address;
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    view.step = "email";
                    view.name = form.name.trim().to_string();
                    let status = refusal(error, &mut view);
                    show(&state, &csrf, status, view)
                }
            }
        }
        "questions" | "answer_questions" => {
            view.ticket = form.ticket.clone();
            let questions = match recovery::questions(services, Some(&form.ticket)).await {
                Ok(questions) => questions,
                Err(error) => {
                    view.step = "methods";
                    let status = refusal(error, &mut view);
                    return show(&state, &csrf, status, view);
                }
            };
            view.step = "questions";
            view.questions = questions;
            if form.step == "questions" {
                return show(&state, &csrf, StatusCode::OK, view);
            }
            let answers: Vec<String> = [&form.answer1, &form.answer2, &form.answer3]
                .into_iter()
                .take(view.questions.len())
                .cloned()
                .collect();
            match recovery::answer_questions(
                services,
                Some(&form.ticket),
                &answers,
                &context.metadata(Actor::Anonymous),
            )
            .await
            {
                Ok(allowed) => {
                    view.step = "reset";
                    view.ticket = allowed.reset_token;
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    let status = refusal(error, &mut view);
                    show(&state, &csrf, status, view)
                }
            }
        }
        "verify_sms" => {
            match recovery::verify_sms_code(services, Some(&form.ticket), Some(&form.sms_code))
                .await
            {
                Ok(allowed) => {
                    view.step = "reset";
                    view.ticket = allowed.reset_token;
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    view.step = "sms";
                    view.ticket = form.ticket.clone();
                    let status = refusal(error, &mut view);
                    show(&state, &csrf, status, view)
                }
            }
        }
        "reset" => {
            let done = recovery::reset(
                services,
                Some(&form.ticket),
                Some(&form.password),
                Some(&form.password_confirmation),
                &context.metadata(Actor::Anonymous),
            )
            .await;
            match done {
                Ok(_) => {
                    view.step = "done";
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    view.step = "reset";
                    view.ticket = form.ticket.clone();
                    let status = refusal(error, &mut view);
                    show(&state, &csrf, status, view)
                }
            }
        }
        _ => {
            let started = recovery::start(
                services,
                Some(&form.username),
                Some(&form.captcha_id),
                Some(&form.captcha_answer),
                ip,
            )
            .await;
            match started {
                Ok(started) => {
                    view.step = "methods";
                    view.username = started.username;
                    view.ticket = started.ticket.unwrap_or_default();
                    view.methods = started
                        .methods
                        .iter()
                        .map(|m| MethodView {
                            method: m.method,
                            label: method_label(m.method, m.target.as_deref()),
                        })
                        .collect();
                    show(&state, &csrf, StatusCode::OK, view)
                }
                Err(error) => {
                    view.username = form.username.trim().to_string();
                    let status = refusal(error, &mut view);
                    start_step(&state, &csrf, &context, view, status).await
                }
            }
        }
    }
}

/// 找回用户名: 证件号码 + 姓名 + 图片验证码 → the masked username and a 找回密码 link.
#[derive(Serialize)]
struct FindView {
    chrome: Chrome,
    name: String,
    document_number: String,
    captcha: Captcha,
    /// The masked username once found; the outcome's message.
    username: Option<String>,
    message: Option<String>,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
}

async fn find_form(
    state: &SharedState,
    csrf: &Csrf,
    context: &RequestContext,
    mut view: FindView,
    status: StatusCode,
) -> Response {
    match recovery::new_captcha(&state.recovery, context.client_ip.as_deref()).await {
        Ok(captcha) => {
            view.captcha = Captcha {
                image: captcha.data_url(),
                id: captcha.id,
            };
            csrf.keep(state, render(status, "find_username.html", view))
        }
        Err(error) => {
            let mut shown = RecoverView::new("start", csrf);
            let status = refusal(error, &mut shown);
            view.alert = shown.alert;
            csrf.keep(state, render(status, "find_username.html", view))
        }
    }
}

fn find_view(csrf: &Csrf) -> FindView {
    FindView {
        chrome: Chrome::new("web.find_username.title", "/find-username", csrf, false),
        name: String::new(),
        document_number: String::new(),
        captcha: Captcha::default(),
        username: None,
        message: None,
        errors: BTreeMap::new(),
        alert: None,
    }
}

#[tracing::instrument(skip_all)]
pub async fn find_username_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    find_form(&state, &csrf, &context, find_view(&csrf), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct FindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha_answer: String,
}

#[tracing::instrument(skip_all)]
pub async fn find_username_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<FindForm>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    if !csrf.accepts(&form.csrf) {
        return super::page::refused(&state, &csrf, "/find-username");
    }
    let found = recovery::find_username(
        &state.recovery,
        Some(&form.name),
        Some(&form.document_number),
        Some(&form.captcha_id),
        Some(&form.captcha_answer),
        context.client_ip.as_deref(),
    )
    .await;
    let mut view = find_view(&csrf);
    view.name = form.name.trim().to_string();
    view.document_number = form.document_number.trim().to_string();
    match found {
        Ok(found) if found.found => {
            view.username = found.username;
            view.message = Some(messages::text("username_found").into());
            csrf.keep(&state, render(StatusCode::OK, "find_username.html", view))
        }
        Ok(_) => {
            view.alert = Some(messages::text("username_not_matched").into());
            find_form(&state, &csrf, &context, view, StatusCode::OK).await
        }
        Err(error) => {
            let mut shown = RecoverView::new("start", &csrf);
            let status = refusal(error, &mut shown);
            view.errors = shown.errors;
            view.alert = shown.alert;
            find_form(&state, &csrf, &context, view, status).await
        }
    }
}
