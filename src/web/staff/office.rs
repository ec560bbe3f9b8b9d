//! The conscription office's page (seed 001: 兵役登记后当地征兵办公室会给所有进行过兵役登记的学生
//! 注册学信网账号; 武装部可以重置密码): create an account for a young person, with a printable
//! slip that shows the initial password once; reset the password of an account the office
//! created (a new slip); the list of the office's accounts.

use super::gate::{shown_time, staff_form, staff_page, Staff};
use crate::application::offices::{office_accounts, OfficeError, OfficeRegistration};
use crate::application::registration::register_by_office;
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_domain::roles::StaffRole;

use super::super::page::{read_failed, reflect, render, Chrome, Csrf};

const OFFICE: &[StaffRole] = &[StaffRole::ConscriptionOffice];

type FieldErrors = BTreeMap<String, &'static str>;

#[derive(Serialize)]
struct AccountLine {
    id: String,
    name: String,
    document: String,
    phone: String,
    status: &'static str,
    registered_at: String,
}

fn status_label(status: &str) -> &'static str {
    messages::text(match status {
        "Active" => "web.account.status_active",
        "PendingIdentityReview" => "web.account.status_pending_review",
        "Registering" => "web.staff.status_registering",
        _ => "web.staff.status_other",
    })
}

#[derive(Serialize, Default)]
struct Typed {
    name: String,
    document_type: String,
    document_number: String,
    phone: String,
}

async fn page(
    state: &SharedState,
    csrf: &Csrf,
    staff: &Staff,
    status: StatusCode,
    typed: Typed,
    errors: FieldErrors,
    alert: Option<&'static str>,
) -> Response {
    let office = staff.scope.clone().unwrap_or_default();
    let accounts = match office_accounts(&state.account, &office).await {
        Ok(accounts) => accounts,
        Err(error) => return read_failed(error, "the office's accounts"),
    };
    let lines: Vec<AccountLine> = accounts
        .into_iter()
        .map(|a| AccountLine {
            status: status_label(&a.status),
            registered_at: shown_time(a.registered_at.as_deref()),
            id: a.account_id,
            name: a.name,
            document: a.document,
            phone: a.phone.unwrap_or_default(),
        })
        .collect();
    let page = render(
        status,
        "staff_conscripts.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.conscripts.title", "/staff/conscripts", csrf, true),
            office => office,
            accounts => lines,
            typed => typed,
            errors => errors,
            alert => alert,
        },
    );
    csrf.keep(state, page)
}

/// The office's accounts and the form for a new one.
#[tracing::instrument(skip_all)]
pub async fn conscripts(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff/conscripts", OFFICE).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    page(
        &state,
        &csrf,
        &staff,
        StatusCode::OK,
        Typed::default(),
        FieldErrors::new(),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    document_type: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    phone: String,
}

fn slip(
    state: &SharedState,
    csrf: &Csrf,
    office: &str,
    name: &str,
    login: &str,
    password: &str,
    reset: bool,
) -> Response {
    let page = render(
        StatusCode::OK,
        "staff_slip.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.slip.title", "/staff/conscripts", csrf, true),
            office => office,
            name => name,
            login => login,
            password => password,
            reset => reset,
            url => format!("{}/login", state.config.public_url.trim_end_matches('/')),
        },
    );
    csrf.keep(state, page)
}

/// 注册: the account is created with a generated password, shown once on a printable slip.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<CreateForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/conscripts", OFFICE).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let office = staff.scope.clone().unwrap_or_default();
    let typed = Typed {
        name: form.name.trim().to_string(),
        document_type: form.document_type.clone(),
        document_number: form.document_number.trim().to_string(),
        phone: form.phone.trim().to_string(),
    };
    let parsed = OfficeRegistration {
        name: &form.name,
        document_type: Some(form.document_type.as_str()),
        document_number: &form.document_number,
        phone: Some(form.phone.as_str()),
        password: None,
    }
    .parse(state.clock.now().date());
    let (registration, generated) = match parsed {
        Ok(parsed) => parsed,
        Err(OfficeError::Invalid(refusals)) => {
            let errors = refusals
                .into_iter()
                .map(|r| (r.field, messages::text(r.code)))
                .collect();
            return page(
                &state,
                &csrf,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                errors,
                None,
            )
            .await;
        }
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "an office's form"),
    };
    let login = registration.document.expose_number().to_string();
    let name = registration.name.as_str().to_string();
    let metadata = context.metadata(staff.session.actor());
    match register_by_office(&state.registration, registration, &office, &metadata).await {
        Ok(result) => {
            reflect(
                &state,
                &[xuexin_projections::account_view::NAME],
                result.position,
            )
            .await;
            slip(
                &state,
                &csrf,
                &office,
                &name,
                &login,
                generated.as_deref().unwrap_or(""),
                false,
            )
        }
        Err(error) => {
            use crate::application::registration::RegistrationError;
            let mut errors = FieldErrors::new();
            let (status, alert) = match error {
                RegistrationError::Conflicts(conflicts) => {
                    for conflict in &conflicts {
                        errors.insert(conflict.field.to_string(), messages::text(conflict.code));
                    }
                    (StatusCode::CONFLICT, None)
                }
                RegistrationError::Busy | RegistrationError::Contention => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(messages::text("overloaded")),
                ),
                other => {
                    tracing::error!(error = %other, "an office's registration failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some(messages::text("internal_error")),
                    )
                }
            };
            page(&state, &csrf, &staff, status, typed, errors, alert).await
        }
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
}

/// 协助修改密码: a new generated password for an account the office created, on a slip.
#[tracing::instrument(skip_all)]
pub async fn reset(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<ResetForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, "/staff/conscripts", OFFICE).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let office = staff.scope.clone().unwrap_or_default();
    let metadata = context.metadata(staff.session.actor());
    match state
        .account
        .reset_by_office(&office, &form.account, None, &metadata)
        .await
    {
        Ok(done) => {
            let account = match state
                .store
                .load::<xuexin_domain::account::Account>(&form.account)
                .await
            {
                Ok(loaded) => loaded.aggregate,
                Err(error) => return read_failed(error, "a reset account"),
            };
            slip(
                &state,
                &csrf,
                &office,
                account.name(),
                account.document().map_or("", |d| d.masked.as_str()),
                done.generated.as_deref().unwrap_or(""),
                true,
            )
        }
        Err(OfficeError::NotFromOffice) => {
            page(
                &state,
                &csrf,
                &staff,
                StatusCode::FORBIDDEN,
                Typed::default(),
                FieldErrors::new(),
                Some(messages::text("account_not_from_office")),
            )
            .await
        }
        Err(error) => read_failed(anyhow::anyhow!("{error:#}"), "an office's reset"),
    }
}
