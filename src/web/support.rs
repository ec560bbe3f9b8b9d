//! 问题反馈 in the browser (seed 000's 客服): the form — 用户名, 问题页面截图, 问题描述 — and the
//! person's tickets with their state and the staff's answer (三个工作日内), and 关闭 once
//! solved. Same use cases as `/api/v1/support-tickets`.

use super::page::{browser_session, form_session, read_failed, render, Chrome, Csrf};
use crate::application::support::{Screenshot, Support, TicketError};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::sessions::Session;
use crate::state::SharedState;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_projections::support::{self as tickets, TicketRow};

type FieldErrors = BTreeMap<&'static str, &'static str>;

#[derive(Serialize)]
struct TicketView {
    id: String,
    username: String,
    description: String,
    /// 待处理 / 已回复 / 已关闭.
    status: &'static str,
    open: bool,
    opened_at: String,
    answer: Option<String>,
    answered_at: Option<String>,
    screenshot: Option<String>,
}

fn view(row: TicketRow) -> TicketView {
    let time = |at: i64| crate::messenger::beijing_time(xuexin_domain::Timestamp::from_millis(at));
    TicketView {
        status: messages::text(match row.status.as_str() {
            "answered" => "web.support.answered",
            "closed" => "web.support.closed",
            _ => "web.support.open",
        }),
        open: row.status != "closed",
        opened_at: time(row.opened_at),
        answered_at: row.answered_at.map(time),
        screenshot: row
            .screenshot_sha256
            .is_some()
            .then(|| format!("/support/{}/screenshot", row.ticket_id)),
        id: row.ticket_id,
        username: row.username,
        description: row.description,
        answer: row.answer,
    }
}

#[derive(Serialize)]
struct SupportPage<'a> {
    chrome: Chrome,
    tickets: Vec<TicketView>,
    username: &'a str,
    description: &'a str,
    errors: FieldErrors,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

struct Said<'a> {
    status: StatusCode,
    username: &'a str,
    description: &'a str,
    errors: FieldErrors,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

impl Said<'_> {
    fn plain() -> Self {
        Self {
            status: StatusCode::OK,
            username: "",
            description: "",
            errors: FieldErrors::new(),
            notice: None,
            alert: None,
        }
    }
}

async fn caught_up(state: &SharedState, position: Option<i64>) {
    super::page::reflect(state, &[tickets::NAME], position).await;
}

async fn page(
    state: &SharedState,
    support: &Support,
    csrf: &Csrf,
    session: &Session,
    said: Said<'_>,
) -> Response {
    let mine = match support.mine(session).await {
        Ok(mine) => mine,
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the tickets"),
    };
    let view = SupportPage {
        chrome: Chrome::new("web.support.title", "/support", csrf, true),
        tickets: mine.into_iter().map(view).collect(),
        username: said.username,
        description: said.description,
        errors: said.errors,
        notice: said.notice,
        alert: said.alert,
    };
    csrf.keep(state, render(said.status, "support.html", view))
}

/// 问题反馈: the form and the person's tickets.
#[tracing::instrument(skip_all)]
pub async fn support_page(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = browser_session(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if session.staff.is_some() {
        return Redirect::to("/account").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    caught_up(&state, Some(session.position)).await;
    page(&state, &support, &csrf, &session, Said::plain()).await
}

/// A refusal's status and where it shows.
fn refusal(error: TicketError) -> (StatusCode, Option<&'static str>, &'static str) {
    match error {
        TicketError::Invalid(refusals) => {
            let field = refusals
                .first()
                .map(|r| {
                    if r.field == "username" {
                        "username"
                    } else {
                        "description"
                    }
                })
                .unwrap_or("description");
            let code = refusals.first().map_or("required", |r| r.code);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(field),
                messages::text(code),
            )
        }
        TicketError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            messages::text("ticket_rate_limited"),
        ),
        TicketError::NotFound => (
            StatusCode::NOT_FOUND,
            None,
            messages::text("ticket_not_found"),
        ),
        TicketError::Forbidden => (StatusCode::FORBIDDEN, None, messages::text("forbidden")),
        TicketError::Refused(crate::store::ExecuteError::Domain(error)) => {
            (StatusCode::CONFLICT, None, messages::text(error.code()))
        }
        other => {
            tracing::error!(error = format!("{other:#}"), "a support page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                messages::text("internal_error"),
            )
        }
    }
}

/// 提交: a multipart form, so that the screenshot travels with it.
#[tracing::instrument(skip_all)]
pub async fn file_ticket(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
    context: RequestContext,
    mut multipart: Multipart,
) -> Response {
    let (mut token, mut username, mut description) = (String::new(), String::new(), String::new());
    let mut screenshot = Vec::new();
    let mut too_large = false;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("csrf") => token = field.text().await.unwrap_or_default(),
            Some("username") => username = field.text().await.unwrap_or_default(),
            Some("description") => description = field.text().await.unwrap_or_default(),
            Some("screenshot") => match field.bytes().await {
                Ok(bytes) => screenshot = bytes.to_vec(),
                Err(_) => too_large = true,
            },
            _ => {}
        }
    }
    let (csrf, session) = match form_session(&state, &headers, &token, "/support").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut said = Said::plain();
    said.username = username.trim();
    said.description = description.trim();
    // A screenshot is optional; one that is there must be a JPEG or PNG of at most 2 MB.
    let shot = if too_large {
        Err("image_too_large")
    } else if screenshot.is_empty() {
        Ok(None)
    } else {
        crate::blobs::image_type(&screenshot).map(|content_type| {
            Some(Screenshot {
                bytes: &screenshot,
                content_type,
            })
        })
    };
    let shot = match shot {
        Ok(shot) => shot,
        Err(code) => {
            said.status = StatusCode::UNPROCESSABLE_ENTITY;
            said.errors.insert("screenshot", messages::text(code));
            return page(&state, &support, &csrf, &session, said).await;
        }
    };
    let metadata = context.metadata(session.actor());
    match support
        .open(&session, &username, &description, shot, &metadata)
        .await
    {
        Ok(filed) => {
            caught_up(&state, filed.position).await;
            let mut said = Said::plain();
            said.notice = Some(messages::text("web.support.filed"));
            page(&state, &support, &csrf, &session, said).await
        }
        Err(error) => {
            let (status, field, text) = refusal(error);
            said.status = status;
            match field {
                Some(field) => {
                    said.errors.insert(field, text);
                }
                None => said.alert = Some(text),
            }
            page(&state, &support, &csrf, &session, said).await
        }
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
}

/// 关闭: the person's problem is solved.
#[tracing::instrument(skip_all)]
pub async fn close_ticket(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
    context: RequestContext,
    Path(ticket_id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/support").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let metadata = context.metadata(session.actor());
    let mut said = Said::plain();
    match support.close(&session, &ticket_id, &metadata).await {
        Ok(position) => {
            caught_up(&state, position).await;
            said.notice = Some(messages::text("web.support.closed_now"));
        }
        Err(error) => {
            let (status, _, text) = refusal(error);
            said.status = status;
            said.alert = Some(text);
        }
    }
    page(&state, &support, &csrf, &session, said).await
}

/// A ticket's screenshot, for the person who filed it (or an administrator).
#[tracing::instrument(skip_all)]
pub async fn screenshot(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
    Path(ticket_id): Path<String>,
) -> Response {
    let Some(session) = browser_session(&state, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match support.screenshot(&session, &ticket_id).await {
        Ok((content_type, bytes)) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(error) => refusal(error).0.into_response(),
    }
}
