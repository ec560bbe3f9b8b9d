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
    pub password: Secret,
}

/// Creates a staff account with the account-management services (event store, hashing pool).
pub async fn create_staff(
    services: &AccountManagement,
    new: NewStaff,
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
    let metadata = CommandMetadata::system("admin-cli");
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
            &metadata,
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
                },
                password_hash,
            },
            &services.account_services,
            &metadata,
        )
        .await
        .map_err(|e| anyhow::anyhow!("failed to create the account: {e}"))?;
    Ok(account_id)
}
