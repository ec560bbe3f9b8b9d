//! 登录设备: the account's sessions (device, address, time), and 退出 for one of them or for
//! all the others, on the same use cases as `GET /api/v1/me/sessions` and its DELETEs.

use super::page::{form_session, page_session, read_failed, render, Chrome, Csrf};
use crate::application::login::{self, Login};
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Row {
    id: String,
    device: String,
    client_ip: String,
    created_at: String,
    current: bool,
}

#[derive(Serialize)]
struct SessionsView {
    chrome: Chrome,
    sessions: Vec<Row>,
    /// Whether there is another session to end.
    others: bool,
    notice: Option<String>,
}

async fn page(
    state: &SharedState,
    services: &Login,
    csrf: &Csrf,
    session: &crate::sessions::Session,
    notice: Option<String>,
) -> Response {
    let listed = match login::sessions(services, session).await {
        Ok(listed) => listed,
        Err(error) => return read_failed(error, "the sessions"),
    };
    let sessions: Vec<Row> = listed
        .into_iter()
        .map(|s| Row {
            id: s.id,
            device: s.device,
            client_ip: s
                .client_ip
                .unwrap_or_else(|| messages::text("label.none").into()),
            created_at: crate::messenger::beijing_time(s.created_at),
            current: s.current,
        })
        .collect();
    let view = SessionsView {
        chrome: Chrome::new("web.sessions.title", "/account/sessions", csrf, true),
        others: sessions.iter().any(|s| !s.current),
        sessions,
        notice,
    };
    csrf.keep(state, render(StatusCode::OK, "account_sessions.html", view))
}

#[tracing::instrument(skip_all)]
pub async fn sessions_page(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
) -> Response {
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    page(&state, &services, &csrf, &session, None).await
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    /// A session's id, or `others`.
    #[serde(default)]
    session: String,
}

#[tracing::instrument(skip_all)]
pub async fn sessions_submit(
    State(state): State<SharedState>,
    State(services): State<Login>,
    headers: HeaderMap,
    Form(form): Form<EndForm>,
) -> Response {
    let (csrf, session) =
        match form_session(&state, &headers, &form.csrf, "/account/sessions").await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    if form.session == crate::sessions::public_id(&session.token_hash) {
        // 退出 for this very session: logging out.
        if let Err(error) = login::logout(&services, &session).await {
            return read_failed(error, "logging out");
        }
        let mut response = Redirect::to("/login").into_response();
        response.headers_mut().append(
            axum::http::header::SET_COOKIE,
            super::page::set_cookie(&state, super::page::SESSION_COOKIE, "", 0),
        );
        return response;
    }
    let ended = if form.session == "others" {
        login::end_other_sessions(&services, &session).await
    } else {
        login::end_session(&services, &session, &form.session)
            .await
            .map(u64::from)
    };
    let notice = match ended {
        Ok(ended) => messages::format("web.sessions.ended", &[("count", &ended.to_string())]),
        Err(error) => return read_failed(error, "ending a session"),
    };
    page(&state, &services, &csrf, &session, Some(notice)).await
}
