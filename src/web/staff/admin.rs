//! The administrator's pages: schools; staff accounts (create, list, disable, a new password,
//! reset the second factor); support tickets from 问题反馈, answered here (the person sees the
//! answer and the ticket's state on their 问题反馈 page).

use super::gate::{role_label, shown_time, staff_form, staff_page, Staff};
use crate::application::staff::{self, NewStaff, StaffError};
use crate::application::support::{Support, TicketError};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, Path, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::roles::StaffRole;
use xuexin_domain::values::Secret;
use xuexin_domain::AccountId;

use super::super::page::{read_failed, reflect, render, Chrome, Csrf};

const ADMIN: &[StaffRole] = &[StaffRole::Administrator];

async fn schools_page(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    alert: Option<String>,
) -> Response {
    let schools = match xuexin_projections::records::schools(&state.db).await {
        Ok(schools) => schools,
        Err(error) => return read_failed(error.into(), "the schools"),
    };
    let page = render(
        status,
        "staff_schools.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.schools.title", "/staff/schools", csrf, true),
            schools => schools,
            alert => alert,
        },
    );
    csrf.keep(state, page)
}

/// 学校: every school, and the form to register one.
#[tracing::instrument(skip_all)]
pub async fn schools(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/schools", ADMIN).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    schools_page(&state, &csrf, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct SchoolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    province: String,
}

#[tracing::instrument(skip_all)]
pub async fn add_school(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<SchoolForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/schools", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let metadata = context.metadata(staff.session.actor());
    match staff::add_school(
        &state.account,
        &form.code,
        &form.name,
        &form.province,
        &metadata,
    )
    .await
    {
        Ok(position) => {
            reflect(&state, &[xuexin_projections::records::NAME], position).await;
            Redirect::to("/staff/schools").into_response()
        }
        Err(error) => {
            schools_page(
                &state,
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(format!("{error}")),
            )
            .await
        }
    }
}

#[derive(Serialize)]
struct StaffLine {
    id: String,
    username: String,
    name: String,
    role: &'static str,
    scope: String,
    disabled: bool,
    factor: bool,
    created_at: String,
    me: bool,
}

#[derive(Serialize, Default)]
struct Shown {
    /// A password shown once (new account or reset), with whose it is.
    password: Option<String>,
    username: Option<String>,
    notice: Option<&'static str>,
    alert: Option<String>,
}

async fn accounts_page(
    state: &SharedState,
    csrf: &Csrf,
    me: &Staff,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let accounts = match staff::staff_accounts(&state.account).await {
        Ok(accounts) => accounts,
        Err(error) => return read_failed(error, "the staff accounts"),
    };
    let own = me.session.account_id.to_string();
    let lines: Vec<StaffLine> = accounts
        .into_iter()
        .map(|a| StaffLine {
            me: a.account_id == own,
            id: a.account_id,
            username: a.profile.username,
            name: a.profile.display_name,
            role: role_label(a.profile.role),
            scope: a.profile.scope.unwrap_or_default(),
            disabled: a.disabled,
            factor: a.factor_enrolled,
            created_at: shown_time(a.created_at.as_deref()),
        })
        .collect();
    let roles: Vec<(&str, &str)> = StaffRole::ALL
        .iter()
        .map(|r| (r.as_str(), role_label(*r)))
        .collect();
    let page = render(
        status,
        "staff_accounts.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.accounts.title", "/staff/accounts", csrf, true),
            accounts => lines,
            roles => roles,
            shown => shown,
        },
    );
    csrf.keep(state, page)
}

/// 工作人员账号: every staff account, and the form for a new one.
#[tracing::instrument(skip_all)]
pub async fn accounts(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff/accounts", ADMIN).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    accounts_page(&state, &csrf, &staff, StatusCode::OK, Shown::default()).await
}

#[derive(Deserialize)]
pub struct NewStaffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    phone: String,
}

/// A new staff account with a generated password (shown once).
#[tracing::instrument(skip_all)]
pub async fn create_account(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<NewStaffForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/accounts", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let Some(role) = StaffRole::parse(&form.role) else {
        let shown = Shown {
            alert: Some(messages::text("web.staff.accounts.role_required").to_string()),
            ..Shown::default()
        };
        return accounts_page(
            &state,
            &csrf,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            shown,
        )
        .await;
    };
    let password = format!("Xx-{}", &crate::security::new_token()[..20]);
    let username = form.username.trim().to_ascii_lowercase();
    let created = staff::create_staff(
        &state.account,
        NewStaff {
            username: username.clone(),
            display_name: Some(form.name.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| username.clone()),
            role,
            scope: Some(form.scope.trim().to_string()).filter(|s| !s.is_empty()),
            contact_phone: Some(form.phone.trim().to_string()).filter(|p| !p.is_empty()),
            password: Secret::new(password.clone()),
        },
        &context.metadata(staff.session.actor()),
    )
    .await;
    let (status, shown) = match created {
        Ok(_) => (
            StatusCode::CREATED,
            Shown {
                password: Some(password),
                username: Some(username),
                notice: Some(messages::text("web.staff.accounts.created")),
                alert: None,
            },
        ),
        Err(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Shown {
                alert: Some(format!("{error:#}")),
                ..Shown::default()
            },
        ),
    };
    accounts_page(&state, &csrf, &staff, status, shown).await
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `disable`, `password` (a new one, shown once) or `factor` (reset) for a staff account.
#[tracing::instrument(skip_all)]
pub async fn account_action(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Path((account, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/accounts", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let Some(id) = AccountId::parse(&account) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let metadata = context.metadata(staff.session.actor());
    let username = match state
        .store
        .load::<xuexin_domain::account::Account>(&account)
        .await
    {
        Ok(loaded) => loaded.aggregate.staff().map(|p| p.username.clone()),
        Err(error) => return read_failed(error, "a staff account"),
    };
    let result: Result<Shown, StaffError> = match action.as_str() {
        "disable" => {
            let reason = Some(form.reason.trim())
                .filter(|r| !r.is_empty())
                .unwrap_or(messages::text("web.staff.accounts.disabled_reason"));
            staff::disable_staff(&state.account, id, reason, &metadata)
                .await
                .map(|_| Shown {
                    notice: Some(messages::text("web.staff.accounts.disabled_notice")),
                    ..Shown::default()
                })
        }
        "password" => staff::reset_staff_password(&state.account, id, &metadata)
            .await
            .map(|password| Shown {
                password: Some(password),
                username: username.clone(),
                notice: Some(messages::text("web.staff.accounts.password_notice")),
                alert: None,
            }),
        "factor" => state
            .account
            .reset_factor(id, &metadata)
            .await
            .map(|_| Shown {
                notice: Some(messages::text("web.staff.accounts.factor_notice")),
                ..Shown::default()
            })
            .map_err(|error| match error {
                crate::application::factor::FactorError::NotStaff => StaffError::NotFound,
                other => StaffError::Internal(anyhow::anyhow!("{}", messages::text(other.code()))),
            }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(shown) => accounts_page(&state, &csrf, &staff, StatusCode::OK, shown).await,
        Err(StaffError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            let alert = match &error {
                StaffError::Refused(crate::store::ExecuteError::Domain(refusal)) => {
                    messages::text(refusal.code()).to_string()
                }
                other => format!("{other}"),
            };
            let shown = Shown {
                alert: Some(alert),
                ..Shown::default()
            };
            accounts_page(&state, &csrf, &staff, StatusCode::CONFLICT, shown).await
        }
    }
}

#[derive(Serialize)]
struct TicketLine {
    id: String,
    username: String,
    description: String,
    opened_at: String,
    screenshot: Option<String>,
    age: i64,
    overdue: bool,
}

async fn tickets_page(
    state: &SharedState,
    support: &Support,
    csrf: &Csrf,
    staff: &Staff,
    status: StatusCode,
    alert: Option<&'static str>,
) -> Response {
    let waiting = match support.waiting(&staff.session).await {
        Ok(waiting) => waiting,
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the tickets"),
    };
    let now = state.clock.now().millis();
    let lines: Vec<TicketLine> = waiting
        .into_iter()
        .map(|t| {
            let age = state.config.calendar.working_days_between(t.opened_at, now);
            TicketLine {
                screenshot: t
                    .screenshot_sha256
                    .is_some()
                    .then(|| format!("/staff/tickets/{}/screenshot", t.ticket_id)),
                opened_at: crate::messenger::beijing_time(xuexin_domain::Timestamp::from_millis(
                    t.opened_at,
                )),
                id: t.ticket_id,
                username: t.username,
                description: t.description,
                age,
                overdue: age > crate::workdays::PROMISE,
            }
        })
        .collect();
    let page = render(
        status,
        "staff_tickets.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.tickets.title", "/staff/tickets", csrf, true),
            tickets => lines,
            alert => alert,
        },
    );
    csrf.keep(state, page)
}

/// 问题反馈: the tickets waiting for an answer, oldest first.
#[tracing::instrument(skip_all)]
pub async fn tickets(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff/tickets", ADMIN).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    tickets_page(&state, &support, &csrf, &staff, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    answer: String,
}

#[tracing::instrument(skip_all)]
pub async fn answer(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
    context: RequestContext,
    Path(ticket): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/tickets", ADMIN).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let metadata = context.metadata(staff.session.actor());
    match support
        .answer(&staff.session, &ticket, &form.answer, &metadata)
        .await
    {
        Ok(position) => {
            reflect(&state, &[xuexin_projections::support::NAME], position).await;
            Redirect::to("/staff/tickets").into_response()
        }
        Err(TicketError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(TicketError::Invalid(refusals)) => {
            let code = refusals.first().map_or("validation_failed", |r| r.code);
            tickets_page(
                &state,
                &support,
                &csrf,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(messages::text(code)),
            )
            .await
        }
        Err(error) => read_failed(anyhow::anyhow!("{error:#}"), "answering a ticket"),
    }
}

/// A ticket's screenshot, for administrators.
#[tracing::instrument(skip_all)]
pub async fn screenshot(
    State(state): State<SharedState>,
    State(support): State<Support>,
    headers: HeaderMap,
    Path(ticket): Path<String>,
) -> Response {
    let (_, staff) = match staff_page(&state, &headers, "/staff/tickets", ADMIN).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match support.screenshot(&staff.session, &ticket).await {
        Ok((content_type, bytes)) => super::gate::image(&content_type, bytes),
        Err(TicketError::NotFound | TicketError::Forbidden) => {
            StatusCode::NOT_FOUND.into_response()
        }
        Err(error) => read_failed(anyhow::anyhow!("{error:#}"), "a ticket's screenshot"),
    }
}
