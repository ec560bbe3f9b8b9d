//! The identity-transfer process manager: an approved claim (`IdentityTransferred`) becomes
//! tasks — deactivate the old account, release its login names, activate the new one — and a
//! phone taken over (`LoginNameTakenOver`) unbinds it from the previous holder. A changed phone
//! or e-mail, or an unlinked WeChat/Alipay login, releases the login name the account left. The tasks are
//! queued exactly once per event in this projection's transaction and are idempotent, so a
//! crash between any two of them is finished by the next run, each step done once.

use crate::db::Tx;
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::tasks::queue;
use serde_json::json;
use xuexin_domain::account::AccountEvent;
use xuexin_domain::identity::IdentityEvent;
use xuexin_domain::ids::LoginNameKind;
use xuexin_domain::login_name::LoginNameEvent;

pub const NAME: &str = "identity_transfers_v1";

/// `login_name.release`: the account gives up a name it no longer uses.
async fn release(
    tx: &mut Tx,
    event: &StoredEvent,
    account_id: &str,
    kind: LoginNameKind,
    value: &str,
    reason: &str,
) -> Result<(), ProjectionError> {
    queue(
        tx,
        event,
        "login_name.release",
        account_id,
        json!({"account_id": account_id, "kind": kind.as_str(), "value": value, "reason": reason}),
    )
    .await
}

pub struct IdentityTransfers;

#[async_trait::async_trait]
impl Projection for IdentityTransfers {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn rebuildable(&self) -> bool {
        false
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Identity", "LoginName", "Account"])
    }

    fn event_types_of(&self, aggregate_type: &str) -> Option<&'static [&'static str]> {
        (aggregate_type == "Account").then_some(&[
            "PhoneChanged",
            "EmailChanged",
            "ExternalLoginUnlinked",
        ])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if !matches!(
            event.aggregate_type.as_str(),
            "Identity" | "LoginName" | "Account"
        ) {
            return Ok(());
        }
        let account_id = event.aggregate_id.as_str();
        match decode(event)? {
            DomainEventKind::Identity(IdentityEvent::IdentityTransferred {
                from,
                to,
                method,
                ..
            }) => {
                let (from, to) = (from.to_string(), to.to_string());
                queue(
                    tx,
                    event,
                    "account.deactivate_old",
                    &from,
                    json!({"account_id": from, "new_account": to}),
                )
                .await?;
                queue(
                    tx,
                    event,
                    "account.release_login_names",
                    &from,
                    json!({"account_id": from}),
                )
                .await?;
                queue(
                    tx,
                    event,
                    "account.verify_identity",
                    &to,
                    json!({"account_id": to, "method": method.as_str()}),
                )
                .await?;
            }
            DomainEventKind::LoginName(LoginNameEvent::LoginNameTakenOver {
                previous,
                kind: LoginNameKind::Phone,
                value,
                ..
            }) => {
                let previous = previous.to_string();
                queue(
                    tx,
                    event,
                    "account.unbind_phone",
                    &previous,
                    json!({"account_id": previous, "phone": value}),
                )
                .await?;
            }
            DomainEventKind::Account(AccountEvent::PhoneChanged { old: Some(old), .. }) => {
                release(
                    tx,
                    event,
                    account_id,
                    LoginNameKind::Phone,
                    &old,
                    "phone_changed",
                )
                .await?;
            }
            DomainEventKind::Account(AccountEvent::EmailChanged { old: Some(old), .. }) => {
                release(
                    tx,
                    event,
                    account_id,
                    LoginNameKind::Email,
                    &old,
                    "email_changed",
                )
                .await?;
            }
            DomainEventKind::Account(AccountEvent::ExternalLoginUnlinked { provider, subject }) => {
                let kind = match provider.as_str() {
                    "wechat" => LoginNameKind::WeChat,
                    "alipay" => LoginNameKind::Alipay,
                    _ => return Ok(()),
                };
                release(tx, event, account_id, kind, &subject, "unlinked").await?;
            }
            _ => {}
        }
        Ok(())
    }
}
