//! What every console page is made of: the gate (a staff session past its second factor,
//! with one of the page's roles; else the way to `/staff/login` or 403), the role's names and
//! links, times as the pages show them.

use super::super::page::{browser_session, render, Chrome, Csrf};
use crate::sessions::Session;
use crate::state::SharedState;
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use xuexin_domain::roles::StaffRole;

/// A staff page's gate passed: the session, its role and scope.
pub struct Staff {
    pub session: Session,
    pub role: StaffRole,
    pub scope: Option<String>,
}

/// 403: this page is for other staff roles (or for staff, and this is a person's session).
pub fn forbidden(state: &SharedState, csrf: &Csrf, path: &str) -> Response {
    let page = render(
        StatusCode::FORBIDDEN,
        "staff_forbidden.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.forbidden_title", path, csrf, true),
        },
    );
    csrf.keep(state, page)
}

/// A console page's first step: the browser's staff session with one of `roles` (else the
/// way to `/staff/login`, or 403), and its CSRF binding.
pub async fn staff_page(
    state: &SharedState,
    headers: &HeaderMap,
    path: &str,
    roles: &[StaffRole],
) -> Result<(Csrf, Staff), Response> {
    let csrf = Csrf::of(state, headers);
    let Some(session) = browser_session(state, headers).await else {
        return Err(Redirect::to("/staff/login").into_response());
    };
    if session.factor_pending {
        return Err(Redirect::to("/staff/factor").into_response());
    }
    match session.staff.clone() {
        Some((role, scope)) if roles.contains(&role) => Ok((
            csrf,
            Staff {
                session,
                role,
                scope,
            },
        )),
        _ => Err(forbidden(state, &csrf, path)),
    }
}

/// A console form's first steps: this browser's CSRF token (else the 403 page, nothing
/// done), then [`staff_page`].
pub async fn staff_form(
    state: &SharedState,
    headers: &HeaderMap,
    token: &str,
    path: &str,
    roles: &[StaffRole],
) -> Result<(Csrf, Staff), Response> {
    let csrf = Csrf::of(state, headers);
    if !csrf.accepts(token) {
        return Err(super::super::page::refused(state, &csrf, path));
    }
    staff_page(state, headers, path, roles).await
}

/// A staff role's name in the page's language.
pub fn role_label(role: StaffRole) -> &'static str {
    crate::messages::text(match role {
        StaffRole::Reviewer => "web.staff.role.reviewer",
        StaffRole::Registrar => "web.staff.role.registrar",
        StaffRole::ProvincialAuthority => "web.staff.role.provincial_authority",
        StaffRole::ConscriptionOffice => "web.staff.role.conscription_office",
        StaffRole::Auditor => "web.staff.role.auditor",
        StaffRole::Administrator => "web.staff.role.administrator",
    })
}

/// The console's links for a role: `(href, label)`.
pub fn links(role: StaffRole) -> Vec<(&'static str, &'static str)> {
    let text = crate::messages::text;
    match role {
        StaffRole::Reviewer => vec![
            ("/staff/reviews", text("web.staff.reviews.title")),
            ("/staff/name-changes", text("web.staff.names.title")),
        ],
        StaffRole::Registrar => vec![
            ("/staff/imports", text("web.staff.imports.title")),
            ("/staff/unchecked", text("web.staff.unchecked.title")),
            (
                "/staff/correction-requests",
                text("web.staff.requests.title"),
            ),
        ],
        StaffRole::ProvincialAuthority => vec![(
            "/staff/degree-corrections",
            text("web.staff.corrections.title"),
        )],
        StaffRole::ConscriptionOffice => {
            vec![("/staff/conscripts", text("web.staff.conscripts.title"))]
        }
        StaffRole::Auditor => vec![
            ("/staff/audit", text("web.staff.audit.title")),
            ("/staff/audit/as-of", text("web.staff.asof.title")),
            ("/staff/audit/chain", text("web.staff.chain.title")),
        ],
        StaffRole::Administrator => vec![
            ("/staff/schools", text("web.staff.schools.title")),
            ("/staff/accounts", text("web.staff.accounts.title")),
            ("/staff/tickets", text("web.staff.tickets.title")),
            ("/staff/platforms", text("web.staff.platforms.title")),
        ],
    }
}

/// Beijing time of an event's RFC 3339 time (as the pages show times).
pub fn shown_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .and_then(xuexin_domain::Timestamp::parse_rfc3339)
        .map(crate::messenger::beijing_time)
        .unwrap_or_default()
}

/// An image from the blob store (a claim's photo, a ticket's screenshot), with its type.
pub fn image(content_type: &str, bytes: Vec<u8>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_str(content_type).unwrap_or(
                axum::http::HeaderValue::from_static("application/octet-stream"),
            ),
        )],
        bytes,
    )
        .into_response()
}
