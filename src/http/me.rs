//! The logged-in account's own profile.

use super::error::ProblemDocument;
use super::extract::{Authenticated, WaitFor};
use super::names::{AccountDocumentType, AccountStatusName, EmailStatusName, StaffRoleName};
use crate::application::account::AccountManagement;
use crate::http::extract::ApiQuery;
use crate::problem::{Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::Timestamp;
use xuexin_projections::account_view;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(get_me))
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub account_id: String,
    /// `Active`, `PendingIdentityReview` or `Deactivated` (a lockout shows in `locked_until`).
    #[schema(value_type = AccountStatusName)]
    pub status: String,
    pub name: String,
    /// `136****1011`
    pub phone: Option<String>,
    #[schema(value_type = AccountDocumentType)]
    pub document_type: String,
    /// 居民身份证 / 华侨身份证/护照 / 其他
    pub document_type_label: String,
    /// `61**************12`
    pub document_number: String,
    pub email: Option<String>,
    /// `none`, `pending` (a link was sent) or `verified` (邮箱绑定成功).
    #[schema(value_type = EmailStatusName)]
    pub email_status: String,
    pub security_questions_set: bool,
    /// External logins bound to the account: `wechat`, `alipay`.
    pub linked_providers: Vec<String>,
    pub locked_until: Option<String>,
    pub last_login_at: Option<String>,
    pub registered_at: Option<String>,
    /// The account view's version (its last applied event).
    pub version: i64,
    /// Staff accounts only: the role and its scope.
    #[schema(value_type = Option<StaffRoleName>)]
    pub role: Option<String>,
    pub scope: Option<String>,
}

/// The logged-in account (账号基本信息). Phone and document number are masked.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = MeResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 503, description = "The view has not reached `position` yet", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_me(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<MeResponse>, Problem> {
    if session.staff.is_none() {
        wait.wait_in_session(&state, &session, &[account_view::NAME])
            .await?;
    }
    let profile = account
        .profile(&session)
        .await?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "account_not_found"))?;
    let time = |t: Timestamp| t.to_rfc3339();
    Ok(Json(MeResponse {
        account_id: profile.account_id,
        status: profile.status,
        name: profile.name,
        phone: profile.phone,
        document_type: profile.document_type,
        document_type_label: profile.document_type_label,
        document_number: profile.document_number,
        email: profile.email,
        email_status: profile.email_status.to_string(),
        security_questions_set: profile.security_questions_set,
        linked_providers: profile.linked_providers,
        locked_until: profile.locked_until.map(time),
        last_login_at: profile.last_login_at.map(time),
        registered_at: profile.registered_at.map(time),
        version: profile.version,
        role: profile.role,
        scope: profile.scope,
    }))
}
