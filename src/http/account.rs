//! Account management (账号管理): the logged-in person changes the password, phone, e-mail,
//! name and security questions, unlinks WeChat or Alipay, and reads the account's history.
//! Sensitive changes ask for the current password again; after a change of password, phone,
//! e-mail or name, the account's other sessions end. Reviewers decide resident-ID name changes.

use super::error::{invalid_fields, ProblemDocument};
use super::extract::{ApiJson, Authenticated, RequestContext, WaitFor};
use super::names::ChangeStatusName;
use super::registration::SecurityQuestionInput;
use crate::application::account::{
    parse_phone, AccountManagement, Changed, FieldRefusal, ManageError, NameChanged,
};
use crate::application::account_log::{self, HistoryEntry};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::messages;
use crate::problem::{account_problem, code_problem};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::account::AccountError;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::values::{parse_security_questions, Email, PersonName, Secret};
use xuexin_domain::{AccountId, Timestamp};
use xuexin_projections::account_view;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(send_phone_code))
        .routes(routes!(change_phone))
        .routes(routes!(change_email))
        .routes(routes!(change_name))
        .routes(routes!(set_security_questions))
        .routes(routes!(history))
        .routes(routes!(unlink_external_login))
        .routes(routes!(choose_language))
        .routes(routes!(name_change_queue))
        .routes(routes!(approve_name_change))
        .routes(routes!(reject_name_change))
}

/// What a change answers.
#[derive(Serialize, ToSchema)]
pub struct ChangeResponse {
    /// `changed`, `verification_sent` (new e-mail) or `pending_review` (resident-ID name).
    #[schema(value_type = ChangeStatusName)]
    pub status: String,
    pub message: String,
    /// The new value, masked where it is a phone.
    pub value: Option<String>,
    /// How many other sessions of the account were ended.
    pub other_sessions_revoked: u64,
    /// Log position; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

fn trimmed(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn domain_refusal(error: ExecuteError<AccountError>) -> Problem {
    match error {
        ExecuteError::Domain(
            e @ (AccountError::NameChangePending
            | AccountError::NoNameChangePending
            | AccountError::ExternalLoginAlreadyLinked),
        ) => Problem::new(ProblemKind::Conflict, e.code()),
        ExecuteError::Domain(e @ AccountError::ExternalLoginNotLinked) => {
            Problem::new(ProblemKind::NotFound, e.code())
        }
        ExecuteError::Domain(AccountError::CannotLogIn | AccountError::NotFound) => {
            Problem::new(ProblemKind::Forbidden, "forbidden")
        }
        other => account_problem(other),
    }
}

impl FromRef<SharedState> for AccountManagement {
    fn from_ref(state: &SharedState) -> Self {
        state.account.clone()
    }
}

/// Account management's refusals as the API answers them (the one place they are mapped).
pub fn manage_problem(error: ManageError) -> Problem {
    match error {
        ManageError::NotAPerson => Problem::new(ProblemKind::Forbidden, "forbidden"),
        ManageError::Invalid(refusals) => invalid_fields(refusals),
        ManageError::CurrentPasswordWrong => {
            let mut problem = Problem::new(ProblemKind::Forbidden, "current_password_wrong");
            problem.errors = vec![FieldError::new(
                "current_password",
                "current_password_wrong",
            )];
            problem
        }
        ManageError::CurrentPasswordRateLimited { retry_after } => {
            Problem::rate_limited("current_password_rate_limited", retry_after)
        }
        ManageError::Taken { field, code } => {
            Problem::conflicts(vec![FieldError::new(field, code)])
        }
        ManageError::Conflict(code) => Problem::new(ProblemKind::Conflict, code),
        ManageError::Code(error) => code_problem(error),
        ManageError::Refused(error) => domain_refusal(error),
        ManageError::Busy => Problem::overloaded(Duration::from_secs(1)),
        ManageError::Internal(error) => Problem::internal(error),
    }
}

fn change_response(
    status: &str,
    message: String,
    value: Option<String>,
    changed: Changed,
) -> ChangeResponse {
    ChangeResponse {
        status: status.into(),
        message,
        value,
        other_sessions_revoked: changed.other_sessions_revoked,
        position: changed.position,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub password_confirmation: Option<String>,
}

/// 修改密码: the current password, then the new one twice. Other sessions end; the bound phone
/// and e-mail are told.
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    tag = "account",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "`current_password_wrong`", body = ProblemDocument),
        (status = 422, description = "The new password breaks a rule", body = ProblemDocument),
        (status = 429, description = "`current_password_rate_limited`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn change_password(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_person()?;
    let changed = account
        .change_password(
            &session,
            body.current_password.as_deref(),
            body.password.as_deref(),
            body.password_confirmation.as_deref(),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    let message = messages::text("password_changed").into();
    Ok(Json(change_response("changed", message, None, changed)))
}

#[derive(Deserialize, ToSchema)]
pub struct PhoneCodeRequest {
    /// The new phone.
    #[schema(required = true, nullable = false)]
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PhoneCodeResponse {
    pub sent_to: String,
    pub expires_at: String,
}

/// 更换手机号, step 1: a 10-minute code to the new phone.
#[utoipa::path(
    post,
    path = "/api/v1/me/phone/sms-codes",
    tag = "account",
    request_body = PhoneCodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Code sent to the new phone", body = PhoneCodeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 409, description = "`phone_taken`", body = ProblemDocument),
        (status = 422, description = "`phone_format`, `phone_unchanged`", body = ProblemDocument),
        (status = 429, description = "`sms_rate_limited`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn send_phone_code(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<PhoneCodeRequest>,
) -> Result<(StatusCode, Json<PhoneCodeResponse>), Problem> {
    session.require_person()?;
    let phone = parse_phone(body.phone.as_deref()).map_err(manage_problem)?;
    let sent = account
        .send_phone_code(&session, &phone, context.client_ip.as_deref())
        .await
        .map_err(manage_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PhoneCodeResponse {
            sent_to: phone.masked(),
            expires_at: sent.expires_at.to_rfc3339(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePhoneRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub phone: Option<String>,
    /// The code `POST /api/v1/me/phone/sms-codes` sent to the new phone.
    #[schema(required = true, nullable = false)]
    pub sms_code: Option<String>,
}

/// 更换手机号, step 2: current password + new phone + its code. The old phone no longer logs
/// in (its login name is released) and is told; other sessions end.
#[utoipa::path(
    post,
    path = "/api/v1/me/phone",
    tag = "account",
    request_body = ChangePhoneRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "`current_password_wrong`", body = ProblemDocument),
        (status = 409, description = "`phone_taken`", body = ProblemDocument),
        (status = 422, description = "Bad phone or code", body = ProblemDocument),
        (status = 429, description = "`current_password_rate_limited`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn change_phone(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<ChangePhoneRequest>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_person()?;
    let phone = parse_phone(body.phone.as_deref()).map_err(manage_problem)?;
    let Some(code) = trimmed(&body.sms_code) else {
        return Err(invalid_fields(vec![FieldRefusal::new(
            "sms_code",
            "sms_code_required",
        )]));
    };
    let changed = account
        .change_phone(
            &session,
            body.current_password.as_deref(),
            &phone,
            &Secret::new(code),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    let message = messages::text("phone_changed").into();
    Ok(Json(change_response(
        "changed",
        message,
        Some(phone.masked()),
        changed,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub email: Option<String>,
}

/// 修改安全邮箱: a verification mail goes to the new address and a notice to the old one;
/// other sessions end. The new address is a login name (and a recovery path) once verified.
#[utoipa::path(
    post,
    path = "/api/v1/me/email",
    tag = "account",
    request_body = ChangeEmailRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Verification mail on its way", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "`current_password_wrong`", body = ProblemDocument),
        (status = 409, description = "`email_taken`", body = ProblemDocument),
        (status = 422, description = "`email_format`, `email_unchanged`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn change_email(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<ChangeEmailRequest>,
) -> Result<(StatusCode, Json<ChangeResponse>), Problem> {
    session.require_person()?;
    let Some(raw) = trimmed(&body.email) else {
        return Err(invalid_fields(vec![FieldRefusal::new("email", "required")]));
    };
    let email = Email::parse(raw)
        .map_err(|_| invalid_fields(vec![FieldRefusal::new("email", "email_format")]))?;
    let changed = account
        .change_email(
            &session,
            body.current_password.as_deref(),
            &email,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    let message = messages::format("email_verification_sent", &[("email", email.as_str())]);
    let value = Some(email.as_str().to_string());
    Ok((
        StatusCode::ACCEPTED,
        Json(change_response(
            "verification_sent",
            message,
            value,
            changed,
        )),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeNameRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    /// Required for resident-ID holders (the change goes to a reviewer): why the name changed.
    pub reason: Option<String>,
}

/// 修改姓名: passport, overseas-Chinese ID and "other" holders directly (200); resident-ID
/// holders only through a reviewer, with a reason (202, `pending_review`).
#[utoipa::path(
    post,
    path = "/api/v1/me/name",
    tag = "account",
    request_body = ChangeNameRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ChangeResponse),
        (status = 202, description = "Waiting for review", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "`current_password_wrong`", body = ProblemDocument),
        (status = 409, description = "`name_change_pending`", body = ProblemDocument),
        (status = 422, description = "`name_format`, `name_unchanged`, `reason_required`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn change_name(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<ChangeNameRequest>,
) -> Result<(StatusCode, Json<ChangeResponse>), Problem> {
    session.require_person()?;
    let name = PersonName::parse(body.name.as_deref().unwrap_or(""))
        .map_err(|_| invalid_fields(vec![FieldRefusal::new("name", "name_format")]))?;
    let outcome = account
        .change_name(
            &session,
            body.current_password.as_deref(),
            &name,
            body.reason.as_deref(),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    let value = Some(name.as_str().to_string());
    Ok(match outcome {
        NameChanged::PendingReview { position } => (
            StatusCode::ACCEPTED,
            Json(ChangeResponse {
                status: "pending_review".into(),
                message: messages::text("name_change_needs_review").into(),
                value,
                other_sessions_revoked: 0,
                position,
            }),
        ),
        NameChanged::Changed(changed) => {
            let message = messages::text("name_changed").into();
            (
                StatusCode::OK,
                Json(change_response("changed", message, value, changed)),
            )
        }
    })
}

#[derive(Deserialize, ToSchema)]
pub struct SecurityQuestionsRequest {
    #[schema(required = true, nullable = false)]
    pub current_password: Option<String>,
    /// Exactly three distinct questions with answers (answers are normalized and hashed).
    #[schema(required = true, nullable = false)]
    pub security_questions: Option<Vec<SecurityQuestionInput>>,
}

/// 设置密保问题: replaces all three questions and answers.
#[utoipa::path(
    put,
    path = "/api/v1/me/security-questions",
    tag = "account",
    request_body = SecurityQuestionsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Set", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "`current_password_wrong`", body = ProblemDocument),
        (status = 422, description = "`security_questions_invalid`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn set_security_questions(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<SecurityQuestionsRequest>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_person()?;
    let pairs: Vec<(String, Secret)> = body
        .security_questions
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            (
                item.question.unwrap_or_default(),
                Secret::new(item.answer.unwrap_or_default()),
            )
        })
        .collect();
    let parsed = parse_security_questions(&pairs).map_err(|_| {
        invalid_fields(vec![FieldRefusal::new(
            "security_questions",
            "security_questions_invalid",
        )])
    })?;
    let position = account
        .set_security_questions(
            &session,
            body.current_password.as_deref(),
            parsed,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    Ok(Json(ChangeResponse {
        status: "changed".into(),
        message: messages::text("security_questions_set").into(),
        value: None,
        other_sessions_revoked: 0,
        position,
    }))
}

/// 账号日志: every change of the account, oldest first, with time and actor.
#[utoipa::path(
    get,
    path = "/api/v1/me/history",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's events", body = Vec<HistoryEntry>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn history(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
) -> Result<Json<Vec<HistoryEntry>>, Problem> {
    Ok(Json(account.history(session.account_id).await?))
}

/// 解除绑定: unlink WeChat or Alipay. Its login name is released.
#[utoipa::path(
    delete,
    path = "/api/v1/me/external-logins/{provider}",
    tag = "account",
    params(("provider" = String, Path, description = "`wechat` or `alipay`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unlinked", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 404, description = "`external_login_not_linked`, `provider_invalid`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn unlink_external_login(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(provider): ApiPath<String>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_person()?;
    let provider = crate::oauth::Provider::parse(&provider)
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "provider_invalid"))?;
    let position = account
        .unlink_external_login(&session, provider, &context.metadata(session.actor()))
        .await
        .map_err(manage_problem)?;
    Ok(Json(ChangeResponse {
        status: "changed".into(),
        message: messages::format("external_login_unbound", &[("provider", provider.label())]),
        value: None,
        other_sessions_revoked: 0,
        position,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct LanguageRequest {
    /// `zh-CN` or `en`.
    #[schema(required = true, nullable = false, example = "en")]
    pub language: Option<String>,
}

/// The language of the account's mails and SMS notices (zh-CN until one is chosen; a
/// registration records the language it was made in).
#[utoipa::path(
    put,
    path = "/api/v1/me/language",
    tag = "account",
    request_body = LanguageRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Set", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 422, description = "`language_invalid`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn choose_language(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<LanguageRequest>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_person()?;
    let language = body
        .language
        .as_deref()
        .and_then(messages::Language::from_tag)
        .ok_or_else(|| invalid_fields(vec![FieldRefusal::new("language", "language_invalid")]))?;
    let position = account
        .choose_language(&session, language, &context.metadata(session.actor()))
        .await
        .map_err(manage_problem)?;
    Ok(Json(ChangeResponse {
        status: "changed".into(),
        message: messages::format_in(
            "language_changed",
            language,
            &[(
                "language",
                messages::text_in(account_log::language_label(language), language),
            )],
        ),
        value: Some(language.tag().into()),
        other_sessions_revoked: 0,
        position,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NameChangeItem {
    pub account_id: String,
    pub current_name: String,
    pub new_name: String,
    pub reason: String,
    /// `11**************12`
    pub document_number: String,
    pub requested_at: String,
}

/// Resident-ID name changes waiting for a reviewer, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/name-changes",
    tag = "account",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Waiting requests", body = Vec<NameChangeItem>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn name_change_queue(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<NameChangeItem>>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    wait.wait(&state, &[account_view::NAME]).await?;
    let rows = account.name_change_queue().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| NameChangeItem {
                account_id: r.account_id,
                current_name: r.current_name,
                new_name: r.new_name,
                reason: r.reason,
                document_number: r.document_masked,
                requested_at: Timestamp::from_millis(r.requested_at).to_rfc3339(),
            })
            .collect(),
    ))
}

fn account_in_path(raw: &str) -> Result<AccountId, Problem> {
    AccountId::parse(raw).ok_or_else(|| Problem::new(ProblemKind::NotFound, "account_not_found"))
}

/// Approve a name change: the name changes and every session of the account ends.
#[utoipa::path(
    post,
    path = "/api/v1/name-changes/{account_id}/approve",
    tag = "account",
    params(("account_id" = String, Path, description = "The account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 409, description = "`name_change_not_pending`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn approve_name_change(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(account_id): ApiPath<String>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    let account_id = account_in_path(&account_id)?;
    let (name, position) = account
        .approve_name_change(account_id, &context.metadata(session.actor()))
        .await
        .map_err(manage_problem)?;
    Ok(Json(ChangeResponse {
        status: "changed".into(),
        message: messages::text("name_change_approved").into(),
        value: Some(name),
        other_sessions_revoked: 0,
        position,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RejectRequest {
    #[schema(required = true, nullable = false)]
    pub reason: Option<String>,
}

/// Reject a name change, with the reason the person will see in the account's history.
#[utoipa::path(
    post,
    path = "/api/v1/name-changes/{account_id}/reject",
    tag = "account",
    params(("account_id" = String, Path, description = "The account")),
    request_body = RejectRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = ChangeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 409, description = "`name_change_not_pending`", body = ProblemDocument),
        (status = 422, description = "`reason_required`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reject_name_change(
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(account_id): ApiPath<String>,
    ApiJson(body): ApiJson<RejectRequest>,
) -> Result<Json<ChangeResponse>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    let account_id = account_in_path(&account_id)?;
    let position = account
        .reject_name_change(
            account_id,
            body.reason.as_deref(),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(manage_problem)?;
    Ok(Json(ChangeResponse {
        status: "rejected".into(),
        message: messages::text("name_change_rejected").into(),
        value: None,
        other_sessions_revoked: 0,
        position,
    }))
}
