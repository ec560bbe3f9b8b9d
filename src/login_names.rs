//! Claiming a login name for an existing account (a new phone, e-mail or external login).
//!
//! The LoginName aggregate decides who holds a value. A holder that no longer uses the value
//! (it changed its phone a moment ago and the release task has not run yet, or it was
//! deactivated or abandoned) gives it up here on the spot, so a value is never stuck.

use crate::store::{CommandMetadata, EventStore, ExecuteError};
use xuexin_domain::account::{Account, AccountStatus};
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand, LoginNameError};
use xuexin_domain::AccountId;

/// Whether `account` still uses `value` as a login name of `kind`.
pub fn account_uses(account: &Account, kind: LoginNameKind, value: &str) -> bool {
    if matches!(
        account.status(),
        None | Some(AccountStatus::Deactivated | AccountStatus::Abandoned)
    ) {
        return false;
    }
    match kind {
        LoginNameKind::Phone => account.phone() == Some(value),
        LoginNameKind::Email => account.email().is_some_and(|e| e.address == value),
        LoginNameKind::WeChat => {
            account.external_logins().get("wechat").map(String::as_str) == Some(value)
        }
        LoginNameKind::Alipay => {
            account.external_logins().get("alipay").map(String::as_str) == Some(value)
        }
        LoginNameKind::Staff => true,
    }
}

/// The account holding `value`, if it still uses it.
pub async fn current_holder(
    store: &EventStore,
    kind: LoginNameKind,
    value: &str,
) -> anyhow::Result<Option<AccountId>> {
    let id = login_name_id(kind, value).to_string();
    let Some(holder) = store.load::<LoginName>(&id).await?.aggregate.holder() else {
        return Ok(None);
    };
    let account = store.load::<Account>(&holder.to_string()).await?.aggregate;
    Ok(account_uses(&account, kind, value).then_some(holder))
}

/// Claims `value` for `account_id`. `Ok(Err(holder))`: another account holds it and uses it.
pub async fn claim(
    store: &EventStore,
    account_id: AccountId,
    kind: LoginNameKind,
    value: &str,
    metadata: &CommandMetadata,
) -> anyhow::Result<Result<(), AccountId>> {
    let id = login_name_id(kind, value).to_string();
    for _ in 0..2 {
        let command = LoginNameCommand::Claim {
            account_id,
            kind,
            value: value.to_string(),
        };
        let holder = match store
            .execute::<LoginName>(&id, command, &(), metadata)
            .await
        {
            Ok(_) => return Ok(Ok(())),
            Err(ExecuteError::Domain(LoginNameError::Taken { holder })) => holder,
            Err(other) => return Err(anyhow::anyhow!("failed to claim a login name: {other}")),
        };
        let account = store.load::<Account>(&holder.to_string()).await?.aggregate;
        if account_uses(&account, kind, value) {
            return Ok(Err(holder));
        }
        tracing::info!(
            kind = kind.as_str(),
            "releasing a login name its holder no longer uses"
        );
        store
            .execute::<LoginName>(
                &id,
                LoginNameCommand::Release {
                    account_id: holder,
                    reason: "not_in_use".into(),
                },
                &(),
                metadata,
            )
            .await
            .map_err(|e| anyhow::anyhow!("failed to release a login name: {e}"))?;
    }
    // Someone else claimed it between the release and our second claim.
    let holder = store
        .load::<LoginName>(&id)
        .await?
        .aggregate
        .holder()
        .unwrap_or(account_id);
    Ok(if holder == account_id {
        Ok(())
    } else {
        Err(holder)
    })
}
