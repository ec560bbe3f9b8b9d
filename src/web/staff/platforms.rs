//! 合作平台, the administrator's page of the partner platforms (issue 17, item 1): the list,
//! the form that registers one, a new secret (shown once) and disabling. The same use cases as
//! `xuexin admin platform`.

use super::gate::{staff_form, staff_page};
use crate::application::platforms::{PlatformUseError, PlatformView};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, Path, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::platform::{ClientKind, PlatformError, PlatformSettings, SCOPES};
use xuexin_domain::roles::StaffRole;

use super::super::page::{read_failed, render, Chrome, Csrf};

const ADMIN: &[StaffRole] = &[StaffRole::Administrator];

/// What the page shows once: a new client secret, a notice, a refusal.
#[derive(Serialize, Default)]
struct Shown {
    client_id: Option<String>,
    secret: Option<String>,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

#[derive(Serialize)]
struct Line {
    #[serde(flatten)]
    platform: PlatformView,
    confidential: bool,
}

async fn page(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    shown: Shown,
    form: Option<&PlatformForm>,
) -> Response {
    let platforms = match state.platforms.list().await {
        Ok(all) => all,
        Err(error) => return read_failed(anyhow::anyhow!("{error}"), "the platforms"),
    };
    let lines: Vec<Line> = platforms
        .into_iter()
        .map(|platform| Line {
            confidential: platform.settings.kind == ClientKind::Confidential,
            platform,
        })
        .collect();
    let scopes: Vec<(&str, &str)> = SCOPES
        .iter()
        .filter(|s| **s != "openid")
        .map(|s| (*s, messages::text(&format!("scope.{s}"))))
        .collect();
    let page = render(
        status,
        "staff_platforms.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.platforms.title", "/staff/platforms", csrf, true),
            platforms => lines,
            scopes => scopes,
            shown => shown,
            form => form,
        },
    );
    csrf.keep(state, page)
}

/// 合作平台: every platform, and the form for a new one.
#[tracing::instrument(skip_all)]
pub async fn platforms(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/platforms", ADMIN).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    page(&state, &csrf, StatusCode::OK, Shown::default(), None).await
}

#[derive(Serialize, Default)]
pub struct PlatformForm {
    #[serde(skip_serializing)]
    csrf: String,
    client_id: String,
    name: String,
    kind: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: String,
    sector: String,
    /// The checked scopes (`scope=a&scope=b`).
    scopes: Vec<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Registers a platform; a confidential one's secret is shown on the answer, once.
#[tracing::instrument(skip_all)]
pub async fn add(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    body: axum::body::Bytes,
) -> Response {
    // Repeated `scope` fields: parsed by hand, as serde_urlencoded cannot collect them.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = PlatformForm {
        csrf: field("csrf"),
        client_id: field("client_id").trim().to_string(),
        name: field("name"),
        kind: field("kind"),
        redirect_uris: field("redirect_uris"),
        post_logout_redirect_uris: field("post_logout_redirect_uris"),
        backchannel_logout_uri: field("backchannel_logout_uri").trim().to_string(),
        sector: field("sector"),
        scopes: pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/platforms", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let kind = match form.kind.as_str() {
        "public" => ClientKind::Public,
        "confidential" => ClientKind::Confidential,
        _ => {
            let shown = Shown {
                alert: Some(messages::text("platform.invalid.kind")),
                ..Shown::default()
            };
            return page(
                &state,
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                shown,
                Some(&form),
            )
            .await;
        }
    };
    let settings = PlatformSettings {
        name: form.name.clone(),
        kind,
        redirect_uris: lines(&form.redirect_uris),
        post_logout_redirect_uris: lines(&form.post_logout_redirect_uris),
        backchannel_logout_uri: Some(form.backchannel_logout_uri.clone()).filter(|u| !u.is_empty()),
        scopes: form.scopes.clone(),
        sector: form.sector.clone(),
    };
    let metadata = context.metadata(staff.session.actor());
    match state
        .platforms
        .register(&form.client_id, settings, &metadata)
        .await
    {
        Ok(secret) => {
            let shown = Shown {
                client_id: Some(form.client_id.clone()),
                secret,
                ..Shown::default()
            };
            page(&state, &csrf, StatusCode::OK, shown, None).await
        }
        Err(error) => {
            let status = status_of(&error, StatusCode::UNPROCESSABLE_ENTITY);
            let shown = Shown {
                alert: Some(messages::text(error.code())),
                ..Shown::default()
            };
            page(&state, &csrf, status, shown, Some(&form)).await
        }
    }
}

/// The answer's status for a refusal: `refused` for what the administrator can correct.
fn status_of(error: &PlatformUseError, refused: StatusCode) -> StatusCode {
    match error {
        PlatformUseError::Refused(PlatformError::Unknown) => StatusCode::NOT_FOUND,
        PlatformUseError::Refused(_) => refused,
        PlatformUseError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        PlatformUseError::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "a platform use case failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// 更换密钥 (`rotate-secret`) or 停用 (`disable`).
#[tracing::instrument(skip_all)]
pub async fn action(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Path((client_id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/platforms", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let metadata = context.metadata(staff.session.actor());
    let result = match action.as_str() {
        "rotate-secret" => state
            .platforms
            .rotate_secret(&client_id, &metadata)
            .await
            .map(|secret| Shown {
                client_id: Some(client_id.clone()),
                secret: Some(secret),
                ..Shown::default()
            }),
        "disable" => state
            .platforms
            .disable(&client_id, &metadata)
            .await
            .map(|()| Shown {
                notice: Some(messages::text("web.staff.platforms.disabled_notice")),
                ..Shown::default()
            }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(shown) => page(&state, &csrf, StatusCode::OK, shown, None).await,
        Err(error) => {
            let status = status_of(&error, StatusCode::CONFLICT);
            let shown = Shown {
                alert: Some(messages::text(error.code())),
                ..Shown::default()
            };
            page(&state, &csrf, status, shown, None).await
        }
    }
}
