//! Account view: the profile `/me` shows. Phone and document number are stored masked, so the
//! view cannot return them in full even by mistake.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, tx_execute};
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
        &["account_view_v1"]
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
            // Staff accounts have no personal profile to show.
            AccountEvent::StaffAccountCreated { .. } => {}
            AccountEvent::EmailVerificationRequested { .. }
            | AccountEvent::LoginFailed { .. }
            | AccountEvent::PasswordRehashed { .. } => {
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

pub async fn get(db: &Db, account_id: &str) -> sqlx::Result<Option<AccountView>> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        bool,
        bool,
        String,
        Option<i64>,
        Option<i64>,
        i64,
        Option<i64>,
        i64,
        i64,
    );
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_id, status, name, phone_masked, document_type, document_masked, email,
                    email_verified, security_questions_set, registration_channel, locked_until,
                    last_login_at, created_at, registered_at, updated_at, version
             FROM account_view_v1 WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|r| AccountView {
        account_id: r.0,
        status: r.1,
        name: r.2,
        phone_masked: r.3,
        document_type: r.4,
        document_masked: r.5,
        email: r.6,
        email_verified: r.7,
        security_questions_set: r.8,
        registration_channel: r.9,
        locked_until: r.10,
        last_login_at: r.11,
        created_at: r.12,
        registered_at: r.13,
        updated_at: r.14,
        version: r.15,
    }))
}
