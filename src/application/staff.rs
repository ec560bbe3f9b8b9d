//! Staff accounts: created by an administrator from the command line, never by
//! self-registration. The username is claimed first (its aggregate decides a race), then the
//! account is created.

use super::account::AccountManagement;
use crate::store::{CommandMetadata, ExecuteError};
use anyhow::Context;
use xuexin_domain::account::{Account, AccountCommand, StaffProfile};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand, LoginNameError};
use xuexin_domain::roles::{parse_staff_username, StaffRole};
use xuexin_domain::values::{Password, PasswordContext, Secret};
use xuexin_domain::AccountId;

pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub role: StaffRole,
    pub scope: Option<String>,
    /// A conscription office's telephone (shown to people its registrations protect).
    pub contact_phone: Option<String>,
    pub password: Secret,
}

/// Creates a staff account with the account-management services (event store, hashing pool).
pub async fn create_staff(
    services: &AccountManagement,
    new: NewStaff,
    metadata: &CommandMetadata,
) -> anyhow::Result<AccountId> {
    let username = parse_staff_username(&new.username)
        .context("a username has 3–32 of a-z, 0-9, '.', '_' and '-'")?;
    if new.role.needs_scope() && new.scope.as_deref().is_none_or(|s| s.trim().is_empty()) {
        anyhow::bail!(
            "the {} role needs --scope (school code, province or office)",
            new.role.as_str()
        );
    }
    let password = Password::parse(&new.password, &PasswordContext::default())
        .map_err(|e| anyhow::anyhow!("the password is not acceptable: {e}"))?;
    let password_hash = services
        .hasher
        .hash(password.secret())
        .await
        .map_err(|_| anyhow::anyhow!("the hashing pool is saturated"))?;
    let account_id = AccountId::new_random();
    services
        .store
        .execute::<LoginName>(
            &login_name_id(LoginNameKind::Staff, &username).to_string(),
            LoginNameCommand::Claim {
                account_id,
                kind: LoginNameKind::Staff,
                value: username.clone(),
            },
            &(),
            metadata,
        )
        .await
        .map_err(|e| match e {
            ExecuteError::Domain(LoginNameError::Taken { .. }) => {
                anyhow::anyhow!("the username {username} is taken")
            }
            other => anyhow::anyhow!("failed to claim the username: {other}"),
        })?;
    services
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::CreateStaffAccount {
                profile: StaffProfile {
                    username,
                    display_name: new.display_name,
                    role: new.role,
                    scope: new.scope.map(|s| s.trim().to_string()),
                    contact_phone: new
                        .contact_phone
                        .map(|p| p.trim().chars().take(40).collect::<String>())
                        .filter(|p| !p.is_empty()),
                },
                password_hash,
            },
            &services.account_services,
            metadata,
        )
        .await
        .map_err(|e| anyhow::anyhow!("failed to create the account: {e}"))?;
    Ok(account_id)
}

/// Registers a school (or updates its name and province): the administrators' page and the
/// operator's `xuexin admin add-school`.
pub async fn add_school(
    services: &AccountManagement,
    code: &str,
    name: &str,
    province: &str,
    metadata: &CommandMetadata,
) -> anyhow::Result<Option<i64>> {
    let code =
        xuexin_domain::school::parse_school_code(code).context("a school code has 5 digits")?;
    let (name, province) = (name.trim(), province.trim());
    anyhow::ensure!(!name.is_empty(), "a school needs its full name");
    anyhow::ensure!(!province.is_empty(), "a school needs its province");
    let committed = services
        .store
        .execute::<xuexin_domain::school::School>(
            &code,
            xuexin_domain::school::SchoolCommand::Register {
                code: code.clone(),
                name: name.to_string(),
                province: province.to_string(),
            },
            &(),
            metadata,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(committed.position)
}

/// A staff account, as the administrators' list shows it.
pub struct StaffAccount {
    pub account_id: String,
    pub profile: StaffProfile,
    pub disabled: bool,
    pub factor_enrolled: bool,
    pub created_at: Option<String>,
}

/// Every staff account, oldest first.
#[tracing::instrument(skip_all)]
pub async fn staff_accounts(services: &AccountManagement) -> anyhow::Result<Vec<StaffAccount>> {
    use xuexin_projections::on_db;
    let rows: Vec<(String, Option<String>)> = on_db!(&services.db, pool => {
        sqlx::query_as(
            "SELECT aggregate_id, metadata->>'time' FROM events
             WHERE event_type = 'StaffAccountCreated' ORDER BY position",
        )
        .fetch_all(pool)
        .await?
    });
    let mut accounts = Vec::with_capacity(rows.len());
    for (account_id, created_at) in rows {
        let account = services.store.load::<Account>(&account_id).await?.aggregate;
        if let Some(profile) = account.staff() {
            accounts.push(StaffAccount {
                profile: profile.clone(),
                disabled: account.staff_disabled(),
                factor_enrolled: account.second_factor().is_some(),
                created_at,
                account_id,
            });
        }
    }
    Ok(accounts)
}

/// Why an administrator's action on a staff account was refused.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("no such staff account")]
    NotFound,
    #[error("the account refused: {0}")]
    Refused(ExecuteError<xuexin_domain::account::AccountError>),
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

async fn staff_account(services: &AccountManagement, id: AccountId) -> Result<Account, StaffError> {
    let account = services
        .store
        .load::<Account>(&id.to_string())
        .await?
        .aggregate;
    if account.staff().is_none() {
        return Err(StaffError::NotFound);
    }
    Ok(account)
}

/// An administrator disables a staff account: it cannot log in, its sessions end.
#[tracing::instrument(skip_all)]
pub async fn disable_staff(
    services: &AccountManagement,
    id: AccountId,
    reason: &str,
    metadata: &CommandMetadata,
) -> Result<Option<i64>, StaffError> {
    staff_account(services, id).await?;
    let committed = services
        .store
        .execute::<Account>(
            &id.to_string(),
            AccountCommand::DisableStaffAccount {
                reason: reason.trim().chars().take(200).collect(),
            },
            &services.account_services,
            metadata,
        )
        .await
        .map_err(StaffError::Refused)?;
    services.sessions.revoke_all(id).await?;
    Ok(committed.position)
}

/// An administrator gives a staff member a new password (generated, shown once): their
/// sessions end, a lockout is lifted.
#[tracing::instrument(skip_all)]
pub async fn reset_staff_password(
    services: &AccountManagement,
    id: AccountId,
    metadata: &CommandMetadata,
) -> Result<String, StaffError> {
    staff_account(services, id).await?;
    let generated = format!("Xx-{}", &crate::security::new_token()[..20]);
    let password = Password::parse(&Secret::new(generated.clone()), &PasswordContext::default())
        .map_err(|e| anyhow::anyhow!("a generated password was refused: {e:?}"))?;
    let password_hash = services
        .hasher
        .hash(password.secret())
        .await
        .map_err(|_| StaffError::Busy)?;
    services
        .store
        .execute::<Account>(
            &id.to_string(),
            AccountCommand::ResetPassword {
                password_hash,
                reason: "administrator".into(),
                generation: None,
            },
            &services.account_services,
            metadata,
        )
        .await
        .map_err(StaffError::Refused)?;
    services.sessions.revoke_all(id).await?;
    Ok(generated)
}

/// The telephone of conscription office `office`, if one of its staff accounts gives one.
#[tracing::instrument(skip_all)]
pub async fn office_phone(
    db: &xuexin_projections::Db,
    store: &crate::store::EventStore,
    office: &str,
) -> anyhow::Result<Option<String>> {
    use xuexin_projections::on_db;
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT aggregate_id FROM events WHERE event_type = 'StaffAccountCreated'
             ORDER BY position",
        )
        .fetch_all(pool)
        .await?
    });
    for (account_id,) in rows {
        let account = store.load::<Account>(&account_id).await?.aggregate;
        if let Some(profile) = account.staff() {
            if profile.role == StaffRole::ConscriptionOffice
                && profile.scope.as_deref() == Some(office)
                && profile.contact_phone.is_some()
            {
                return Ok(profile.contact_phone.clone());
            }
        }
    }
    Ok(None)
}
