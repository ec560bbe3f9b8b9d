//! 账号基本信息: the logged-in account's own profile, phone and document number masked. A
//! person's comes from the account view; a staff account's from the account itself.

use super::account::AccountManagement;
use crate::messages;
use crate::sessions::Session;
use xuexin_domain::account::Account;
use xuexin_domain::Timestamp;
use xuexin_projections::account_view;

pub struct Profile {
    pub account_id: String,
    /// `Active`, `PendingIdentityReview`, `Deactivated`, or `Locked` while a lock lasts.
    pub status: String,
    pub name: String,
    /// Masked.
    pub phone: Option<String>,
    pub document_type: String,
    /// In the request's language.
    pub document_type_label: String,
    /// Masked.
    pub document_number: String,
    pub email: Option<String>,
    /// `none`, `pending` or `verified`.
    pub email_status: &'static str,
    pub security_questions_set: bool,
    pub linked_providers: Vec<String>,
    pub locked_until: Option<Timestamp>,
    pub last_login_at: Option<Timestamp>,
    pub registered_at: Option<Timestamp>,
    /// The version of what it was read from (the view's last applied event).
    pub version: i64,
    /// Staff accounts only.
    pub role: Option<String>,
    pub scope: Option<String>,
}

pub fn document_type_label(kind: &str) -> &'static str {
    messages::text(match kind {
        "resident_id_card" => "document_type.resident_id_card",
        "overseas_chinese_id_or_passport" => "document_type.overseas_chinese_id_or_passport",
        _ => "document_type.other",
    })
}

impl AccountManagement {
    /// The session's account; `None` when it is not there (yet) to be read.
    #[tracing::instrument(skip_all)]
    pub async fn profile(&self, session: &Session) -> anyhow::Result<Option<Profile>> {
        if session.staff.is_some() {
            return self.staff_profile(session).await;
        }
        let Some(view) = account_view::get(&self.db, &session.account_id.to_string()).await? else {
            return Ok(None);
        };
        let now = self.clock.now().millis();
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
        Ok(Some(Profile {
            account_id: view.account_id,
            status,
            name: view.name,
            phone: view.phone_masked,
            document_type_label: document_type_label(&view.document_type).to_string(),
            document_type: view.document_type,
            document_number: view.document_masked,
            email: view.email,
            email_status,
            security_questions_set: view.security_questions_set,
            linked_providers: view.linked_providers,
            locked_until: locked_until.map(Timestamp::from_millis),
            last_login_at: view.last_login_at.map(Timestamp::from_millis),
            registered_at: view.registered_at.map(Timestamp::from_millis),
            version: view.version,
            role: None,
            scope: None,
        }))
    }

    async fn staff_profile(&self, session: &Session) -> anyhow::Result<Option<Profile>> {
        let loaded = self
            .store
            .load::<Account>(&session.account_id.to_string())
            .await?;
        let Some(profile) = loaded.aggregate.staff() else {
            return Ok(None);
        };
        Ok(Some(Profile {
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
            email_status: "none",
            security_questions_set: false,
            linked_providers: Vec::new(),
            locked_until: None,
            last_login_at: None,
            registered_at: None,
            version: loaded.sequence as i64,
            role: Some(profile.role.as_str().to_string()),
            scope: profile.scope.clone(),
        }))
    }
}
