//! SMS codes (校验码).

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::SmsCodePurpose;
use crate::codes::CodePurpose;
use crate::problem::code_problem;
use crate::problem::{FieldError, Problem};
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::values::{Phone, PhoneError};

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(request_sms_code))
}

#[derive(Deserialize, ToSchema)]
pub struct SmsCodeRequest {
    #[schema(example = "13800138000")]
    #[schema(required = true, nullable = false)]
    pub phone: Option<String>,
    /// What the code is for: `register`.
    #[schema(example = "register")]
    #[schema(value_type = SmsCodePurpose, required = true)]
    pub purpose: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SmsCodeResponse {
    /// The phone the code went to, masked.
    pub sent_to: String,
    /// Until when the code can be used (registration: 24 hours).
    pub expires_at: String,
}

/// Send a verification code by SMS (免费获取).
///
/// Limited per phone (one a minute, ten a day by default) and per client IP.
#[utoipa::path(
    post,
    path = "/api/v1/sms-codes",
    tag = "registration",
    request_body = SmsCodeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 202, description = "Code sent", body = SmsCodeResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 422, description = "Bad phone or purpose", body = ProblemDocument),
        (status = 429, description = "Too many codes for this phone or client", body = ProblemDocument),
        (status = 503, description = "The SMS gateway failed", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn request_sms_code(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<SmsCodeRequest>,
) -> Result<(StatusCode, Json<SmsCodeResponse>), Problem> {
    let mut errors = Vec::new();
    let phone = Phone::parse(body.phone.as_deref().unwrap_or(""))
        .map_err(|e| {
            errors.push(match e {
                PhoneError::Empty => FieldError::new("phone", "phone_required"),
                PhoneError::Format => FieldError::new("phone", "phone_format"),
            })
        })
        .ok();
    let purpose = body.purpose.as_deref().and_then(CodePurpose::parse);
    if purpose.is_none() {
        errors.push(FieldError::new("purpose", "purpose_invalid"));
    }
    let (Some(phone), Some(purpose)) = (phone, purpose) else {
        return Err(Problem::validation(errors));
    };
    let sent = state
        .codes
        .send(&phone, purpose, context.client_ip.as_deref())
        .await
        .map_err(code_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SmsCodeResponse {
            sent_to: phone.masked(),
            expires_at: sent.expires_at.to_rfc3339(),
        }),
    ))
}
