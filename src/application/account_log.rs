//! 账号日志: the account's history as its holder reads it, one line per event in the
//! request's language, with who did it; no secret, phones and e-mails masked. The JSON API and
//! the web pages show the same lines.

use super::account::AccountManagement;
use crate::messages;
use serde::Serialize;
use serde_json::Value;
use xuexin_domain::account::AccountEvent;
use xuexin_domain::values::{mask_email, mask_phone};
use xuexin_domain::AccountId;

/// One entry of the account's history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// RFC 3339, UTC.
    pub time: String,
    /// The event type (`PhoneChanged`, `PasswordReset`, …).
    pub event: String,
    /// What happened, in the language asked for (`Accept-Language`), phones and e-mails masked.
    pub summary: String,
    /// `account:…` (the holder), `reviewer:…`, `conscription_office:…`, `system:…`, `anonymous`.
    pub actor: String,
    /// Who did it: 本人 / 审核员 / 征兵办公室 / 系统 / 未登录用户 … (you / a reviewer / …).
    pub actor_label: String,
    pub request_id: Option<String>,
    pub position: i64,
}

fn actor_label(actor: &str, own: &str) -> &'static str {
    let kind = actor.split(':').next().unwrap_or("");
    let code = match kind {
        "account" if actor.ends_with(own) => "actor.self",
        "account" => "actor.other_user",
        "reviewer" => "actor.reviewer",
        "registrar" => "actor.registrar",
        "provincial_authority" => "actor.provincial_authority",
        "conscription_office" => "actor.conscription_office",
        "auditor" => "actor.auditor",
        "administrator" => "actor.administrator",
        "system" => "actor.system",
        _ => "actor.anonymous",
    };
    messages::text(code)
}

fn masked_opt_phone(phone: &Option<String>) -> String {
    phone
        .as_deref()
        .map_or_else(|| messages::text("label.none").into(), mask_phone)
}

fn masked_opt_email(email: &Option<String>) -> String {
    email
        .as_deref()
        .map_or_else(|| messages::text("label.none").into(), mask_email)
}

pub fn language_label(language: messages::Language) -> &'static str {
    match language {
        messages::Language::Zh => "language.zh",
        messages::Language::En => "language.en",
    }
}

fn provider_label(provider: &str) -> &'static str {
    messages::text(match provider {
        "wechat" | "we_chat" => "provider.wechat",
        "alipay" => "provider.alipay",
        _ => "provider.other",
    })
}

fn via_label(via: &str) -> &str {
    match via {
        "phone" => messages::text("via.phone"),
        "email" => messages::text("via.email"),
        "id_number" => messages::text("via.id_number"),
        "we_chat" | "wechat" | "alipay" => provider_label(via),
        "staff_username" => messages::text("via.staff_username"),
        "sms" => messages::text("via.sms"),
        "security_questions" => messages::text("via.security_questions"),
        "conscription_office" => messages::text("via.conscription_office"),
        other => other,
    }
}

/// A line for an event in the request's language, without any secret and with phones and
/// e-mails masked.
fn summarize(event: &AccountEvent) -> String {
    let line = |code: &str| messages::text(code).to_string();
    let with = |code: &str, args: &[(&str, &str)]| messages::format(code, args);
    match event {
        AccountEvent::RegistrationStarted(_) => line("history.registration_started"),
        AccountEvent::StaffAccountCreated { .. } => line("history.staff_account_created"),
        AccountEvent::Registered { .. } => line("history.registered"),
        AccountEvent::RegistrationAbandoned { reason } => {
            with("history.registration_abandoned", &[("reason", reason)])
        }
        AccountEvent::EmailVerificationRequested { email, .. } => with(
            "history.email_verification_requested",
            &[("email", &mask_email(email))],
        ),
        AccountEvent::EmailVerified { email } => {
            with("history.email_verified", &[("email", &mask_email(email))])
        }
        AccountEvent::LoginSucceeded { via } => with(
            "history.login_succeeded",
            &[("via", via_label(via.as_str()))],
        ),
        AccountEvent::LoginFailed {
            consecutive_failures,
            ..
        } => with(
            "history.login_failed",
            &[("count", &consecutive_failures.to_string())],
        ),
        AccountEvent::AccountLocked { until, .. } => {
            with("history.account_locked", &[("until", &until.to_rfc3339())])
        }
        AccountEvent::AccountUnlocked { .. } => line("history.account_unlocked"),
        AccountEvent::PasswordRehashed { .. } => line("history.password_rehashed"),
        AccountEvent::IdentityVerified { method } => {
            with("history.identity_verified", &[("method", method)])
        }
        AccountEvent::OldAccountDeactivated { .. } => line("history.old_account_deactivated"),
        AccountEvent::PhoneUnbound { phone, .. } => {
            with("history.phone_unbound", &[("phone", &mask_phone(phone))])
        }
        AccountEvent::PasswordReset { reason, .. } => {
            with("history.password_reset", &[("via", via_label(reason))])
        }
        AccountEvent::PasswordChanged { .. } => line("history.password_changed"),
        AccountEvent::PhoneChanged { old, new } => with(
            "history.phone_changed",
            &[("old", &masked_opt_phone(old)), ("new", &mask_phone(new))],
        ),
        AccountEvent::EmailChanged { old, new } => with(
            "history.email_changed",
            &[("old", &masked_opt_email(old)), ("new", &mask_email(new))],
        ),
        AccountEvent::NameChanged { old, new, via } => with(
            if via == "review" {
                "history.name_changed_reviewed"
            } else {
                "history.name_changed"
            },
            &[("old", old), ("new", new)],
        ),
        AccountEvent::NameChangeRequested { new_name, reason } => with(
            "history.name_change_requested",
            &[("name", new_name), ("reason", reason)],
        ),
        AccountEvent::NameChangeRejected { reason } => {
            with("history.name_change_rejected", &[("reason", reason)])
        }
        AccountEvent::SecurityQuestionsSet { .. } => line("history.security_questions_set"),
        AccountEvent::PasswordResetRequested { channel, .. } => {
            with("history.recovery_started", &[("via", via_label(channel))])
        }
        AccountEvent::SecurityAnswersAccepted => line("history.security_answers_accepted"),
        AccountEvent::SecurityAnswersFailed { failures, .. } => with(
            "history.security_answers_failed",
            &[("count", &failures.to_string())],
        ),
        AccountEvent::ExternalLoginLinked { provider, .. } => with(
            "history.external_login_linked",
            &[("provider", provider_label(provider))],
        ),
        AccountEvent::ExternalLoginUnlinked { provider, .. } => with(
            "history.external_login_unlinked",
            &[("provider", provider_label(provider))],
        ),
        AccountEvent::SecondFactorEnrolled { .. } => line("history.second_factor_enrolled"),
        AccountEvent::SecondFactorPassed { .. } => line("history.second_factor_passed"),
        AccountEvent::RecoveryCodeUsed { remaining, .. } => with(
            "history.recovery_code_used",
            &[("count", &remaining.to_string())],
        ),
        AccountEvent::SecondFactorReset => line("history.second_factor_reset"),
        AccountEvent::StaffAccountDisabled { reason } => {
            with("history.staff_disabled", &[("reason", reason)])
        }
        AccountEvent::PlatformAccessGranted { platform, .. } => {
            with("history.platform_access_granted", &[("platform", platform)])
        }
        AccountEvent::PlatformAccessRevoked { platform, .. } => {
            with("history.platform_access_revoked", &[("platform", platform)])
        }
        AccountEvent::SignedInToPlatform { platform, .. } => {
            with("history.signed_in_to_platform", &[("platform", platform)])
        }
        AccountEvent::LanguageChosen { language } => with(
            "history.language_chosen",
            &[("language", messages::text(language_label(*language)))],
        ),
    }
}

impl AccountManagement {
    /// Every change of the account, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn history(&self, account_id: AccountId) -> anyhow::Result<Vec<HistoryEntry>> {
        let own = account_id.to_string();
        let events = crate::store::log::stream(&self.db, "Account", &own).await?;
        let mut entries = Vec::with_capacity(events.len());
        for stored in events {
            let event: AccountEvent = serde_json::from_value(stored.payload.clone())
                .map_err(|e| anyhow::anyhow!("undecodable account event: {e}"))?;
            let meta = |key: &str| {
                stored
                    .metadata
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let actor = meta("actor").unwrap_or_else(|| "anonymous".into());
            entries.push(HistoryEntry {
                time: meta("time").unwrap_or_default(),
                event: stored.event_type.clone(),
                summary: summarize(&event),
                actor_label: actor_label(&actor, &own).into(),
                actor,
                request_id: meta("request_id"),
                position: stored.position,
            });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_mask_phones_and_emails() {
        let line = summarize(&AccountEvent::PhoneChanged {
            old: Some("+8613612341011".into()),
            new: "+8613912345678".into(),
        });
        assert!(line.contains("136****1011"), "{line}");
        assert!(!line.contains("13912345678"), "{line}");
        let line = summarize(&AccountEvent::EmailChanged {
            old: None,
            new: "zhangsan@example.com".into(),
        });
        assert!(!line.contains("zhangsan@"), "{line}");
    }

    #[test]
    fn actors_are_labelled_from_the_accounts_point_of_view() {
        assert_eq!(actor_label("account:abc", "abc"), "本人");
        assert_eq!(actor_label("account:xyz", "abc"), "其他用户");
        assert_eq!(actor_label("reviewer:r1", "abc"), "审核员");
        assert_eq!(actor_label("anonymous", "abc"), "未登录用户");
    }
}
