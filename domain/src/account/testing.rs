//! What the aggregate's tests share: a clock, hashers that show what they hashed, a
//! registered account.

#![cfg(test)]

use super::*;
pub(super) use crate::hashing::{HasherUnavailable, Verification};
pub(super) use crate::ids::LoginVia;
pub(super) use crate::time::FixedClock;
pub(super) use crate::values::{DocumentType, Email, Secret};
pub(super) use cqrs_es::test::TestFramework;

pub(super) const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// "Hashes" by prefixing, so tests can see what was hashed; `old$` marks an outdated hash.
pub(super) struct PlainHasher;

#[async_trait::async_trait]
impl SecretHasher for PlainHasher {
    async fn hash(&self, secret: &Secret) -> Result<String, HasherUnavailable> {
        Ok(format!("new${}", secret.expose()))
    }
    async fn verify(&self, phc: &str, secret: &Secret) -> Result<Verification, HasherUnavailable> {
        let (params, stored) = phc.split_once('$').unwrap_or(("", phc));
        Ok(Verification {
            matches: stored == secret.expose(),
            needs_rehash: params == "old",
        })
    }
}

pub(super) struct SaturatedHasher;

#[async_trait::async_trait]
impl SecretHasher for SaturatedHasher {
    async fn hash(&self, _: &Secret) -> Result<String, HasherUnavailable> {
        Err(HasherUnavailable)
    }
    async fn verify(&self, _: &str, _: &Secret) -> Result<Verification, HasherUnavailable> {
        Err(HasherUnavailable)
    }
}

pub(super) fn services_at(now: Timestamp) -> AccountServices {
    AccountServices {
        clock: Arc::new(FixedClock(now)),
        hasher: Arc::new(PlainHasher),
        lockout: LockoutPolicy::default(),
        email_verification_ttl_seconds: EMAIL_VERIFICATION_TTL_SECONDS,
    }
}

pub(super) fn framework() -> TestFramework<Account> {
    TestFramework::with(services_at(NOW))
}

pub(super) fn details(password_hash: &str) -> RegistrationDetails {
    RegistrationDetails {
        name: "张三".into(),
        phone: Some("+8613800138000".into()),
        document: DocumentSummary {
            kind: DocumentType::ResidentIdCard,
            number_digest: "d1".into(),
            masked: "51**************1X".into(),
        },
        email: Some("zhangsan@example.com".into()),
        password_hash: password_hash.into(),
        security_questions: vec![],
        channel: RegistrationChannel::SelfService,
        terms_accepted: true,
        identity_claim: IdentityClaimMode::Bind,
        phone_claim: PhoneClaimMode::Claim,
    }
}

pub(super) fn registered(password_hash: &str) -> Vec<AccountEvent> {
    vec![
        AccountEvent::RegistrationStarted(details(password_hash)),
        AccountEvent::Registered {
            status: AccountStatus::Active,
        },
    ]
}

pub(super) fn wrong_password() -> AccountCommand {
    AccountCommand::RecordLoginFailure {
        via: LoginVia::Phone,
    }
}

pub(super) fn login(password: &str) -> AccountCommand {
    AccountCommand::Login {
        password: Secret::new(password),
        via: LoginVia::Phone,
    }
}

pub(super) fn failures(count: u32) -> Vec<AccountEvent> {
    (1..=count)
        .map(|n| AccountEvent::LoginFailed {
            via: LoginVia::Phone,
            consecutive_failures: n,
        })
        .collect()
}
