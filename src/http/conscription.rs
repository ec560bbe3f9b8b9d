//! Conscription offices (征兵办公室): accounts for young people, and password resets for the
//! accounts an office registered (seed 001: 武装部可以重置密码). Events name the office.

use super::error::ProblemDocument;
use super::extract::{ApiJson, Authenticated, RequestContext};
use super::idempotency::{holds_secret, HoldsSecret};
use super::names::DocumentTypeName;
use crate::application::account::AccountManagement;
use crate::application::offices::{OfficeError, OfficeRegistration};
use crate::application::registration::register_by_office;
use crate::http::extract::ApiPath;
use crate::problem::account_problem;
use crate::problem::{Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::roles::StaffRole;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(reset_password))
}

fn office_of(session: &crate::sessions::Session) -> Result<String, Problem> {
    Ok(session
        .require_role(&[StaffRole::ConscriptionOffice])?
        .unwrap_or_default()
        .to_string())
}

/// Offices' refusals as the API answers them.
pub fn office_problem(error: OfficeError) -> Problem {
    match error {
        OfficeError::NotFromOffice => {
            Problem::new(ProblemKind::Forbidden, "account_not_from_office")
        }
        OfficeError::Invalid(refusals) => super::error::invalid_fields(refusals),
        OfficeError::Refused(error) => account_problem(error),
        OfficeError::Busy => Problem::overloaded(std::time::Duration::from_secs(1)),
        OfficeError::Internal(error) => Problem::internal(error),
    }
}

/// An answer that holds the initial password: marked so that it is never stored for replay.
type SecretAnswer = (
    Option<axum::Extension<HoldsSecret>>,
    Json<OfficeAccountResponse>,
);

#[derive(Deserialize, ToSchema)]
pub struct OfficeAccountRequest {
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    /// `resident_id_card` (the young person's 居民身份证), or another document type.
    #[schema(value_type = Option<DocumentTypeName>, nullable = false)]
    pub document_type: Option<String>,
    #[schema(required = true, nullable = false)]
    pub document_number: Option<String>,
    /// Optional: young people without a phone are registered too (seed 001).
    pub phone: Option<String>,
    /// Optional: generated (and returned once) if absent.
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OfficeAccountResponse {
    pub account_id: String,
    pub position: Option<i64>,
    /// The generated password, shown once (to hand to the young person).
    pub initial_password: Option<String>,
}

/// Register an account for a young person (兵役登记). No SMS code; the phone is optional; the
/// identity is then protected: nobody can claim it by re-registration.
#[utoipa::path(
    post,
    path = "/api/v1/conscription/accounts",
    tag = "conscription",
    request_body = OfficeAccountRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = OfficeAccountResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a conscription office", body = ProblemDocument),
        (status = 409, description = "The ID number or phone is registered already", body = ProblemDocument),
        (status = 422, description = "A field is invalid", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_account(
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<OfficeAccountRequest>,
) -> Result<(StatusCode, SecretAnswer), Problem> {
    let office = office_of(&session)?;
    let (form, generated) = OfficeRegistration {
        name: body.name.as_deref().unwrap_or(""),
        document_type: body.document_type.as_deref(),
        document_number: body.document_number.as_deref().unwrap_or(""),
        phone: body.phone.as_deref(),
        password: body.password,
    }
    .parse(state.clock.now().date())
    .map_err(office_problem)?;
    let result = register_by_office(
        &state.registration,
        form,
        &office,
        &context.metadata(session.actor()),
    )
    .await
    .map_err(super::registration::registration_problem)?;
    Ok((
        StatusCode::CREATED,
        (
            // A generated password is shown once: never kept for an Idempotency-Key replay.
            holds_secret(generated.is_some()),
            Json(OfficeAccountResponse {
                account_id: result.account_id.to_string(),
                position: result.position,
                initial_password: generated,
            }),
        ),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct OfficeResetRequest {
    /// Optional: generated (and returned once) if absent.
    pub password: Option<String>,
}

/// Reset the password of an account this office registered (协助修改密码). Every session of
/// the account ends; a lockout is lifted.
#[utoipa::path(
    post,
    path = "/api/v1/conscription/accounts/{account_id}/password-reset",
    operation_id = "conscription_reset_password",
    tag = "conscription",
    params(("account_id" = String, Path, description = "The young person's account")),
    request_body = OfficeResetRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reset", body = OfficeAccountResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a conscription office, or not this office's account", body = ProblemDocument),
        (status = 422, description = "The password is not acceptable", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(account_id): ApiPath<String>,
    ApiJson(body): ApiJson<OfficeResetRequest>,
) -> Result<SecretAnswer, Problem> {
    let office = office_of(&session)?;
    let reset = account
        .reset_by_office(
            &office,
            &account_id,
            body.password,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(office_problem)?;
    Ok((
        holds_secret(reset.generated.is_some()),
        Json(OfficeAccountResponse {
            account_id,
            position: reset.position,
            initial_password: reset.generated,
        }),
    ))
}
