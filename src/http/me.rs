//! The logged-in account's own profile.

use super::error::ProblemDocument;
use super::extract::{Authenticated, WaitFor};
use super::names::{AccountDocumentType, AccountStatusName, EmailStatusName, StaffRoleName};
use crate::http::extract::ApiQuery;
use crate::problem::{Problem, ProblemKind};
use crate::sessions::Session;
use crate::state::SharedState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::account::Account;
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

/// A staff account's profile, read from the account itself.
async fn staff_profile(state: &SharedState, session: &Session) -> Result<MeResponse, Problem> {
    let loaded = state
        .store
        .load::<Account>(&session.account_id.to_string())
        .await?;
    let profile = loaded
        .aggregate
        .staff()
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "account_not_found"))?;
    Ok(MeResponse {
        account_id: session.account_id.to_string(),
        status: loaded
            .aggregate
            .status()
            .map_or("Active", |s| s.as_str())
            .to_string(),
        name: profile.display_name.clone(),
        phone: None,
        document_type: String::new(),
        document_type_label: String::new(),
        document_number: String::new(),
        email: None,
        email_status: "none".into(),
        security_questions_set: false,
        linked_providers: Vec::new(),
        locked_until: None,
        last_login_at: None,
        registered_at: None,
        version: loaded.sequence as i64,
        role: Some(profile.role.as_str().to_string()),
        scope: profile.scope.clone(),
    })
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
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<MeResponse>, Problem> {
    if session.staff.is_some() {
        return Ok(Json(staff_profile(&state, &session).await?));
    }
    wait.wait_in_session(&state, &session, &[account_view::NAME])
        .await?;
    let Some(view) = account_view::get(&state.db, &session.account_id.to_string()).await? else {
        return Err(Problem::new(ProblemKind::NotFound, "account_not_found"));
    };
    let now = state.clock.now().millis();
    let locked_until = view.locked_until.filter(|until| *until > now);
    let status = if locked_until.is_some() && view.status == "Active" {
        "Locked".to_string()
    } else {
        view.status.clone()
    };
    let email_status = match (&view.email, view.email_verified) {
        (None, _) => "none",
        (Some(_), false) => "pending",
        (Some(_), true) => "verified",
    };
    let document_type_label = match view.document_type.as_str() {
        "resident_id_card" => crate::messages::text("document_type.resident_id_card"),
        "overseas_chinese_id_or_passport" => {
            crate::messages::text("document_type.overseas_chinese_id_or_passport")
        }
        _ => crate::messages::text("document_type.other"),
    };
    let time = |millis: i64| Timestamp::from_millis(millis).to_rfc3339();
    Ok(Json(MeResponse {
        account_id: view.account_id,
        status,
        name: view.name,
        phone: view.phone_masked,
        document_type: view.document_type,
        document_type_label: document_type_label.to_string(),
        document_number: view.document_masked,
        email: view.email,
        email_status: email_status.to_string(),
        security_questions_set: view.security_questions_set,
        linked_providers: view.linked_providers,
        locked_until: locked_until.map(time),
        last_login_at: view.last_login_at.map(time),
        registered_at: view.registered_at.map(time),
        version: view.version,
        role: None,
        scope: None,
    }))
}
