//! Image captchas, 找回用户名 and 找回密码 (seeds 000, 002). The steps are described in
//! `crate::recovery`; every answer here is problem+json with a stable code on refusal.

use super::error::ProblemDocument;
use super::extract::{ApiJson, RequestContext};
use super::names::RecoveryMethodName;
use crate::application::recovery::{self, RecoveryError};
use crate::problem::{code_problem, FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::Actor;

/// Recovery's refusals as the API answers them (the one place they are mapped).
pub fn recovery_problem(error: RecoveryError) -> Problem {
    match error {
        RecoveryError::Invalid(refusals) => super::error::invalid_fields(refusals),
        RecoveryError::RateLimited { code, retry_after } => {
            Problem::rate_limited(code, retry_after)
        }
        RecoveryError::TicketInvalid => {
            Problem::new(ProblemKind::BadRequest, "recovery_token_invalid")
        }
        RecoveryError::MethodUnavailable => {
            Problem::new(ProblemKind::Conflict, "recovery_method_unavailable")
        }
        RecoveryError::QuestionsClosed { until, retry_after } => {
            let mut problem = Problem::new(ProblemKind::Locked, "security_questions_closed")
                .with_extra("closed_until", until.to_rfc3339());
            problem.retry_after = Some(retry_after);
            problem
        }
        RecoveryError::AnswersWrong { attempts_left } => {
            Problem::validation(vec![FieldError::new("answers", "security_answers_wrong")])
                .with_code("security_answers_wrong")
                .with_extra("attempts_left", attempts_left)
        }
        RecoveryError::IdentityMismatch => Problem::validation(vec![FieldError::new(
            "document_number",
            "recovery_identity_mismatch",
        )])
        .with_code("recovery_identity_mismatch"),
        RecoveryError::Code(error) => code_problem(error),
        RecoveryError::Refused(error) => crate::problem::account_problem(error),
        RecoveryError::Busy => Problem::overloaded(std::time::Duration::from_secs(1)),
        RecoveryError::Internal(error) => Problem::internal(error),
    }
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(new_captcha))
        .routes(routes!(find_username))
        .routes(routes!(start_recovery))
        .routes(routes!(send_recovery_code))
        .routes(routes!(verify_recovery_code))
        .routes(routes!(recovery_questions))
        .routes(routes!(answer_recovery_questions))
        .routes(routes!(request_reset_link))
        .routes(routes!(reset_password))
}

#[derive(Serialize, ToSchema)]
pub struct CaptchaResponse {
    pub captcha_id: String,
    /// `data:image/png;base64,…`: show it in an `<img>`.
    pub image: String,
    pub expires_at: String,
}

/// A new image captcha (图片验证码): five minutes, one attempt.
#[utoipa::path(
    post,
    path = "/api/v1/captchas",
    tag = "recovery",
    responses(
        (status = 201, description = "A captcha to solve", body = CaptchaResponse),
        (status = 429, description = "Too many captchas from this client", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn new_captcha(
    State(state): State<SharedState>,
    context: RequestContext,
) -> Result<(StatusCode, Json<CaptchaResponse>), Problem> {
    let captcha = recovery::new_captcha(&state.recovery, context.client_ip.as_deref())
        .await
        .map_err(recovery_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(CaptchaResponse {
            image: captcha.data_url(),
            captcha_id: captcha.id,
            expires_at: captcha.expires_at.to_rfc3339(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct FindUsernameRequest {
    /// 证件号码
    #[schema(required = true, nullable = false)]
    pub document_number: Option<String>,
    /// 姓名
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    #[schema(required = true, nullable = false)]
    pub captcha_id: Option<String>,
    #[schema(required = true, nullable = false)]
    pub captcha_answer: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FindUsernameResponse {
    /// Whether the document number and name belong to an account.
    pub found: bool,
    /// The username, masked (`136****1011`); `null` when not found.
    pub username: Option<String>,
    pub message: String,
}

/// 找回用户名: document number + name + captcha → the username, masked.
///
/// Found or not, the answer has the same shape and takes about the same time. After 5
/// failures in an hour (per client, or per document number) the service answers 429
/// 请求被取消，不能频繁使用该功能.
#[utoipa::path(
    post,
    path = "/api/v1/username-recoveries",
    tag = "recovery",
    request_body = FindUsernameRequest,
    responses(
        (status = 200, description = "Found or not", body = FindUsernameResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 422, description = "A field is missing, or the captcha is wrong or used", body = ProblemDocument),
        (status = 429, description = "Too many failures", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn find_username(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<FindUsernameRequest>,
) -> Result<Json<FindUsernameResponse>, Problem> {
    let found = recovery::find_username(
        &state.recovery,
        body.name.as_deref(),
        body.document_number.as_deref(),
        body.captcha_id.as_deref(),
        body.captcha_answer.as_deref(),
        context.client_ip.as_deref(),
    )
    .await
    .map_err(recovery_problem)?;
    let message = if found.found {
        crate::messages::text("username_found")
    } else {
        crate::messages::text("username_not_matched")
    };
    Ok(Json(FindUsernameResponse {
        found: found.found,
        username: found.username,
        message: message.to_string(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct StartRecoveryRequest {
    /// 用户名: the phone, the document number or the verified e-mail.
    #[schema(required = true, nullable = false)]
    pub username: Option<String>,
    #[schema(required = true, nullable = false)]
    pub captcha_id: Option<String>,
    #[schema(required = true, nullable = false)]
    pub captcha_answer: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryMethod {
    /// `sms`, `email` or `security_questions`.
    #[schema(value_type = RecoveryMethodName)]
    pub method: String,
    /// Where it leads, masked (`136****1011`, `z***@qq.com`).
    pub target: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StartRecoveryResponse {
    /// The username, masked.
    pub username: String,
    /// Pass it to the method endpoints; 15 minutes. Absent when no method is bound.
    pub ticket: Option<String>,
    pub expires_at: Option<String>,
    /// Only the methods the account has bound.
    pub methods: Vec<RecoveryMethod>,
    /// Nothing is bound: the person can only register again (seed 000).
    pub re_register: bool,
    pub message: String,
}

/// 找回密码, step 1: the username + captcha → the methods the account has bound.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries",
    tag = "recovery",
    request_body = StartRecoveryRequest,
    responses(
        (status = 201, description = "The bound methods and a ticket; an unknown name gets the answer of an account with nothing bound", body = StartRecoveryResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 422, description = "A field is missing, or the captcha is wrong or used", body = ProblemDocument),
        (status = 429, description = "Too many starts from this client", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn start_recovery(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<StartRecoveryRequest>,
) -> Result<(StatusCode, Json<StartRecoveryResponse>), Problem> {
    let started = recovery::start(
        &state.recovery,
        body.username.as_deref(),
        body.captcha_id.as_deref(),
        body.captcha_answer.as_deref(),
        context.client_ip.as_deref(),
    )
    .await
    .map_err(recovery_problem)?;
    let re_register = started.methods.is_empty();
    let message = if re_register {
        crate::messages::text("recovery_re_register")
    } else {
        crate::messages::text("recovery_choose_method")
    };
    Ok((
        StatusCode::CREATED,
        Json(StartRecoveryResponse {
            username: started.username,
            ticket: started.ticket,
            expires_at: started.expires_at.map(|t| t.to_rfc3339()),
            methods: started
                .methods
                .into_iter()
                .map(|m| RecoveryMethod {
                    method: m.method.to_string(),
                    target: m.target,
                })
                .collect(),
            re_register,
            message: message.to_string(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct TicketRequest {
    #[schema(required = true, nullable = false)]
    pub ticket: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSentResponse {
    /// The bound phone, masked.
    pub sent_to: String,
    pub expires_at: String,
}

/// SMS path: a code (10 minutes) to the bound phone.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries/sms-codes",
    tag = "recovery",
    request_body = TicketRequest,
    responses(
        (status = 202, description = "Sent", body = CodeSentResponse),
        (status = 400, description = "Malformed JSON, or the ticket is unknown or expired", body = ProblemDocument),
        (status = 409, description = "No phone is bound", body = ProblemDocument),
        (status = 429, description = "Too many codes", body = ProblemDocument),
        (status = 503, description = "The SMS provider failed", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn send_recovery_code(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<TicketRequest>,
) -> Result<(StatusCode, Json<CodeSentResponse>), Problem> {
    let sent = recovery::send_sms_code(
        &state.recovery,
        body.ticket.as_deref(),
        context.client_ip.as_deref(),
    )
    .await
    .map_err(recovery_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSentResponse {
            sent_to: sent.sent_to,
            expires_at: sent.expires_at.to_rfc3339(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyCodeRequest {
    #[schema(required = true, nullable = false)]
    pub ticket: Option<String>,
    #[schema(required = true, nullable = false)]
    pub sms_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResetTokenResponse {
    /// Pass it to `POST /api/v1/password-resets`; once, within 15 minutes.
    pub reset_token: String,
    pub expires_at: String,
}

/// SMS path: the code from the bound phone → a reset token.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries/sms-verifications",
    tag = "recovery",
    request_body = VerifyCodeRequest,
    responses(
        (status = 200, description = "The person holds the phone", body = ResetTokenResponse),
        (status = 400, description = "Malformed JSON, or the ticket is unknown or expired", body = ProblemDocument),
        (status = 409, description = "No phone is bound", body = ProblemDocument),
        (status = 422, description = "Wrong, expired or used code", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn verify_recovery_code(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<VerifyCodeRequest>,
) -> Result<Json<ResetTokenResponse>, Problem> {
    let allowed = recovery::verify_sms_code(
        &state.recovery,
        body.ticket.as_deref(),
        body.sms_code.as_deref(),
    )
    .await
    .map_err(recovery_problem)?;
    Ok(Json(ResetTokenResponse {
        reset_token: allowed.reset_token,
        expires_at: allowed.expires_at.to_rfc3339(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct QuestionsResponse {
    /// The three questions set at registration, in order.
    pub questions: Vec<String>,
}

/// Security-question path: the questions to answer.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries/questions",
    tag = "recovery",
    request_body = TicketRequest,
    responses(
        (status = 200, description = "The questions", body = QuestionsResponse),
        (status = 400, description = "Malformed JSON, or the ticket is unknown or expired", body = ProblemDocument),
        (status = 409, description = "No security questions are set", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn recovery_questions(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<TicketRequest>,
) -> Result<Json<QuestionsResponse>, Problem> {
    let questions = recovery::questions(&state.recovery, body.ticket.as_deref())
        .await
        .map_err(recovery_problem)?;
    Ok(Json(QuestionsResponse { questions }))
}

#[derive(Deserialize, ToSchema)]
pub struct AnswersRequest {
    #[schema(required = true, nullable = false)]
    pub ticket: Option<String>,
    /// The three answers, in the order of the questions.
    #[serde(default)]
    pub answers: Vec<String>,
}

/// Security-question path: all three answers → a reset token.
///
/// Three wrong attempts in a row close this path for 24 hours (423). Every attempt is told to
/// the bound phone and e-mail.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries/answers",
    tag = "recovery",
    request_body = AnswersRequest,
    responses(
        (status = 200, description = "All three matched", body = ResetTokenResponse),
        (status = 400, description = "Malformed JSON, or the ticket is unknown or expired", body = ProblemDocument),
        (status = 409, description = "No security questions are set", body = ProblemDocument),
        (status = 422, description = "Not all answers given, or not all matched", body = ProblemDocument),
        (status = 423, description = "Closed for 24 hours after three failures", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn answer_recovery_questions(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<AnswersRequest>,
) -> Result<Json<ResetTokenResponse>, Problem> {
    let allowed = recovery::answer_questions(
        &state.recovery,
        body.ticket.as_deref(),
        &body.answers,
        &context.metadata(Actor::Anonymous),
    )
    .await
    .map_err(recovery_problem)?;
    Ok(Json(ResetTokenResponse {
        reset_token: allowed.reset_token,
        expires_at: allowed.expires_at.to_rfc3339(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ResetLinkRequest {
    #[schema(required = true, nullable = false)]
    pub ticket: Option<String>,
    /// 姓名
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    /// 证件号码
    #[schema(required = true, nullable = false)]
    pub document_number: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResetLinkResponse {
    /// The security e-mail, masked.
    pub sent_to: String,
    pub position: Option<i64>,
    pub message: String,
}

/// E-mail path: name + document number → a reset link (1 hour, once) to the security e-mail.
#[utoipa::path(
    post,
    path = "/api/v1/password-recoveries/email-links",
    tag = "recovery",
    request_body = ResetLinkRequest,
    responses(
        (status = 202, description = "The link is on its way", body = ResetLinkResponse),
        (status = 400, description = "Malformed JSON, or the ticket is unknown or expired", body = ProblemDocument),
        (status = 409, description = "No verified security e-mail", body = ProblemDocument),
        (status = 422, description = "Name or document number does not match", body = ProblemDocument),
        (status = 429, description = "Too many mismatches", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn request_reset_link(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ResetLinkRequest>,
) -> Result<(StatusCode, Json<ResetLinkResponse>), Problem> {
    let (sent_to, position) = recovery::request_email_link(
        &state.recovery,
        body.ticket.as_deref(),
        body.name.as_deref(),
        body.document_number.as_deref(),
        &context.metadata(Actor::Anonymous),
    )
    .await
    .map_err(recovery_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetLinkResponse {
            sent_to,
            position,
            // Seed 002: 系统已经将重置链接发送到你的邮箱.
            message: crate::messages::text("reset_link_sent").into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The reset token (from a method, or the `token` of the mailed link).
    #[schema(required = true, nullable = false)]
    pub token: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password_confirmation: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResetResponse {
    pub account_id: String,
    pub position: Option<i64>,
    pub message: String,
}

/// Set a new password with a reset token (once). Every session of the account ends, any
/// lock is lifted, the bound phone and e-mail are told; log in again with the new password.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets",
    tag = "recovery",
    request_body = ResetRequest,
    responses(
        (status = 200, description = "Reset", body = ResetResponse),
        (status = 400, description = "Malformed JSON, or the token is unknown, used or expired", body = ProblemDocument),
        (status = 422, description = "The new password breaks a rule", body = ProblemDocument),
        (status = 503, description = "Overloaded", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<SharedState>,
    context: RequestContext,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Json<ResetResponse>, Problem> {
    let (account_id, position) = recovery::reset(
        &state.recovery,
        body.token.as_deref(),
        body.password.as_deref(),
        body.password_confirmation.as_deref(),
        &context.metadata(Actor::Anonymous),
    )
    .await
    .map_err(recovery_problem)?;
    Ok(Json(ResetResponse {
        account_id: account_id.to_string(),
        position,
        // Seed 002: 密码重置成功.
        message: crate::messages::text("password_reset_done").into(),
    }))
}
