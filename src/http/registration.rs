//! Registration and the password meter.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::{AccountStatusName, DocumentTypeName, PasswordLevel};
use crate::application::registration::{
    parse_registration, register, Conflict, Registration, RegistrationError, RegistrationInput,
};
use crate::problem::{code_problem, FieldError, Problem};
use crate::state::SharedState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::values::{Password, PasswordContext, PasswordStrength, Phone, Secret};
use xuexin_domain::Actor;

impl FromRef<SharedState> for Registration {
    fn from_ref(state: &SharedState) -> Self {
        state.registration.clone()
    }
}

/// Registration's refusals as the API answers them (the one place they are mapped).
pub fn registration_problem(error: RegistrationError) -> Problem {
    match error {
        RegistrationError::RateLimited { retry_after } => {
            Problem::rate_limited("registration_rate_limited", retry_after)
        }
        RegistrationError::CodeRequired => {
            Problem::validation(vec![FieldError::new("sms_code", "sms_code_required")])
        }
        RegistrationError::Code(error) => code_problem(error),
        RegistrationError::Conflicts(conflicts) => {
            Problem::conflicts(conflicts.iter().map(conflict_field).collect())
        }
        RegistrationError::Busy | RegistrationError::Contention => {
            Problem::overloaded(std::time::Duration::from_secs(1))
        }
        RegistrationError::Internal(error) => Problem::internal(error),
    }
}

/// A held value at its field, worded by the catalogue (with the holder where the seeds name
/// it).
fn conflict_field(conflict: &Conflict) -> FieldError {
    let mut field = FieldError::new(conflict.field, conflict.code).with_actions(conflict.actions);
    if conflict.names_holder() {
        field = field.with_message(conflict.message());
    }
    if let Some(holder) = &conflict.holder {
        field = field.with_holder(holder.clone());
    }
    field
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(create_registration))
        .routes(routes!(check_password))
}

#[derive(Deserialize, ToSchema)]
pub struct SecurityQuestionInput {
    /// e.g. 您母亲的生日?
    #[schema(required = true, nullable = false)]
    pub question: Option<String>,
    #[schema(required = true, nullable = false)]
    pub answer: Option<String>,
}

/// The registration form (seed 001): every field is checked and all problems are reported
/// together.
#[derive(Deserialize, ToSchema)]
pub struct RegistrationRequest {
    /// Mainland mobile number (with or without +86) or an international E.164 number.
    #[schema(example = "13800138000")]
    #[schema(required = true, nullable = false)]
    pub phone: Option<String>,
    /// The code sent by `POST /api/v1/sms-codes` with purpose `register`.
    #[schema(required = true, nullable = false)]
    pub sms_code: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password_confirmation: Option<String>,
    #[schema(example = "张三")]
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    /// `resident_id_card`, `overseas_chinese_id_or_passport` or `other`.
    #[schema(example = "resident_id_card")]
    #[schema(value_type = DocumentTypeName, required = true)]
    pub document_type: Option<String>,
    #[schema(required = true, nullable = false)]
    pub document_number: Option<String>,
    /// Optional security e-mail; a verification link is mailed to it.
    pub email: Option<String>,
    /// Optional: exactly three distinct questions with answers.
    pub security_questions: Option<Vec<SecurityQuestionInput>>,
    /// 我已阅读并同意服务条款
    #[schema(required = true, nullable = false)]
    pub accept_terms: Option<bool>,
    /// 我要重新注册: the ID number is held by another account and this person says it is
    /// theirs. The new account waits for identity review (see the identity endpoints).
    pub re_register: Option<bool>,
    /// 继续注册: the phone is held by another account; take it over (that account loses it).
    pub continue_registration: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordStrengthDocument {
    /// `weak`, `medium`, `strong` or `very_strong`.
    #[schema(value_type = PasswordLevel)]
    pub level: String,
    /// 弱 / 中 / 强 / 非常强 (weak / medium / strong / very strong), as `Accept-Language` asks.
    pub label: String,
    /// 1–4
    pub score: u8,
}

impl From<PasswordStrength> for PasswordStrengthDocument {
    fn from(strength: PasswordStrength) -> Self {
        Self {
            level: strength.as_str().to_string(),
            label: crate::messages::text(match strength {
                PasswordStrength::Weak => "strength.weak",
                PasswordStrength::Medium => "strength.medium",
                PasswordStrength::Strong => "strength.strong",
                PasswordStrength::VeryStrong => "strength.very_strong",
            })
            .to_string(),
            score: strength.score(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationResponse {
    pub account_id: String,
    /// `Active`, or `PendingIdentityReview` after "I want to re-register".
    #[schema(value_type = AccountStatusName)]
    pub status: String,
    /// The username is the phone number, shown masked.
    pub username: Option<String>,
    /// Log position of the registration; pass it as `?position=` to read your write.
    pub position: Option<i64>,
    pub password_strength: PasswordStrengthDocument,
    /// Where the verification mail went (masked), if an e-mail was given.
    pub email_verification_sent_to: Option<String>,
}

/// A password the rules refuse, at its field (the code from `application::account`).
pub fn password_error(
    field: &str,
    error: xuexin_domain::values::password::PasswordError,
) -> FieldError {
    FieldError::new(field, crate::application::account::password_code(error))
}

impl From<RegistrationRequest> for RegistrationInput {
    fn from(body: RegistrationRequest) -> Self {
        Self {
            phone: body.phone.unwrap_or_default(),
            sms_code: body.sms_code.unwrap_or_default(),
            password: body.password.unwrap_or_default(),
            password_confirmation: body.password_confirmation.unwrap_or_default(),
            name: body.name.unwrap_or_default(),
            document_type: body.document_type.unwrap_or_default(),
            document_number: body.document_number.unwrap_or_default(),
            email: body.email.unwrap_or_default(),
            security_questions: body
                .security_questions
                .unwrap_or_default()
                .into_iter()
                .map(|q| (q.question.unwrap_or_default(), q.answer.unwrap_or_default()))
                .collect(),
            accept_terms: body.accept_terms == Some(true),
            re_register: body.re_register == Some(true),
            continue_registration: body.continue_registration == Some(true),
        }
    }
}

/// Register an account (立即注册).
///
/// Refusals name the field and what the person can do next: a taken phone offers log in or
/// recovery; a taken ID number offers find-username or recovery; an e-mail pending activation
/// offers a resend; an e-mail bound by another user names that user, masked.
#[utoipa::path(
    post,
    path = "/api/v1/registrations",
    tag = "registration",
    request_body = RegistrationRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 201, description = "Registered", body = RegistrationResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 409, description = "Phone, ID number or e-mail held by another account", body = ProblemDocument),
        (status = 422, description = "A field is invalid (each is named)", body = ProblemDocument),
        (status = 429, description = "Too many registrations from this client", body = ProblemDocument),
        (status = 503, description = "Overloaded; retry after the Retry-After seconds", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_registration(
    State(registration): State<Registration>,
    context: RequestContext,
    ApiJson(body): ApiJson<RegistrationRequest>,
) -> Result<(StatusCode, Json<RegistrationResponse>), Problem> {
    let form = parse_registration(registration.clock.as_ref(), body.into())
        .map_err(super::error::invalid_fields)?;
    let result = register(&registration, form, &context.metadata(Actor::Anonymous))
        .await
        .map_err(registration_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(RegistrationResponse {
            account_id: result.account_id.to_string(),
            status: result.status.as_str().to_string(),
            username: result.phone_masked,
            position: result.position,
            password_strength: result.strength.into(),
            email_verification_sent_to: result.email_masked,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordCheckRequest {
    pub password: Option<String>,
    /// Optional, so that a password containing it is flagged.
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordCheckResponse {
    pub acceptable: bool,
    pub strength: PasswordStrengthDocument,
    pub errors: Vec<FieldError>,
}

/// Rate a password for the form's strength meter (nothing is stored).
#[utoipa::path(
    post,
    path = "/api/v1/password-checks",
    tag = "registration",
    request_body = PasswordCheckRequest,
    responses(
        (status = 200, description = "The rating", body = PasswordCheckResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
    )
)]
pub async fn check_password(
    ApiJson(body): ApiJson<PasswordCheckRequest>,
) -> Json<PasswordCheckResponse> {
    let raw = body.password.unwrap_or_default();
    let phone = body.phone.as_deref().and_then(|p| Phone::parse(p).ok());
    let context = PasswordContext {
        phone: phone.as_ref(),
        ..Default::default()
    };
    let strength = xuexin_domain::values::password::strength_of(&raw);
    let errors = match Password::parse(&Secret::new(raw), &context) {
        Ok(_) => vec![],
        Err(e) => vec![password_error("password", e)],
    };
    Json(PasswordCheckResponse {
        acceptable: errors.is_empty(),
        strength: strength.into(),
        errors,
    })
}
