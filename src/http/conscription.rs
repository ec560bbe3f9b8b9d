//! Conscription offices (征兵办公室): accounts for young people, and password resets for the
//! accounts an office registered (seed 001: 武装部可以重置密码). Events name the office.

use super::error::ProblemDocument;
use super::extract::{ApiJson, Authenticated, RequestContext};
use super::idempotency::{holds_secret, HoldsSecret};
use super::names::DocumentTypeName;
use super::registration::password_error;
use crate::application::registration::{register_by_office, RegistrationForm};
use crate::http::extract::ApiPath;
use crate::problem::account_problem;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::account::{Account, AccountCommand, RegistrationChannel};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::values::{
    Document, DocumentType, Password, PasswordContext, PersonName, Phone, Secret,
};

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

/// A password given by the office, or a generated one (returned once).
fn initial_password(
    given: Option<String>,
    context: &PasswordContext<'_>,
) -> Result<(Password, Option<String>), Problem> {
    match given.filter(|p| !p.is_empty()) {
        Some(raw) => Password::parse(&Secret::new(raw), context)
            .map(|p| (p, None))
            .map_err(|e| Problem::validation(vec![password_error("password", e)])),
        None => {
            let generated = format!("Xx-{}", &crate::security::new_token()[..20]);
            let password =
                Password::parse(&Secret::new(generated.clone()), context).map_err(|e| {
                    Problem::internal(anyhow::anyhow!("generated password refused: {e}"))
                })?;
            Ok((password, Some(generated)))
        }
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
    let mut errors = Vec::new();
    let name = PersonName::parse(body.name.as_deref().unwrap_or(""))
        .map_err(|_| errors.push(FieldError::new("name", "name_format")))
        .ok();
    let kind = body
        .document_type
        .as_deref()
        .map_or(Some(DocumentType::ResidentIdCard), DocumentType::parse);
    let document = match kind {
        None => {
            errors.push(FieldError::new("document_type", "document_type_invalid"));
            None
        }
        Some(kind) => Document::parse(
            kind,
            body.document_number.as_deref().unwrap_or(""),
            state.clock.now().date(),
        )
        .map_err(|_| errors.push(FieldError::new("document_number", "id_number_format")))
        .ok(),
    };
    let phone = match body
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(raw) => Phone::parse(raw)
            .map_err(|_| errors.push(FieldError::new("phone", "phone_format")))
            .ok(),
    };
    let (Some(name), Some(document)) = (name, document) else {
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let (password, generated) = {
        let rules = PasswordContext {
            phone: phone.as_ref(),
            document_number: Some(document.expose_number()),
            ..Default::default()
        };
        initial_password(body.password, &rules)?
    };
    let form = RegistrationForm {
        phone,
        sms_code: None,
        password,
        name,
        document,
        email: None,
        security_questions: Vec::new(),
        re_register: false,
        continue_registration: false,
    };
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
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(account_id): ApiPath<String>,
    ApiJson(body): ApiJson<OfficeResetRequest>,
) -> Result<SecretAnswer, Problem> {
    let office = office_of(&session)?;
    let account = state.store.load::<Account>(&account_id).await?.aggregate;
    let ours = matches!(account.channel(), Some(RegistrationChannel::ConscriptionOffice { office: o }) if *o == office);
    if !ours {
        return Err(Problem::new(
            ProblemKind::Forbidden,
            "account_not_from_office",
        ));
    }
    let phone = account.phone().and_then(|p| Phone::parse(p).ok());
    let (password, generated) = {
        let rules = PasswordContext {
            phone: phone.as_ref(),
            ..Default::default()
        };
        initial_password(body.password, &rules)?
    };
    let password_hash = state
        .hasher
        .hash(password.secret())
        .await
        .map_err(|_| Problem::overloaded(std::time::Duration::from_secs(1)))?;
    let committed = state
        .store
        .execute::<Account>(
            &account_id,
            AccountCommand::ResetPassword {
                password_hash,
                reason: "conscription_office".into(),
                generation: None,
            },
            &state.account_services,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(account_problem)?;
    if let Some(id) = xuexin_domain::AccountId::parse(&account_id) {
        // Whatever could still reset the old password dies too.
        state
            .account
            .after_password_change(id, account.phone())
            .await?;
        state.sessions.revoke_all(id).await?;
    }
    Ok((
        holds_secret(generated.is_some()),
        Json(OfficeAccountResponse {
            account_id,
            position: committed.position,
            initial_password: generated,
        }),
    ))
}
