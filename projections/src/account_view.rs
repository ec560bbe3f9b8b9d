//! Account view: the profile `/me` shows. Phone and document number are stored masked, so the
//! view cannot return them in full even by mistake.

use crate::db::{execute_rows, Db, Param, Tx};
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

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Account"])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, std::slice::from_ref(event)).await
    }

    /// Most account events set a few columns of one row: those are merged per account and
    /// written as one multi-row insert and one multi-row update. The rest (name changes,
    /// linked logins) first write what is pending, then run on their own.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut pending = PendingWrites::default();
        for event in events {
            if !self.reads(event) {
                continue;
            }
            let DomainEventKind::Account(account_event) = decode(event)? else {
                continue;
            };
            let id = event.aggregate_id.as_str();
            let at = event.time().millis();
            let version = event.sequence;
            match write_of(&account_event, at) {
                Write::Insert(row) => {
                    // An insert after a pending update of the same row would run before it.
                    if pending.patches.contains_key(id) {
                        pending.write(tx).await?;
                    }
                    pending.insert(id, row, at, version);
                }
                Write::Patch(patch) => pending.patch(id, patch, at, version),
                Write::Nothing => {}
                Write::Other => {
                    pending.write(tx).await?;
                    apply_other(tx, id, &account_event, at, version).await?;
                }
            }
        }
        pending.write(tx).await
    }
}

/// What an event does to its account's row.
enum Write {
    /// `RegistrationStarted`: a new row (kept if one exists).
    Insert(NewRow),
    /// Columns to set on the row, besides `updated_at` and `version`.
    Patch(Patch),
    Nothing,
    /// Reads or writes other rows or tables: applied on its own.
    Other,
}

struct NewRow {
    status: &'static str,
    name: String,
    phone_masked: Option<String>,
    document_type: &'static str,
    document_masked: String,
    email: Option<String>,
    security_questions_set: bool,
    registration_channel: &'static str,
}

/// Columns to set; `None` leaves a column as it is (`Some(None)` sets it to NULL).
#[derive(Default)]
struct Patch {
    status: Option<&'static str>,
    registered_at: Option<i64>,
    email: Option<Option<String>>,
    email_verified: Option<bool>,
    last_login_at: Option<i64>,
    locked_until: Option<Option<i64>>,
    phone_masked: Option<Option<String>>,
    security_questions_set: Option<bool>,
}

impl Patch {
    /// `later` applied after `self`, as two updates in a row would leave the row.
    fn then(self, later: Patch) -> Patch {
        Patch {
            status: later.status.or(self.status),
            registered_at: later.registered_at.or(self.registered_at),
            email: later.email.or(self.email),
            email_verified: later.email_verified.or(self.email_verified),
            last_login_at: later.last_login_at.or(self.last_login_at),
            locked_until: later.locked_until.or(self.locked_until),
            phone_masked: later.phone_masked.or(self.phone_masked),
            security_questions_set: later.security_questions_set.or(self.security_questions_set),
        }
    }
}

fn write_of(event: &AccountEvent, at: i64) -> Write {
    let patch = |patch: Patch| Write::Patch(patch);
    match event {
        AccountEvent::RegistrationStarted(details) => Write::Insert(NewRow {
            status: AccountStatus::Registering.as_str(),
            name: details.name.clone(),
            phone_masked: details.phone.as_deref().map(mask_phone),
            document_type: details.document.kind.as_str(),
            document_masked: details.document.masked.clone(),
            email: details.email.clone(),
            security_questions_set: !details.security_questions.is_empty(),
            registration_channel: channel_name(&details.channel),
        }),
        AccountEvent::Registered { status } => patch(Patch {
            status: Some(status.as_str()),
            registered_at: Some(at),
            ..Patch::default()
        }),
        AccountEvent::RegistrationAbandoned { .. } => patch(Patch {
            status: Some(AccountStatus::Abandoned.as_str()),
            ..Patch::default()
        }),
        AccountEvent::EmailVerified { email } => patch(Patch {
            email: Some(Some(email.clone())),
            email_verified: Some(true),
            ..Patch::default()
        }),
        AccountEvent::LoginSucceeded { .. } => patch(Patch {
            last_login_at: Some(at),
            locked_until: Some(None),
            ..Patch::default()
        }),
        AccountEvent::AccountLocked { until, .. } => patch(Patch {
            locked_until: Some(Some(until.millis())),
            ..Patch::default()
        }),
        AccountEvent::AccountUnlocked { .. } | AccountEvent::PasswordReset { .. } => patch(Patch {
            locked_until: Some(None),
            ..Patch::default()
        }),
        AccountEvent::IdentityVerified { .. } => patch(Patch {
            status: Some(AccountStatus::Active.as_str()),
            ..Patch::default()
        }),
        AccountEvent::OldAccountDeactivated { .. } => patch(Patch {
            status: Some(AccountStatus::Deactivated.as_str()),
            ..Patch::default()
        }),
        AccountEvent::PhoneUnbound { .. } => patch(Patch {
            phone_masked: Some(None),
            ..Patch::default()
        }),
        AccountEvent::PhoneChanged { new, .. } => patch(Patch {
            phone_masked: Some(Some(mask_phone(new))),
            ..Patch::default()
        }),
        AccountEvent::EmailChanged { new, .. } => patch(Patch {
            email: Some(Some(new.clone())),
            email_verified: Some(false),
            ..Patch::default()
        }),
        AccountEvent::SecurityQuestionsSet { .. } => patch(Patch {
            security_questions_set: Some(true),
            ..Patch::default()
        }),
        // A later version, nothing else.
        AccountEvent::EmailVerificationRequested { .. }
        | AccountEvent::LoginFailed { .. }
        | AccountEvent::PasswordRehashed { .. }
        | AccountEvent::PasswordChanged { .. }
        | AccountEvent::PasswordResetRequested { .. }
        | AccountEvent::SecurityAnswersAccepted
        | AccountEvent::SecurityAnswersFailed { .. }
        | AccountEvent::LanguageChosen { .. } => patch(Patch::default()),
        // Staff accounts have no personal profile to show.
        AccountEvent::StaffAccountCreated { .. }
        | AccountEvent::SecondFactorEnrolled { .. }
        | AccountEvent::SecondFactorPassed { .. }
        | AccountEvent::RecoveryCodeUsed { .. }
        | AccountEvent::SecondFactorReset
        | AccountEvent::StaffAccountDisabled { .. }
        | AccountEvent::PlatformAccessGranted { .. }
        | AccountEvent::PlatformAccessRevoked { .. }
        | AccountEvent::SignedInToPlatform { .. } => Write::Nothing,
        AccountEvent::NameChanged { .. }
        | AccountEvent::NameChangeRequested { .. }
        | AccountEvent::NameChangeRejected { .. }
        | AccountEvent::ExternalLoginLinked { .. }
        | AccountEvent::ExternalLoginUnlinked { .. } => Write::Other,
    }
}

/// Inserts and merged updates not yet written, in the order of first appearance.
#[derive(Default)]
struct PendingWrites {
    inserts: Vec<Vec<Param>>,
    inserted: std::collections::HashSet<String>,
    patches: std::collections::HashMap<String, (Patch, i64, i64)>,
    order: Vec<String>,
}

impl PendingWrites {
    fn insert(&mut self, id: &str, row: NewRow, at: i64, version: i64) {
        // ON CONFLICT DO NOTHING: a second start of the same account changes nothing.
        if !self.inserted.insert(id.to_string()) {
            return;
        }
        self.inserts.push(vec![
            Param::Text(id.to_string()),
            Param::Text(row.status.to_string()),
            Param::Text(row.name),
            Param::OptionalText(row.phone_masked),
            Param::Text(row.document_type.to_string()),
            Param::Text(row.document_masked),
            Param::OptionalText(row.email),
            Param::Bool(false),
            Param::Bool(row.security_questions_set),
            Param::Text(row.registration_channel.to_string()),
            Param::Int(at),
            Param::Int(at),
            Param::Int(version),
        ]);
    }

    fn patch(&mut self, id: &str, patch: Patch, at: i64, version: i64) {
        match self.patches.remove(id) {
            Some((earlier, _, _)) => {
                self.patches
                    .insert(id.to_string(), (earlier.then(patch), at, version));
            }
            None => {
                self.order.push(id.to_string());
                self.patches.insert(id.to_string(), (patch, at, version));
            }
        }
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<(), ProjectionError> {
        if !self.inserts.is_empty() {
            execute_rows(
                tx,
                "INSERT INTO account_view_v1 (account_id, status, name, phone_masked, document_type,
                    document_masked, email, email_verified, security_questions_set,
                    registration_channel, created_at, updated_at, version)",
                &[
                    "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BOOLEAN", "BOOLEAN",
                    "TEXT", "BIGINT", "BIGINT", "BIGINT",
                ],
                "ON CONFLICT (account_id) DO NOTHING",
                &self.inserts,
            )
            .await?;
        }
        if !self.order.is_empty() {
            let mut rows = Vec::with_capacity(self.order.len());
            for id in &self.order {
                let Some((patch, at, version)) = self.patches.remove(id) else {
                    continue;
                };
                rows.push(vec![
                    Param::Text(id.clone()),
                    Param::OptionalText(patch.status.map(str::to_string)),
                    Param::OptionalInt(patch.registered_at),
                    Param::Bool(patch.email.is_some()),
                    Param::OptionalText(patch.email.flatten()),
                    Param::OptionalBool(patch.email_verified),
                    Param::OptionalInt(patch.last_login_at),
                    Param::Bool(patch.locked_until.is_some()),
                    Param::OptionalInt(patch.locked_until.flatten()),
                    Param::Bool(patch.phone_masked.is_some()),
                    Param::OptionalText(patch.phone_masked.flatten()),
                    Param::OptionalBool(patch.security_questions_set),
                    Param::Int(at),
                    Param::Int(version),
                ]);
            }
            // VALUES columns are column1… on both backends; the casts give PostgreSQL their
            // types.
            execute_rows(
                tx,
                "UPDATE account_view_v1 SET
                    status = COALESCE(v.column2, account_view_v1.status),
                    registered_at = COALESCE(v.column3, account_view_v1.registered_at),
                    email = CASE WHEN v.column4 THEN v.column5 ELSE account_view_v1.email END,
                    email_verified = COALESCE(v.column6, account_view_v1.email_verified),
                    last_login_at = COALESCE(v.column7, account_view_v1.last_login_at),
                    locked_until = CASE WHEN v.column8 THEN v.column9
                                        ELSE account_view_v1.locked_until END,
                    phone_masked = CASE WHEN v.column10 THEN v.column11
                                        ELSE account_view_v1.phone_masked END,
                    security_questions_set =
                        COALESCE(v.column12, account_view_v1.security_questions_set),
                    updated_at = v.column13,
                    version = v.column14
                 FROM (",
                &[
                    "TEXT", "TEXT", "BIGINT", "BOOLEAN", "TEXT", "BOOLEAN", "BIGINT", "BOOLEAN",
                    "BIGINT", "BOOLEAN", "TEXT", "BOOLEAN", "BIGINT", "BIGINT",
                ],
                ") AS v WHERE account_view_v1.account_id = v.column1",
                &rows,
            )
            .await?;
        }
        *self = Self::default();
        Ok(())
    }
}

/// The events that read or write more than their own row's columns.
async fn apply_other(
    tx: &mut Tx,
    id: &str,
    account_event: &AccountEvent,
    at: i64,
    version: i64,
) -> Result<(), ProjectionError> {
    match account_event {
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
        _ => {}
    }
    Ok(())
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
