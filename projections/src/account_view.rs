//! Account view: the profile `/me` shows. Phone and document number are stored masked, so the
//! view cannot return them in full even by mistake.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, on_tx, tx_execute};
use serde::Serialize;
use xuexin_domain::account::{AccountEvent, AccountStatus, RegistrationChannel};
use xuexin_domain::values::mask_phone;

pub const NAME: &str = "account_view_v1";

pub struct AccountViewProjection;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub account_id: String,
    pub status: String,
    pub name: String,
    pub phone_masked: Option<String>,
    pub document_type: String,
    pub document_masked: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub security_questions_set: bool,
    pub registration_channel: String,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
    pub registered_at: Option<i64>,
    pub updated_at: i64,
    pub version: i64,
    /// `wechat`, `alipay`.
    pub linked_providers: Vec<String>,
}

fn channel_name(channel: &RegistrationChannel) -> &'static str {
    match channel {
        RegistrationChannel::SelfService => "self_service",
        RegistrationChannel::ConscriptionOffice { .. } => "conscription_office",
    }
}

#[async_trait::async_trait]
impl Projection for AccountViewProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["account_view_v1", "name_change_requests_v1"]
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Account" {
            return Ok(());
        }
        let DomainEventKind::Account(account_event) = decode(event)? else {
            return Ok(());
        };
        let id = event.aggregate_id.as_str();
        let at = event.time().millis();
        let version = event.sequence;
        match &account_event {
            AccountEvent::RegistrationStarted(details) => {
                let phone_masked = details.phone.as_deref().map(mask_phone);
                tx_execute!(
                    tx,
                    "INSERT INTO account_view_v1 (account_id, status, name, phone_masked, document_type,
                        document_masked, email, email_verified, security_questions_set,
                        registration_channel, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
                     ON CONFLICT (account_id) DO NOTHING",
                    id,
                    AccountStatus::Registering.as_str(),
                    &details.name,
                    &phone_masked,
                    details.document.kind.as_str(),
                    &details.document.masked,
                    &details.email,
                    false,
                    !details.security_questions.is_empty(),
                    channel_name(&details.channel),
                    at,
                    version,
                )?;
            }
            AccountEvent::Registered { status } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET status = $2, registered_at = $3, updated_at = $3, version = $4
                     WHERE account_id = $1",
                    id,
                    status.as_str(),
                    at,
                    version,
                )?;
            }
            AccountEvent::RegistrationAbandoned { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET status = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    AccountStatus::Abandoned.as_str(),
                    at,
                    version,
                )?;
            }
            AccountEvent::EmailVerified { email } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET email = $2, email_verified = TRUE, updated_at = $3, version = $4
                     WHERE account_id = $1",
                    id,
                    email,
                    at,
                    version,
                )?;
            }
            AccountEvent::LoginSucceeded { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET last_login_at = $2, locked_until = NULL, updated_at = $2, version = $3
                     WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
            AccountEvent::AccountLocked { until, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET locked_until = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    until.millis(),
                    at,
                    version,
                )?;
            }
            AccountEvent::AccountUnlocked { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET locked_until = NULL, updated_at = $2, version = $3 WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
            AccountEvent::IdentityVerified { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET status = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    AccountStatus::Active.as_str(),
                    at,
                    version,
                )?;
            }
            AccountEvent::OldAccountDeactivated { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET status = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    AccountStatus::Deactivated.as_str(),
                    at,
                    version,
                )?;
            }
            AccountEvent::PhoneUnbound { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET phone_masked = NULL, updated_at = $2, version = $3 WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
            AccountEvent::PasswordReset { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET locked_until = NULL, updated_at = $2, version = $3 WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
            AccountEvent::PhoneChanged { new, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET phone_masked = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    mask_phone(new),
                    at,
                    version,
                )?;
            }
            AccountEvent::EmailChanged { new, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET email = $2, email_verified = FALSE, updated_at = $3, version = $4
                     WHERE account_id = $1",
                    id,
                    new,
                    at,
                    version,
                )?;
            }
            AccountEvent::NameChanged { new, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET name = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    new,
                    at,
                    version,
                )?;
                tx_execute!(
                    tx,
                    "DELETE FROM name_change_requests_v1 WHERE account_id = $1",
                    id
                )?;
            }
            AccountEvent::NameChangeRequested { new_name, reason } => {
                tx_execute!(
                    tx,
                    "INSERT INTO name_change_requests_v1 (account_id, current_name, new_name, reason, document_masked, requested_at)
                     SELECT account_id, name, $2, $3, document_masked, $4 FROM account_view_v1 WHERE account_id = $1
                     ON CONFLICT (account_id) DO UPDATE SET new_name = excluded.new_name, reason = excluded.reason,
                        requested_at = excluded.requested_at",
                    id,
                    new_name,
                    reason,
                    at,
                )?;
                touch(tx, id, at, version).await?;
            }
            AccountEvent::NameChangeRejected { .. } => {
                tx_execute!(
                    tx,
                    "DELETE FROM name_change_requests_v1 WHERE account_id = $1",
                    id
                )?;
                touch(tx, id, at, version).await?;
            }
            AccountEvent::SecurityQuestionsSet { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET security_questions_set = TRUE, updated_at = $2, version = $3
                     WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
            AccountEvent::ExternalLoginLinked { provider, .. }
            | AccountEvent::ExternalLoginUnlinked { provider, .. } => {
                let linked = matches!(account_event, AccountEvent::ExternalLoginLinked { .. });
                let current: Option<(String,)> = on_tx!(tx, conn => {
                    sqlx::query_as("SELECT linked_providers FROM account_view_v1 WHERE account_id = $1")
                        .bind(id)
                        .fetch_optional(conn)
                        .await?
                });
                let mut providers: Vec<String> = current
                    .map(|(list,)| {
                        list.split(',')
                            .filter(|p| !p.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                providers.retain(|p| p != provider);
                if linked {
                    providers.push(provider.clone());
                    providers.sort();
                }
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET linked_providers = $2, updated_at = $3, version = $4 WHERE account_id = $1",
                    id,
                    providers.join(","),
                    at,
                    version,
                )?;
            }
            // Staff accounts have no personal profile to show.
            AccountEvent::StaffAccountCreated { .. } => {}
            AccountEvent::EmailVerificationRequested { .. }
            | AccountEvent::LoginFailed { .. }
            | AccountEvent::PasswordRehashed { .. }
            | AccountEvent::PasswordChanged { .. }
            | AccountEvent::PasswordResetRequested { .. }
            | AccountEvent::SecurityAnswersAccepted
            | AccountEvent::SecurityAnswersFailed { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE account_view_v1 SET updated_at = $2, version = $3 WHERE account_id = $1",
                    id,
                    at,
                    version,
                )?;
            }
        }
        Ok(())
    }
}

/// A later version, nothing else.
async fn touch(tx: &mut Tx, id: &str, at: i64, version: i64) -> Result<(), ProjectionError> {
    tx_execute!(
        tx,
        "UPDATE account_view_v1 SET updated_at = $2, version = $3 WHERE account_id = $1",
        id,
        at,
        version,
    )?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    account_id: String,
    status: String,
    name: String,
    phone_masked: Option<String>,
    document_type: String,
    document_masked: String,
    email: Option<String>,
    email_verified: bool,
    security_questions_set: bool,
    registration_channel: String,
    locked_until: Option<i64>,
    last_login_at: Option<i64>,
    created_at: i64,
    registered_at: Option<i64>,
    updated_at: i64,
    version: i64,
    linked_providers: String,
}

pub async fn get(db: &Db, account_id: &str) -> sqlx::Result<Option<AccountView>> {
    let row: Option<ViewRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_id, status, name, phone_masked, document_type, document_masked, email,
                    email_verified, security_questions_set, registration_channel, locked_until,
                    last_login_at, created_at, registered_at, updated_at, version, linked_providers
             FROM account_view_v1 WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|r| AccountView {
        account_id: r.account_id,
        status: r.status,
        name: r.name,
        phone_masked: r.phone_masked,
        document_type: r.document_type,
        document_masked: r.document_masked,
        email: r.email,
        email_verified: r.email_verified,
        security_questions_set: r.security_questions_set,
        registration_channel: r.registration_channel,
        locked_until: r.locked_until,
        last_login_at: r.last_login_at,
        created_at: r.created_at,
        registered_at: r.registered_at,
        updated_at: r.updated_at,
        version: r.version,
        linked_providers: r
            .linked_providers
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

/// A resident-ID holder's name change waiting for a reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameChangeRequest {
    pub account_id: String,
    pub current_name: String,
    pub new_name: String,
    pub reason: String,
    pub document_masked: String,
    pub requested_at: i64,
}

/// Oldest first.
pub async fn pending_name_changes(db: &Db, limit: i64) -> sqlx::Result<Vec<NameChangeRequest>> {
    let rows: Vec<(String, String, String, String, String, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_id, current_name, new_name, reason, document_masked, requested_at
             FROM name_change_requests_v1 ORDER BY requested_at, account_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| NameChangeRequest {
            account_id: r.0,
            current_name: r.1,
            new_name: r.2,
            reason: r.3,
            document_masked: r.4,
            requested_at: r.5,
        })
        .collect())
}
