//! The console's routes, its first page and the guard that keeps a staff session before its
//! second factor on `/staff/factor`.

use super::super::page::{read_failed, render, Chrome};
use super::gate::{links, role_label, shown_time, staff_page};
use super::{admin, audit, factor, office, platforms, records, reviews};
use crate::state::SharedState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use xuexin_domain::roles::StaffRole;

/// Every console page, for the 403 test and the guard: `(path, roles)`.
pub const PAGES: &[(&str, &[StaffRole])] = &[
    ("/staff", &StaffRole::ALL),
    ("/staff/reviews", &[StaffRole::Reviewer]),
    ("/staff/name-changes", &[StaffRole::Reviewer]),
    ("/staff/imports", &[StaffRole::Registrar]),
    ("/staff/unchecked", &[StaffRole::Registrar]),
    ("/staff/unchecked.csv", &[StaffRole::Registrar]),
    ("/staff/correction-requests", &[StaffRole::Registrar]),
    (
        "/staff/degree-corrections",
        &[StaffRole::ProvincialAuthority],
    ),
    ("/staff/conscripts", &[StaffRole::ConscriptionOffice]),
    ("/staff/audit", &[StaffRole::Auditor]),
    ("/staff/audit/export.csv", &[StaffRole::Auditor]),
    ("/staff/audit/export.json", &[StaffRole::Auditor]),
    ("/staff/audit/as-of", &[StaffRole::Auditor]),
    ("/staff/audit/chain", &[StaffRole::Auditor]),
    ("/staff/schools", &[StaffRole::Administrator]),
    ("/staff/accounts", &[StaffRole::Administrator]),
    ("/staff/tickets", &[StaffRole::Administrator]),
    ("/staff/platforms", &[StaffRole::Administrator]),
];

pub fn router() -> Router<SharedState> {
    Router::new()
        .route(
            "/staff/login",
            get(factor::login_page).post(factor::login_submit),
        )
        .route(
            "/staff/factor",
            get(factor::factor_page).post(factor::factor_submit),
        )
        .route("/staff/factor/qr.svg", get(factor::qr))
        .route("/staff", get(home))
        .route("/staff/reviews", get(reviews::queue))
        .route("/staff/reviews/{identity}/{claimant}", get(reviews::detail))
        .route(
            "/staff/reviews/{identity}/{claimant}/photo",
            get(reviews::photo),
        )
        .route(
            "/staff/reviews/{identity}/{claimant}/decide",
            post(reviews::decide),
        )
        .route(
            "/staff/name-changes",
            get(reviews::name_changes).post(reviews::decide_name_change),
        )
        .route(
            "/staff/imports",
            get(records::import_page)
                .post(records::import_submit)
                .layer(DefaultBodyLimit::max(records::IMPORT_LIMIT)),
        )
        .route("/staff/imports/{report}", get(records::import_errors))
        .route("/staff/unchecked", get(records::unchecked))
        .route("/staff/unchecked.csv", get(records::unchecked_csv))
        .route(
            "/staff/correction-requests",
            get(records::correction_requests).post(records::answer_correction_request),
        )
        .route(
            "/staff/degree-corrections",
            get(records::corrections).post(records::decide_correction),
        )
        .route(
            "/staff/conscripts",
            get(office::conscripts).post(office::create),
        )
        .route("/staff/conscripts/reset", post(office::reset))
        .route("/staff/audit", get(audit::log))
        .route("/staff/audit/export.csv", get(audit::export_csv))
        .route("/staff/audit/export.json", get(audit::export_json))
        .route("/staff/audit/accounts/{account}", get(audit::account))
        .route("/staff/audit/as-of", get(audit::as_of))
        .route(
            "/staff/audit/chain",
            get(audit::chain).post(audit::chain_run),
        )
        .route(
            "/staff/schools",
            get(admin::schools).post(admin::add_school),
        )
        .route(
            "/staff/accounts",
            get(admin::accounts).post(admin::create_account),
        )
        .route(
            "/staff/accounts/{account}/{action}",
            post(admin::account_action),
        )
        .route("/staff/tickets", get(admin::tickets))
        .route(
            "/staff/platforms",
            get(platforms::platforms).post(platforms::add),
        )
        .route(
            "/staff/platforms/{client_id}/{action}",
            post(platforms::action),
        )
        .route("/staff/tickets/{ticket}/answer", post(admin::answer))
        .route("/staff/tickets/{ticket}/screenshot", get(admin::screenshot))
}

#[derive(Serialize)]
struct Action {
    time: String,
    event_type: String,
    aggregate: String,
}

/// `/staff`: the role's work, and the staff member's own latest actions (who did what when).
#[tracing::instrument(skip_all)]
async fn home(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff", &StaffRole::ALL).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let actor = staff.session.actor().to_metadata();
    let events = match crate::audit::latest_by_actor(&state.db, &actor, 20).await {
        Ok(events) => events,
        Err(error) => return read_failed(error, "the staff member's actions"),
    };
    let actions: Vec<Action> = events
        .into_iter()
        .map(|e| Action {
            time: shown_time(e.time.as_deref()),
            event_type: e.event_type,
            aggregate: format!("{} {}", e.aggregate_type, e.aggregate_id),
        })
        .collect();
    let page = render(
        StatusCode::OK,
        "staff_home.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.home_title", "/staff", &csrf, true),
            role => role_label(staff.role),
            scope => staff.scope,
            links => links(staff.role),
            actions => actions,
        },
    );
    csrf.keep(&state, page)
}
