//! The Account aggregate: profile, credentials, e-mail verification, status and lockout.
//! It is also the state of the registration saga (DESIGN: "run it as a saga whose state is
//! the new Account").

mod commands;
mod error;
mod events;

pub use commands::AccountCommand;
pub use error::AccountError;
pub use events::{
    AccountEvent, AccountStatus, IdentityClaimMode, PhoneClaimMode, RegistrationChannel,
    RegistrationDetails, StaffProfile, StoredSecurityQuestion, UnlockReason,
};

use crate::hashing::SecretHasher;
use crate::time::{Clock, Timestamp};
use crate::values::DocumentSummary;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Lockout after consecutive failures: timed, growing on repeat, never permanent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub base_lock_seconds: i64,
    pub max_lock_seconds: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_lock_seconds: 15 * 60,
            max_lock_seconds: 24 * 60 * 60,
        }
    }
}

impl LockoutPolicy {
    /// The n-th lock in a row (1-based) lasts base × 2^(n-1), capped.
    pub fn lock_seconds(&self, lock_count: u32) -> i64 {
        let exponent = lock_count.saturating_sub(1).min(30);
        self.base_lock_seconds
            .saturating_mul(1i64 << exponent)
            .min(self.max_lock_seconds)
    }
}

#[derive(Clone)]
pub struct AccountServices {
    pub clock: Arc<dyn Clock>,
    pub hasher: Arc<dyn SecretHasher>,
    pub lockout: LockoutPolicy,
    /// How long an e-mail verification link stays valid (seed: 24 hours).
    pub email_verification_ttl_seconds: i64,
}

pub const EMAIL_VERIFICATION_TTL_SECONDS: i64 = 24 * 60 * 60;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailState {
    pub address: String,
    pub verified: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    status: Option<AccountStatus>,
    name: String,
    phone: Option<String>,
    document: Option<DocumentSummary>,
    email: Option<EmailState>,
    password_hash: String,
    security_questions: Vec<StoredSecurityQuestion>,
    details: Option<RegistrationDetails>,
    channel: Option<RegistrationChannel>,
    staff: Option<StaffProfile>,
    consecutive_failures: u32,
    lock_count: u32,
    locked_until: Option<Timestamp>,
    /// A resident-ID holder's requested new name and reason, until a reviewer decides.
    pending_name_change: Option<(String, String)>,
    security_failures: u32,
    security_closed_until: Option<Timestamp>,
    /// provider → subject (WeChat unionid/openid, Alipay user_id).
    external_logins: std::collections::BTreeMap<String, String>,
    /// Counts password resets and changes: a recovery token names the generation it was made
    /// in, so every outstanding one dies with the next reset or change.
    credential_generation: u32,
}

/// Recovery by security questions closes for a day after this many failures in a row.
pub const SECURITY_ANSWER_ATTEMPTS: u32 = 3;
pub const SECURITY_CLOSED_SECONDS: i64 = 24 * 60 * 60;

impl Account {
    pub fn status(&self) -> Option<AccountStatus> {
        self.status
    }

    pub fn exists(&self) -> bool {
        self.status.is_some()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    pub fn email(&self) -> Option<&EmailState> {
        self.email.as_ref()
    }

    pub fn document(&self) -> Option<&DocumentSummary> {
        self.document.as_ref()
    }

    /// The saga's plan, while registration is in progress.
    pub fn registration_details(&self) -> Option<&RegistrationDetails> {
        self.details.as_ref()
    }

    /// Who registered the account (the person, or a conscription office).
    pub fn channel(&self) -> Option<&RegistrationChannel> {
        self.channel.as_ref()
    }

    /// The staff profile, for staff accounts.
    pub fn staff(&self) -> Option<&StaffProfile> {
        self.staff.as_ref()
    }

    pub fn locked_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|until| *until > now)
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn security_questions(&self) -> &[StoredSecurityQuestion] {
        &self.security_questions
    }

    pub fn pending_name_change(&self) -> Option<&(String, String)> {
        self.pending_name_change.as_ref()
    }

    pub fn external_logins(&self) -> &std::collections::BTreeMap<String, String> {
        &self.external_logins
    }

    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    pub fn credential_generation(&self) -> u32 {
        self.credential_generation
    }

    /// Refuses while a lock runs; records the unlock of a lock that has run out.
    async fn pass_lock(
        &mut self,
        now: Timestamp,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if let Some(until) = self.locked_until {
            if until > now {
                return Err(AccountError::Locked { until });
            }
            sink.write(
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::Expired,
                },
                self,
            )
            .await;
        }
        Ok(())
    }

    fn require_usable(&self) -> Result<AccountStatus, AccountError> {
        let status = self.require_status()?;
        if status.can_log_in() {
            Ok(status)
        } else {
            Err(AccountError::CannotLogIn)
        }
    }

    async fn check_security_answers(
        &mut self,
        answers: Vec<crate::values::Secret>,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if self.security_questions.is_empty() {
            return Err(AccountError::NoSecurityQuestions);
        }
        let now = services.clock.now();
        if let Some(until) = self.security_closed_until.filter(|u| *u > now) {
            return Err(AccountError::SecurityQuestionsClosed { until });
        }
        let mut all_match = answers.len() == self.security_questions.len();
        for (stored, answer) in self.security_questions.clone().iter().zip(&answers) {
            // Every answer is checked, so the time does not tell which one was wrong.
            let verdict = services.hasher.verify(&stored.answer_hash, answer).await?;
            all_match &= verdict.matches;
        }
        if all_match {
            sink.write(AccountEvent::SecurityAnswersAccepted, self)
                .await;
        } else {
            let failures = self.security_failures + 1;
            let closed_until = (failures >= SECURITY_ANSWER_ATTEMPTS)
                .then(|| now.plus_seconds(SECURITY_CLOSED_SECONDS));
            sink.write(
                AccountEvent::SecurityAnswersFailed {
                    failures,
                    closed_until,
                },
                self,
            )
            .await;
        }
        Ok(())
    }

    fn require_status(&self) -> Result<AccountStatus, AccountError> {
        self.status.ok_or(AccountError::NotFound)
    }

    async fn login(
        &mut self,
        password: crate::values::Secret,
        via: crate::ids::LoginVia,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let status = self
            .require_status()
            .map_err(|_| AccountError::CannotLogIn)?;
        if !status.can_log_in() {
            return Err(AccountError::CannotLogIn);
        }
        // An e-mail is a login name only once verified (seed 001: 验证通过后可凭此邮箱…).
        let email_verified = self.email.as_ref().is_some_and(|e| e.verified);
        if via == crate::ids::LoginVia::Email && !email_verified {
            return Err(AccountError::CannotLogIn);
        }
        let now = services.clock.now();
        // The password is checked during a lock too, and only the right one is told of the
        // lock: a wrong one gets the answer an unknown name gets (issue 13), and adds nothing.
        let locked_until = self.locked_until.filter(|until| *until > now);
        let verification = services
            .hasher
            .verify(&self.password_hash, &password)
            .await?;
        if let Some(until) = locked_until {
            return if verification.matches {
                Err(AccountError::Locked { until })
            } else {
                Ok(())
            };
        }
        if !verification.matches {
            // Recorded later, through the service's queue (`RecordLoginFailure`).
            return Ok(());
        }
        self.pass_lock(now, sink).await?;
        sink.write(AccountEvent::LoginSucceeded { via }, self).await;
        if verification.needs_rehash {
            let password_hash = services.hasher.hash(&password).await?;
            sink.write(AccountEvent::PasswordRehashed { password_hash }, self)
                .await;
        }
        Ok(())
    }

    /// A wrong password the service queued: one more failure in a row, and a lock at the
    /// threshold. During a lock it adds nothing; an account that cannot log in ignores it.
    async fn record_login_failure(
        &mut self,
        via: crate::ids::LoginVia,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if !self.status.is_some_and(|s| s.can_log_in()) {
            return Ok(());
        }
        let now = services.clock.now();
        if self.locked_until.is_some_and(|until| until > now) {
            return Ok(());
        }
        self.pass_lock(now, sink).await?;
        let consecutive_failures = self.consecutive_failures + 1;
        sink.write(
            AccountEvent::LoginFailed {
                via,
                consecutive_failures,
            },
            self,
        )
        .await;
        if consecutive_failures >= services.lockout.threshold {
            let lock_count = self.lock_count + 1;
            let until = now.plus_seconds(services.lockout.lock_seconds(lock_count));
            sink.write(AccountEvent::AccountLocked { until, lock_count }, self)
                .await;
        }
        Ok(())
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = AccountServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            AccountCommand::StartRegistration(details) => {
                if self.exists() {
                    return Err(AccountError::AlreadyExists);
                }
                sink.write(AccountEvent::RegistrationStarted(*details), self)
                    .await;
            }
            AccountCommand::CreateStaffAccount {
                profile,
                password_hash,
            } => {
                if self.exists() {
                    return Err(AccountError::AlreadyExists);
                }
                sink.write(
                    AccountEvent::StaffAccountCreated {
                        profile,
                        password_hash,
                    },
                    self,
                )
                .await;
            }
            AccountCommand::CompleteRegistration {
                pending_identity_review,
            } => match self.require_status()? {
                AccountStatus::Registering => {
                    let status = if pending_identity_review {
                        AccountStatus::PendingIdentityReview
                    } else {
                        AccountStatus::Active
                    };
                    sink.write(AccountEvent::Registered { status }, self).await;
                    // The verification mail is requested in the same commit, so that no
                    // crash can leave a registered e-mail without its mail.
                    if let Some(email) = self.email.clone().filter(|e| !e.verified) {
                        let expires_at = services
                            .clock
                            .now()
                            .plus_seconds(services.email_verification_ttl_seconds);
                        sink.write(
                            AccountEvent::EmailVerificationRequested {
                                email: email.address,
                                expires_at,
                            },
                            self,
                        )
                        .await;
                    }
                }
                // A resumed saga may complete twice; the second time changes nothing.
                AccountStatus::Active | AccountStatus::PendingIdentityReview => {}
                _ => return Err(AccountError::NotRegistering),
            },
            AccountCommand::AbandonRegistration { reason } => match self.require_status()? {
                AccountStatus::Registering => {
                    sink.write(AccountEvent::RegistrationAbandoned { reason }, self)
                        .await;
                }
                AccountStatus::Abandoned => {}
                _ => return Err(AccountError::NotRegistering),
            },
            AccountCommand::RequestEmailVerification => {
                self.require_status()?;
                let expires_at = services
                    .clock
                    .now()
                    .plus_seconds(services.email_verification_ttl_seconds);
                let email = self.email.as_ref().ok_or(AccountError::NoEmail)?;
                if email.verified {
                    return Err(AccountError::EmailAlreadyVerified);
                }
                let email = email.address.clone();
                sink.write(
                    AccountEvent::EmailVerificationRequested { email, expires_at },
                    self,
                )
                .await;
            }
            AccountCommand::VerifyEmail { email } => {
                self.require_status()?;
                let current = self.email.as_ref().ok_or(AccountError::NoEmail)?;
                if current.address != email.as_str() {
                    return Err(AccountError::EmailMismatch);
                }
                if current.verified {
                    return Err(AccountError::EmailAlreadyVerified);
                }
                sink.write(
                    AccountEvent::EmailVerified {
                        email: email.as_str().to_string(),
                    },
                    self,
                )
                .await;
            }
            AccountCommand::RecordLoginFailure { via } => {
                self.record_login_failure(via, services, sink).await?;
            }
            AccountCommand::Login { password, via } => {
                self.login(password, via, services, sink).await?;
            }
            AccountCommand::VerifyIdentity { method } => {
                if self.require_status()? == AccountStatus::PendingIdentityReview {
                    sink.write(AccountEvent::IdentityVerified { method }, self)
                        .await;
                }
            }
            AccountCommand::DeactivateAsOldAccount { new_account } => {
                if self.require_status()? != AccountStatus::Deactivated {
                    sink.write(AccountEvent::OldAccountDeactivated { new_account }, self)
                        .await;
                }
            }
            AccountCommand::UnbindPhone { phone, reason } => {
                self.require_status()?;
                if self.phone.as_deref() == Some(phone.as_str()) {
                    sink.write(AccountEvent::PhoneUnbound { phone, reason }, self)
                        .await;
                }
            }
            AccountCommand::ChangePassword { password_hash } => {
                self.require_usable()?;
                sink.write(AccountEvent::PasswordChanged { password_hash }, self)
                    .await;
            }
            AccountCommand::ChangePhone { new } => {
                self.require_usable()?;
                if self.phone.as_deref() != Some(new.as_str()) {
                    let old = self.phone.clone();
                    sink.write(AccountEvent::PhoneChanged { old, new }, self)
                        .await;
                }
            }
            AccountCommand::ChangeEmail { new } => {
                self.require_usable()?;
                if self.email.as_ref().map(|e| e.address.as_str()) != Some(new.as_str()) {
                    let old = self.email.as_ref().map(|e| e.address.clone());
                    sink.write(
                        AccountEvent::EmailChanged {
                            old,
                            new: new.clone(),
                        },
                        self,
                    )
                    .await;
                    let expires_at = services
                        .clock
                        .now()
                        .plus_seconds(services.email_verification_ttl_seconds);
                    sink.write(
                        AccountEvent::EmailVerificationRequested {
                            email: new,
                            expires_at,
                        },
                        self,
                    )
                    .await;
                }
            }
            AccountCommand::ChangeName { new } => {
                self.require_usable()?;
                let resident = self
                    .document
                    .as_ref()
                    .is_some_and(|d| d.kind == crate::values::DocumentType::ResidentIdCard);
                if resident {
                    return Err(AccountError::NameChangeNeedsReview);
                }
                if self.name != new {
                    let old = self.name.clone();
                    sink.write(
                        AccountEvent::NameChanged {
                            old,
                            new,
                            via: "direct".into(),
                        },
                        self,
                    )
                    .await;
                }
            }
            AccountCommand::RequestNameChange { new_name, reason } => {
                self.require_usable()?;
                if self.pending_name_change.is_some() {
                    return Err(AccountError::NameChangePending);
                }
                sink.write(AccountEvent::NameChangeRequested { new_name, reason }, self)
                    .await;
            }
            AccountCommand::ApproveNameChange => {
                let (new, _) = self
                    .pending_name_change
                    .clone()
                    .ok_or(AccountError::NoNameChangePending)?;
                let old = self.name.clone();
                sink.write(
                    AccountEvent::NameChanged {
                        old,
                        new,
                        via: "review".into(),
                    },
                    self,
                )
                .await;
            }
            AccountCommand::RejectNameChange { reason } => {
                if self.pending_name_change.is_none() {
                    return Err(AccountError::NoNameChangePending);
                }
                sink.write(AccountEvent::NameChangeRejected { reason }, self)
                    .await;
            }
            AccountCommand::SetSecurityQuestions { questions } => {
                self.require_usable()?;
                sink.write(AccountEvent::SecurityQuestionsSet { questions }, self)
                    .await;
            }
            AccountCommand::RequestPasswordResetByEmail => {
                self.require_usable()?;
                if !self.email.as_ref().is_some_and(|e| e.verified) {
                    return Err(AccountError::NoEmail);
                }
                sink.write(
                    AccountEvent::PasswordResetRequested {
                        channel: "email".into(),
                        generation: self.credential_generation,
                    },
                    self,
                )
                .await;
            }
            AccountCommand::CheckSecurityAnswers { answers } => {
                self.check_security_answers(answers, services, sink).await?;
            }
            AccountCommand::LinkExternalLogin { provider, subject } => {
                self.require_usable()?;
                match self.external_logins.get(&provider) {
                    Some(current) if *current == subject => {}
                    Some(_) => return Err(AccountError::ExternalLoginAlreadyLinked),
                    None => {
                        sink.write(
                            AccountEvent::ExternalLoginLinked { provider, subject },
                            self,
                        )
                        .await;
                    }
                }
            }
            AccountCommand::UnlinkExternalLogin { provider } => {
                let subject = self
                    .external_logins
                    .get(&provider)
                    .cloned()
                    .ok_or(AccountError::ExternalLoginNotLinked)?;
                sink.write(
                    AccountEvent::ExternalLoginUnlinked { provider, subject },
                    self,
                )
                .await;
            }
            AccountCommand::ExternalLogin { provider, subject } => {
                self.require_usable()?;
                // The login name may lag an unlink; the account's own links decide.
                if self.external_logins.get(&provider) != Some(&subject) {
                    return Err(AccountError::ExternalLoginNotLinked);
                }
                let via = match provider.as_str() {
                    "wechat" => crate::ids::LoginVia::WeChat,
                    "alipay" => crate::ids::LoginVia::Alipay,
                    _ => return Err(AccountError::ExternalLoginNotLinked),
                };
                self.pass_lock(services.clock.now(), sink).await?;
                sink.write(AccountEvent::LoginSucceeded { via }, self).await;
            }
            AccountCommand::ResetPassword {
                password_hash,
                reason,
                generation,
            } => {
                let status = self.require_status()?;
                if generation.is_some_and(|g| g != self.credential_generation) {
                    return Err(AccountError::StaleRecoveryToken);
                }
                if matches!(
                    status,
                    AccountStatus::Deactivated | AccountStatus::Abandoned
                ) {
                    return Err(AccountError::CannotLogIn);
                }
                let locked = self
                    .locked_until
                    .is_some_and(|until| until > services.clock.now());
                sink.write(
                    AccountEvent::PasswordReset {
                        password_hash,
                        reason,
                    },
                    self,
                )
                .await;
                if locked {
                    sink.write(
                        AccountEvent::AccountUnlocked {
                            reason: UnlockReason::PasswordReset,
                        },
                        self,
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AccountEvent::RegistrationStarted(details) => {
                self.status = Some(AccountStatus::Registering);
                self.name = details.name.clone();
                self.phone = details.phone.clone();
                self.document = Some(details.document.clone());
                self.email = details.email.clone().map(|address| EmailState {
                    address,
                    verified: false,
                });
                self.password_hash = details.password_hash.clone();
                self.security_questions = details.security_questions.clone();
                self.channel = Some(details.channel.clone());
                self.details = Some(details);
            }
            AccountEvent::StaffAccountCreated {
                profile,
                password_hash,
            } => {
                self.status = Some(AccountStatus::Active);
                self.name = profile.display_name.clone();
                self.password_hash = password_hash;
                self.staff = Some(profile);
            }
            AccountEvent::Registered { status } => {
                self.status = Some(status);
                // The plan is only needed while the saga runs; the profile fields stay.
                self.details = None;
            }
            AccountEvent::RegistrationAbandoned { .. } => {
                self.status = Some(AccountStatus::Abandoned);
            }
            AccountEvent::EmailVerificationRequested { .. } => {}
            AccountEvent::EmailVerified { email } => {
                self.email = Some(EmailState {
                    address: email,
                    verified: true,
                });
            }
            AccountEvent::LoginSucceeded { .. } => {
                self.consecutive_failures = 0;
                self.lock_count = 0;
                self.locked_until = None;
            }
            AccountEvent::LoginFailed {
                consecutive_failures,
                ..
            } => {
                self.consecutive_failures = consecutive_failures;
            }
            AccountEvent::AccountLocked { until, lock_count } => {
                self.locked_until = Some(until);
                self.lock_count = lock_count;
                self.consecutive_failures = 0;
            }
            AccountEvent::AccountUnlocked { .. } => {
                self.locked_until = None;
            }
            AccountEvent::PasswordRehashed { password_hash } => {
                self.password_hash = password_hash;
            }
            AccountEvent::IdentityVerified { .. } => {
                self.status = Some(AccountStatus::Active);
            }
            AccountEvent::OldAccountDeactivated { .. } => {
                self.status = Some(AccountStatus::Deactivated);
            }
            AccountEvent::PhoneUnbound { .. } => {
                self.phone = None;
            }
            AccountEvent::PasswordReset { password_hash, .. } => {
                self.password_hash = password_hash;
                self.consecutive_failures = 0;
                self.lock_count = 0;
                self.locked_until = None;
                self.security_failures = 0;
                self.security_closed_until = None;
                self.credential_generation += 1;
            }
            AccountEvent::PasswordChanged { password_hash } => {
                self.password_hash = password_hash;
                self.credential_generation += 1;
            }
            AccountEvent::PhoneChanged { new, .. } => {
                self.phone = Some(new);
            }
            AccountEvent::EmailChanged { new, .. } => {
                self.email = Some(EmailState {
                    address: new,
                    verified: false,
                });
            }
            AccountEvent::NameChanged { new, .. } => {
                self.name = new;
                self.pending_name_change = None;
            }
            AccountEvent::NameChangeRequested { new_name, reason } => {
                self.pending_name_change = Some((new_name, reason));
            }
            AccountEvent::NameChangeRejected { .. } => {
                self.pending_name_change = None;
            }
            AccountEvent::SecurityQuestionsSet { questions } => {
                self.security_questions = questions;
                self.security_failures = 0;
                self.security_closed_until = None;
            }
            AccountEvent::PasswordResetRequested { .. } => {}
            AccountEvent::SecurityAnswersAccepted => {
                self.security_failures = 0;
            }
            AccountEvent::SecurityAnswersFailed {
                failures,
                closed_until,
            } => {
                // A closed path starts a fresh count when it opens again.
                self.security_failures = if closed_until.is_some() { 0 } else { failures };
                self.security_closed_until = closed_until;
            }
            AccountEvent::ExternalLoginLinked { provider, subject } => {
                self.external_logins.insert(provider, subject);
            }
            AccountEvent::ExternalLoginUnlinked { provider, .. } => {
                self.external_logins.remove(&provider);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::{HasherUnavailable, Verification};
    use crate::ids::LoginVia;
    use crate::time::FixedClock;
    use crate::values::{DocumentType, Email, Secret};
    use cqrs_es::test::TestFramework;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    /// "Hashes" by prefixing, so tests can see what was hashed; `old$` marks an outdated hash.
    struct PlainHasher;

    #[async_trait::async_trait]
    impl SecretHasher for PlainHasher {
        async fn hash(&self, secret: &Secret) -> Result<String, HasherUnavailable> {
            Ok(format!("new${}", secret.expose()))
        }
        async fn verify(
            &self,
            phc: &str,
            secret: &Secret,
        ) -> Result<Verification, HasherUnavailable> {
            let (params, stored) = phc.split_once('$').unwrap_or(("", phc));
            Ok(Verification {
                matches: stored == secret.expose(),
                needs_rehash: params == "old",
            })
        }
    }

    struct SaturatedHasher;

    #[async_trait::async_trait]
    impl SecretHasher for SaturatedHasher {
        async fn hash(&self, _: &Secret) -> Result<String, HasherUnavailable> {
            Err(HasherUnavailable)
        }
        async fn verify(&self, _: &str, _: &Secret) -> Result<Verification, HasherUnavailable> {
            Err(HasherUnavailable)
        }
    }

    fn services_at(now: Timestamp) -> AccountServices {
        AccountServices {
            clock: Arc::new(FixedClock(now)),
            hasher: Arc::new(PlainHasher),
            lockout: LockoutPolicy::default(),
            email_verification_ttl_seconds: EMAIL_VERIFICATION_TTL_SECONDS,
        }
    }

    fn framework() -> TestFramework<Account> {
        TestFramework::with(services_at(NOW))
    }

    fn details(password_hash: &str) -> RegistrationDetails {
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

    fn registered(password_hash: &str) -> Vec<AccountEvent> {
        vec![
            AccountEvent::RegistrationStarted(details(password_hash)),
            AccountEvent::Registered {
                status: AccountStatus::Active,
            },
        ]
    }

    fn wrong_password() -> AccountCommand {
        AccountCommand::RecordLoginFailure {
            via: LoginVia::Phone,
        }
    }

    fn login(password: &str) -> AccountCommand {
        AccountCommand::Login {
            password: Secret::new(password),
            via: LoginVia::Phone,
        }
    }

    fn failures(count: u32) -> Vec<AccountEvent> {
        (1..=count)
            .map(|n| AccountEvent::LoginFailed {
                via: LoginVia::Phone,
                consecutive_failures: n,
            })
            .collect()
    }

    #[test]
    fn registration_starts_once() {
        framework()
            .given_no_previous_events()
            .when(AccountCommand::StartRegistration(Box::new(details("x$pw"))))
            .then_expect_events(vec![AccountEvent::RegistrationStarted(details("x$pw"))]);
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::StartRegistration(Box::new(details("x$pw"))))
            .then_expect_error(AccountError::AlreadyExists);
    }

    #[test]
    fn completing_twice_is_harmless_but_an_abandoned_saga_cannot_complete() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_events(vec![]);
        framework()
            .given(vec![
                AccountEvent::RegistrationStarted(details("x$pw")),
                AccountEvent::RegistrationAbandoned {
                    reason: "phone_taken".into(),
                },
            ])
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_error(AccountError::NotRegistering);
    }

    #[test]
    fn completing_a_registration_with_an_email_requests_its_verification() {
        framework()
            .given(vec![AccountEvent::RegistrationStarted(details("x$pw"))])
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_events(vec![
                AccountEvent::Registered {
                    status: AccountStatus::Active,
                },
                AccountEvent::EmailVerificationRequested {
                    email: "zhangsan@example.com".into(),
                    expires_at: NOW.plus_seconds(EMAIL_VERIFICATION_TTL_SECONDS),
                },
            ]);
    }

    #[test]
    fn a_re_registration_waits_for_identity_review_and_is_then_verified() {
        let started = vec![AccountEvent::RegistrationStarted(details("x$pw"))];
        let completed = framework()
            .given(started.clone())
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: true,
            })
            .inspect_result()
            .unwrap();
        assert_eq!(
            completed[0],
            AccountEvent::Registered {
                status: AccountStatus::PendingIdentityReview
            }
        );
        let mut pending = started;
        pending.push(completed[0].clone());
        framework()
            .given(pending.clone())
            .when(login("pw"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
        framework()
            .given(pending)
            .when(AccountCommand::VerifyIdentity {
                method: "manual_review".into(),
            })
            .then_expect_events(vec![AccountEvent::IdentityVerified {
                method: "manual_review".into(),
            }]);
    }

    #[test]
    fn a_deactivated_old_account_cannot_log_in_and_deactivating_twice_is_harmless() {
        let mut old = registered("x$pw");
        let new_account = crate::ids::AccountId(uuid::Uuid::from_u128(9));
        old.push(AccountEvent::OldAccountDeactivated { new_account });
        framework()
            .given(old.clone())
            .when(login("pw"))
            .then_expect_error(AccountError::CannotLogIn);
        framework()
            .given(old)
            .when(AccountCommand::DeactivateAsOldAccount { new_account })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_phone_taken_over_is_unbound_once() {
        let unbind = AccountCommand::UnbindPhone {
            phone: "+8613800138000".into(),
            reason: "taken_over".into(),
        };
        framework()
            .given(registered("x$pw"))
            .when(unbind.clone())
            .then_expect_events(vec![AccountEvent::PhoneUnbound {
                phone: "+8613800138000".into(),
                reason: "taken_over".into(),
            }]);
        let mut unbound = registered("x$pw");
        unbound.push(AccountEvent::PhoneUnbound {
            phone: "+8613800138000".into(),
            reason: "taken_over".into(),
        });
        framework()
            .given(unbound)
            .when(unbind)
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_password_reset_lifts_the_lock() {
        let mut locked = registered("x$pw");
        locked.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(600),
            lock_count: 1,
        });
        locked.push(AccountEvent::PasswordReset {
            password_hash: "x$new".into(),
            reason: "conscription_office".into(),
        });
        framework()
            .given(locked)
            .when(login("new"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
    }

    fn with_questions() -> Vec<AccountEvent> {
        let mut events = registered("x$pw");
        events.push(AccountEvent::SecurityQuestionsSet {
            questions: ["a", "b", "c"]
                .iter()
                .map(|q| StoredSecurityQuestion {
                    question: format!("q{q}"),
                    answer_hash: format!("x${q}"),
                })
                .collect(),
        });
        events
    }

    fn answers(a: &[&str]) -> AccountCommand {
        AccountCommand::CheckSecurityAnswers {
            answers: a.iter().map(|s| Secret::new(*s)).collect(),
        }
    }

    #[test]
    fn all_three_security_answers_must_match() {
        framework()
            .given(with_questions())
            .when(answers(&["a", "b", "c"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersAccepted]);
        framework()
            .given(with_questions())
            .when(answers(&["a", "b", "x"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersFailed {
                failures: 1,
                closed_until: None,
            }]);
    }

    #[test]
    fn three_wrong_answers_close_the_questions_for_a_day() {
        let mut given = with_questions();
        for failures in 1..=2 {
            given.push(AccountEvent::SecurityAnswersFailed {
                failures,
                closed_until: None,
            });
        }
        framework()
            .given(given.clone())
            .when(answers(&["x", "x", "x"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersFailed {
                failures: 3,
                closed_until: Some(NOW.plus_seconds(SECURITY_CLOSED_SECONDS)),
            }]);
        given.push(AccountEvent::SecurityAnswersFailed {
            failures: 3,
            closed_until: Some(NOW.plus_seconds(SECURITY_CLOSED_SECONDS)),
        });
        framework()
            .given(given)
            .when(answers(&["a", "b", "c"]))
            .then_expect_error(AccountError::SecurityQuestionsClosed {
                until: NOW.plus_seconds(SECURITY_CLOSED_SECONDS),
            });
    }

    #[test]
    fn a_resident_id_name_changes_only_through_review() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::ChangeName {
                new: "张三丰".into(),
            })
            .then_expect_error(AccountError::NameChangeNeedsReview);
        let mut given = registered("x$pw");
        given.push(AccountEvent::NameChangeRequested {
            new_name: "张三丰".into(),
            reason: "户籍更名".into(),
        });
        framework()
            .given(given)
            .when(AccountCommand::ApproveNameChange)
            .then_expect_events(vec![AccountEvent::NameChanged {
                old: "张三".into(),
                new: "张三丰".into(),
                via: "review".into(),
            }]);
    }

    #[test]
    fn one_external_login_per_provider() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::ExternalLoginLinked {
            provider: "wechat".into(),
            subject: "u1".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::LinkExternalLogin {
                provider: "wechat".into(),
                subject: "u2".into(),
            })
            .then_expect_error(AccountError::ExternalLoginAlreadyLinked);
        framework()
            .given(given)
            .when(AccountCommand::UnlinkExternalLogin {
                provider: "wechat".into(),
            })
            .then_expect_events(vec![AccountEvent::ExternalLoginUnlinked {
                provider: "wechat".into(),
                subject: "u1".into(),
            }]);
    }

    #[test]
    fn an_external_login_needs_the_accounts_own_link() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::ExternalLoginLinked {
            provider: "alipay".into(),
            subject: "2088".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::ExternalLogin {
                provider: "alipay".into(),
                subject: "2088".into(),
            })
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Alipay,
            }]);
        // The same subject string from the other provider reaches nothing.
        framework()
            .given(given.clone())
            .when(AccountCommand::ExternalLogin {
                provider: "wechat".into(),
                subject: "2088".into(),
            })
            .then_expect_error(AccountError::ExternalLoginNotLinked);
        given.push(AccountEvent::ExternalLoginUnlinked {
            provider: "alipay".into(),
            subject: "2088".into(),
        });
        framework()
            .given(given)
            .when(AccountCommand::ExternalLogin {
                provider: "alipay".into(),
                subject: "2088".into(),
            })
            .then_expect_error(AccountError::ExternalLoginNotLinked);
    }

    #[test]
    fn a_reset_or_change_kills_recovery_tokens_of_the_generation_before() {
        let reset = |generation| AccountCommand::ResetPassword {
            password_hash: "x$new".into(),
            reason: "sms".into(),
            generation: Some(generation),
        };
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::RequestPasswordResetByEmail)
            .then_expect_error(AccountError::NoEmail);
        let mut given = registered("x$pw");
        given.push(AccountEvent::EmailVerified {
            email: "a@example.com".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::RequestPasswordResetByEmail)
            .then_expect_events(vec![AccountEvent::PasswordResetRequested {
                channel: "email".into(),
                generation: 0,
            }]);
        framework()
            .given(given.clone())
            .when(reset(0))
            .then_expect_events(vec![AccountEvent::PasswordReset {
                password_hash: "x$new".into(),
                reason: "sms".into(),
            }]);
        given.push(AccountEvent::PasswordChanged {
            password_hash: "x$other".into(),
        });
        framework()
            .given(given)
            .when(reset(0))
            .then_expect_error(AccountError::StaleRecoveryToken);
    }

    #[test]
    fn a_passport_name_changes_at_once_and_a_phone_change_names_the_old_phone() {
        let mut given = vec![AccountEvent::RegistrationStarted({
            let mut d = details("x$pw");
            d.document.kind = DocumentType::OverseasChineseIdOrPassport;
            d
        })];
        given.push(AccountEvent::Registered {
            status: AccountStatus::Active,
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::ChangeName {
                new: "JOHN SMITH".into(),
            })
            .then_expect_events(vec![AccountEvent::NameChanged {
                old: "张三".into(),
                new: "JOHN SMITH".into(),
                via: "direct".into(),
            }]);
        framework()
            .given(given)
            .when(AccountCommand::ChangePhone {
                new: "+8613900139000".into(),
            })
            .then_expect_events(vec![AccountEvent::PhoneChanged {
                old: Some("+8613800138000".into()),
                new: "+8613900139000".into(),
            }]);
    }

    #[test]
    fn a_registering_account_cannot_log_in() {
        framework()
            .given(vec![AccountEvent::RegistrationStarted(details("x$pw"))])
            .when(login("pw"))
            .then_expect_error(AccountError::CannotLogIn);
    }

    #[test]
    fn a_correct_password_logs_in() {
        framework()
            .given(registered("x$pw"))
            .when(login("pw"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
    }

    #[test]
    fn an_unverified_email_is_not_a_login_name() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::Login {
                password: Secret::new("pw"),
                via: LoginVia::Email,
            })
            .then_expect_error(AccountError::CannotLogIn);
        let mut verified = registered("x$pw");
        verified.push(AccountEvent::EmailVerified {
            email: "zhangsan@example.com".into(),
        });
        framework()
            .given(verified)
            .when(AccountCommand::Login {
                password: Secret::new("pw"),
                via: LoginVia::Email,
            })
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Email,
            }]);
    }

    #[test]
    fn an_outdated_hash_is_replaced_at_login() {
        framework()
            .given(registered("old$pw"))
            .when(login("pw"))
            .then_expect_events(vec![
                AccountEvent::LoginSucceeded {
                    via: LoginVia::Phone,
                },
                AccountEvent::PasswordRehashed {
                    password_hash: "new$pw".into(),
                },
            ]);
    }

    #[test]
    fn a_wrong_password_records_nothing_at_login_and_its_queued_failure_counts() {
        framework()
            .given(registered("x$pw"))
            .when(login("nope"))
            .then_expect_events(vec![]);
        framework()
            .given(registered("x$pw"))
            .when(wrong_password())
            .then_expect_events(failures(1));
    }

    #[test]
    fn a_queued_failure_adds_nothing_during_a_lock() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(vec![]);
    }

    #[test]
    fn login_fails_after_five_wrong_passwords_with_a_timed_lock() {
        let mut given = registered("x$pw");
        given.extend(failures(4));
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(vec![
                AccountEvent::LoginFailed {
                    via: LoginVia::Phone,
                    consecutive_failures: 5,
                },
                AccountEvent::AccountLocked {
                    until: NOW.plus_seconds(15 * 60),
                    lock_count: 1,
                },
            ]);
    }

    #[test]
    fn a_locked_account_refuses_even_the_right_password() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("pw"))
            .then_expect_error(AccountError::Locked {
                until: NOW.plus_seconds(60),
            });
    }

    #[test]
    fn a_wrong_password_during_a_lock_is_not_told_of_the_lock_and_adds_nothing() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("wrong"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_reset_lifts_an_active_lock_with_an_event() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        let reset = AccountCommand::ResetPassword {
            password_hash: "x$new".into(),
            reason: "sms".into(),
            generation: None,
        };
        framework()
            .given(given)
            .when(reset.clone())
            .then_expect_events(vec![
                AccountEvent::PasswordReset {
                    password_hash: "x$new".into(),
                    reason: "sms".into(),
                },
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::PasswordReset,
                },
            ]);
        framework()
            .given(registered("x$pw"))
            .when(reset)
            .then_expect_events(vec![AccountEvent::PasswordReset {
                password_hash: "x$new".into(),
                reason: "sms".into(),
            }]);
    }

    #[test]
    fn an_expired_lock_is_lifted_at_the_next_attempt() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(-1),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("pw"))
            .then_expect_events(vec![
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::Expired,
                },
                AccountEvent::LoginSucceeded {
                    via: LoginVia::Phone,
                },
            ]);
    }

    #[test]
    fn repeated_locks_grow_but_stay_bounded() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(-1),
            lock_count: 1,
        });
        given.push(AccountEvent::AccountUnlocked {
            reason: UnlockReason::Expired,
        });
        given.extend(failures(4));
        let result = framework()
            .given(given)
            .when(wrong_password())
            .inspect_result()
            .unwrap();
        assert_eq!(
            result.last(),
            Some(&AccountEvent::AccountLocked {
                until: NOW.plus_seconds(30 * 60),
                lock_count: 2,
            })
        );
        let policy = LockoutPolicy::default();
        assert_eq!(policy.lock_seconds(100), policy.max_lock_seconds);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut given = registered("x$pw");
        given.extend(failures(4));
        given.push(AccountEvent::LoginSucceeded {
            via: LoginVia::Email,
        });
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(failures(1));
    }

    #[test]
    fn an_overloaded_hasher_records_nothing() {
        TestFramework::<Account>::with(AccountServices {
            clock: Arc::new(FixedClock(NOW)),
            hasher: Arc::new(SaturatedHasher),
            lockout: LockoutPolicy::default(),
            email_verification_ttl_seconds: EMAIL_VERIFICATION_TTL_SECONDS,
        })
        .given(registered("x$pw"))
        .when(login("pw"))
        .then_expect_error(AccountError::HasherUnavailable);
    }

    #[test]
    fn email_verification_needs_the_current_address() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::VerifyEmail {
                email: Email::parse("other@example.com").unwrap(),
            })
            .then_expect_error(AccountError::EmailMismatch);
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::VerifyEmail {
                email: Email::parse("zhangsan@example.com").unwrap(),
            })
            .then_expect_events(vec![AccountEvent::EmailVerified {
                email: "zhangsan@example.com".into(),
            }]);
        let mut verified = registered("x$pw");
        verified.push(AccountEvent::EmailVerified {
            email: "zhangsan@example.com".into(),
        });
        framework()
            .given(verified)
            .when(AccountCommand::RequestEmailVerification)
            .then_expect_error(AccountError::EmailAlreadyVerified);
    }
}
