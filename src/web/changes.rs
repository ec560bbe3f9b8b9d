//! 账号管理's other changes in the browser: 修改密码, 修改安全邮箱, 修改姓名 (at once, or through
//! review for resident-ID holders) and 设置密保问题. Each asks for the current password and runs
//! the same use case as its `/api/v1/me/…` endpoint; refusals show at their fields and write
//! nothing.

use super::manage::Outcome;
use super::page::{browser_session, form_session, render, Chrome, Csrf};
use crate::application::account::{AccountManagement, NameChanged};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, Path, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::values::{parse_security_questions, Email, PersonName, Secret};

/// Which change a page makes.
#[derive(Clone, Copy)]
enum Change {
    Password,
    Email,
    Name,
    Questions,
}

impl Change {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "password" => Self::Password,
            "email" => Self::Email,
            "name" => Self::Name,
            "questions" => Self::Questions,
            _ => return None,
        })
    }

    fn key(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Email => "email",
            Self::Name => "name",
            Self::Questions => "questions",
        }
    }

    /// The page's fields; a refusal of a field the page does not have goes to the last.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["current_password", "password_confirmation", "password"],
            Self::Email => &["current_password", "email"],
            Self::Name => &["current_password", "reason", "name"],
            Self::Questions => &["current_password", "security_questions"],
        }
    }
}

#[derive(Default, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    question1: String,
    #[serde(default)]
    question2: String,
    #[serde(default)]
    question3: String,
    #[serde(default)]
    answer1: String,
    #[serde(default)]
    answer2: String,
    #[serde(default)]
    answer3: String,
}

#[derive(Serialize)]
struct ChangeView<'a> {
    chrome: Chrome,
    change: &'static str,
    email: &'a str,
    name: &'a str,
    reason: &'a str,
    questions: [&'a str; 3],
    errors: std::collections::BTreeMap<&'static str, &'static str>,
    notice: Option<String>,
    alert: Option<&'static str>,
    done: bool,
}

fn page(
    state: &SharedState,
    csrf: &Csrf,
    change: Change,
    form: &ChangeForm,
    said: Outcome,
) -> Response {
    let view = ChangeView {
        chrome: Chrome::new(
            &format!("web.change.{}.title", change.key()),
            &format!("/account/change/{}", change.key()),
            csrf,
            true,
        ),
        change: change.key(),
        email: form.email.trim(),
        name: form.name.trim(),
        reason: form.reason.trim(),
        questions: [
            form.question1.trim(),
            form.question2.trim(),
            form.question3.trim(),
        ],
        errors: said.errors,
        notice: said.notice,
        alert: said.alert,
        done: said.done,
    };
    csrf.keep(state, render(said.status, "account_change.html", view))
}

/// A change's form.
#[tracing::instrument(skip_all)]
pub async fn change_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(what): Path<String>,
) -> Response {
    let Some(change) = Change::parse(&what) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if browser_session(&state, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let form = ChangeForm::default();
    page(&state, &csrf, change, &form, Outcome::new(StatusCode::OK))
}

fn done(notice: String) -> Outcome {
    let mut outcome = Outcome::new(StatusCode::OK);
    outcome.notice = Some(notice);
    outcome.done = true;
    outcome
}

/// A change, submitted.
#[tracing::instrument(skip_all)]
pub async fn change_submit(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
    context: RequestContext,
    Path(what): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let Some(change) = Change::parse(&what) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = format!("/account/change/{}", change.key());
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, &path).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let metadata = context.metadata(session.actor());
    let current = Some(form.current_password.as_str());
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let outcome = match change {
        Change::Password => account
            .change_password(
                &session,
                current,
                Some(&form.password),
                Some(&form.password_confirmation),
                &metadata,
            )
            .await
            .map(|c| {
                (
                    done(messages::text("password_changed").to_string()),
                    c.position,
                )
            }),
        Change::Email => match Email::parse(form.email.trim()) {
            Err(_) if form.email.trim().is_empty() => {
                Ok((Outcome::at(invalid, "email", "required"), None))
            }
            Err(_) => Ok((Outcome::at(invalid, "email", "email_format"), None)),
            Ok(email) => account
                .change_email(&session, current, &email, &metadata)
                .await
                .map(|c| {
                    let notice =
                        messages::format("email_verification_sent", &[("email", email.as_str())]);
                    (done(notice), c.position)
                }),
        },
        Change::Name => match PersonName::parse(&form.name) {
            Err(_) => Ok((Outcome::at(invalid, "name", "name_format"), None)),
            Ok(name) => {
                let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
                account
                    .change_name(&session, current, &name, reason, &metadata)
                    .await
                    .map(|outcome| match outcome {
                        NameChanged::Changed(c) => {
                            (done(messages::text("name_changed").to_string()), c.position)
                        }
                        NameChanged::PendingReview { position } => (
                            done(messages::text("web.change.name.pending").to_string()),
                            position,
                        ),
                    })
            }
        },
        Change::Questions => {
            let pairs: Vec<(String, Secret)> = [
                (&form.question1, &form.answer1),
                (&form.question2, &form.answer2),
                (&form.question3, &form.answer3),
            ]
            .into_iter()
            .map(|(q, a)| (q.clone(), Secret::new(a.clone())))
            .collect();
            match parse_security_questions(&pairs) {
                Err(_) => Ok((
                    Outcome::at(invalid, "security_questions", "security_questions_invalid"),
                    None,
                )),
                Ok(parsed) => account
                    .set_security_questions(&session, current, parsed, &metadata)
                    .await
                    .map(|position| {
                        (
                            done(messages::text("security_questions_set").to_string()),
                            position,
                        )
                    }),
            }
        }
    };
    let (outcome, position) = match outcome {
        Ok(done) => done,
        Err(error) => (Outcome::refused(error, change.fields()), None),
    };
    // 账号管理, opened next, shows the change.
    super::page::reflect(&state, &[xuexin_projections::account_view::NAME], position).await;
    page(&state, &csrf, change, &form, outcome)
}
