//! Security e-mail verification: resend the link, confirm it.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::AcceptedName;
use crate::application::email::{EmailError, EmailVerification};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::values::Email;
use xuexin_domain::Actor;

impl FromRef<SharedState> for EmailVerification {
    fn from_ref(state: &SharedState) -> Self {
        state.email.clone()
    }
}

/// E-mail verification's refusals as the API answers them.
pub fn email_problem(error: EmailError) -> Problem {
    match error {
        EmailError::RateLimited { retry_after } => {
            Problem::rate_limited("email_rate_limited", retry_after)
        }
        EmailError::TokenInvalid => Problem::new(ProblemKind::BadRequest, "email_token_invalid"),
        EmailError::AlreadyVerified => {
            Problem::new(ProblemKind::Conflict, "email_already_verified")
        }
        EmailError::Busy => Problem::overloaded(std::time::Duration::from_secs(1)),
        EmailError::Internal(error) => Problem::internal(error),
    }
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(resend_verification))
        .routes(routes!(confirm_verification))
}

#[derive(Deserialize, ToSchema)]
pub struct ResendRequest {
    #[schema(required = true, nullable = false)]
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResendResponse {
    /// Always `accepted`: whether the address is registered is not disclosed here.
    #[schema(value_type = AcceptedName)]
    pub status: String,
}

/// Resend the activation mail (重新发送激活邮件).
///
/// For an address registered and waiting for activation a new link is mailed; the answer is
/// the same for any other address. Limited to one a minute per account.
#[utoipa::path(
    post,
    path = "/api/v1/email-verifications",
    tag = "email",
    request_body = ResendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 202, description = "Accepted", body = ResendResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 422, description = "Not an e-mail address", body = ProblemDocument),
        (status = 429, description = "Too many mails", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn resend_verification(
    State(verification): State<EmailVerification>,
    context: RequestContext,
    ApiJson(body): ApiJson<ResendRequest>,
) -> Result<(StatusCode, Json<ResendResponse>), Problem> {
    let email = Email::parse(body.email.as_deref().unwrap_or(""))
        .map_err(|_| Problem::validation(vec![FieldError::new("email", "email_format")]))?;
    verification
        .resend(&email, &context.metadata(Actor::Anonymous))
        .await
        .map_err(email_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResendResponse {
            status: "accepted".into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The token from the link in the mail.
    #[schema(required = true, nullable = false)]
    pub token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConfirmResponse {
    pub account_id: String,
    pub email: String,
    /// Log position of `EmailVerified`; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

/// Confirm a verification link (邮箱验证). A link works once, for 24 hours.
#[utoipa::path(
    post,
    path = "/api/v1/email-verifications/confirm",
    tag = "email",
    request_body = ConfirmRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses(
        (status = 200, description = "Verified", body = ConfirmResponse),
        (status = 400, description = "Malformed JSON, or the link is unknown, used or expired", body = ProblemDocument),
        (status = 409, description = "Already verified", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn confirm_verification(
    State(verification): State<EmailVerification>,
    context: RequestContext,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Json<ConfirmResponse>, Problem> {
    let verified = verification
        .confirm(
            &body.token.unwrap_or_default(),
            &context.metadata(Actor::Anonymous),
        )
        .await
        .map_err(email_problem)?;
    Ok(Json(ConfirmResponse {
        account_id: verified.account_id,
        email: verified.email,
        position: verified.position,
    }))
}
