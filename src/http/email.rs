//! Security e-mail verification: resend the link, confirm it.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::AcceptedName;
use crate::messenger::{consume_email_token, VERIFY_EMAIL};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::account::{Account, AccountCommand, AccountError};
use xuexin_domain::ids::{login_name_id, login_name_key, LoginNameKind};
use xuexin_domain::values::Email;
use xuexin_domain::{AccountId, Actor};
use xuexin_projections::login_index;

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
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ResendRequest>,
) -> Result<(StatusCode, Json<ResendResponse>), Problem> {
    let email = Email::parse(body.email.as_deref().unwrap_or(""))
        .map_err(|_| Problem::validation(vec![FieldError::new("email", "email_format")]))?;
    let accepted = (
        StatusCode::ACCEPTED,
        Json(ResendResponse {
            status: "accepted".into(),
        }),
    );
    if let Some(ip) = &context.client_ip {
        if let Err(exceeded) = state
            .limiter
            .hit(
                &format!("email-ip:{ip}"),
                state.config.limits.email_resend_per_ip,
            )
            .await?
        {
            return Err(Problem::rate_limited(
                "email_rate_limited",
                exceeded.retry_after,
            ));
        }
    }
    // Counted per address whether or not anybody holds it: a 429 that only a registered
    // address gets would tell it apart.
    if let Err(exceeded) = state
        .limiter
        .hit(
            &format!(
                "email-resend:{}",
                login_name_id(LoginNameKind::Email, email.as_str())
            ),
            state.config.limits.email_resend_per_account,
        )
        .await?
    {
        return Err(Problem::rate_limited(
            "email_rate_limited",
            exceeded.retry_after,
        ));
    }
    // One queued row whether or not anybody is to be mailed, so that a registered,
    // unverified address costs the request what any other costs; the mail's event is
    // recorded after the answer (`deferred`).
    let key = login_name_key(LoginNameKind::Email, email.as_str());
    let account = login_index::lookup(&state.db, &key)
        .await?
        .filter(|entry| !entry.email_verified)
        .and_then(|entry| AccountId::parse(&entry.account_id));
    state
        .deferred
        .enqueue(
            crate::deferred::Kind::EmailVerification,
            account,
            None,
            &context.metadata(Actor::Anonymous),
        )
        .await?;
    Ok(accepted)
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
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Json<ConfirmResponse>, Problem> {
    let token = body.token.unwrap_or_default();
    let invalid = || Problem::new(ProblemKind::BadRequest, "email_token_invalid");
    if token.trim().is_empty() {
        return Err(invalid());
    }
    let Some((account_id, address)) =
        consume_email_token(&state.db, token.trim(), VERIFY_EMAIL, state.clock.now()).await?
    else {
        return Err(invalid());
    };
    let email = Email::parse(&address).map_err(|_| invalid())?;
    let result = state
        .store
        .execute::<Account>(
            &account_id,
            AccountCommand::VerifyEmail { email },
            &state.account_services,
            &context.metadata(Actor::Account(account_id.clone())),
        )
        .await;
    match result {
        Ok(committed) => Ok(Json(ConfirmResponse {
            account_id,
            email: address,
            position: committed.position,
        })),
        Err(ExecuteError::Domain(AccountError::EmailAlreadyVerified)) => Err(Problem::new(
            ProblemKind::Conflict,
            "email_already_verified",
        )),
        Err(ExecuteError::Domain(_)) => Err(invalid()),
        Err(ExecuteError::Contention) => {
            Err(Problem::overloaded(std::time::Duration::from_secs(1)))
        }
        Err(ExecuteError::Store(e)) => Err(Problem::internal(e)),
    }
}

/// The page the mail links to: it posts the token to the API when the person clicks, so that
/// mail scanners following the link do not use it up.
pub async fn verify_email_page() -> Html<&'static str> {
    Html(include_str!("verify_email.html"))
}
