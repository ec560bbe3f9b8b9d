//! The Account aggregate: profile, credentials, e-mail verification, status and lockout.
//! It is also the state of the registration saga (DESIGN: "run it as a saga whose state is
//! the new Account").

mod commands;
mod contact;
mod credentials;
mod error;
mod events;
mod external;
mod factor;
mod platforms;
mod profile;
mod recovery;
mod registration;
mod staff;
#[cfg(test)]
mod testing;

pub use commands::AccountCommand;
pub use error::AccountError;
pub use events::{
    AccountEvent, AccountStatus, IdentityClaimMode, PhoneClaimMode, RegistrationChannel,
    RegistrationDetails, StaffProfile, StoredSecurityQuestion, UnlockReason,
};
pub use factor::SecondFactor;

use crate::hashing::SecretHasher;
use crate::time::{Clock, Timestamp};
use crate::values::{DocumentSummary, Language};
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
    #[serde(default)]
    language: Language,
    /// A staff member's TOTP second factor, once enrolled.
    #[serde(default)]
    factor: Option<SecondFactor>,
    #[serde(default)]
    staff_disabled: bool,
    /// client_id → (platform name, the scopes the holder consented to).
    #[serde(default)]
    platform_grants: std::collections::BTreeMap<String, (String, Vec<String>)>,
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

    fn require_usable(&self) -> Result<AccountStatus, AccountError> {
        let status = self.require_status()?;
        if status.can_log_in() {
            Ok(status)
        } else {
            Err(AccountError::CannotLogIn)
        }
    }

    fn require_status(&self) -> Result<AccountStatus, AccountError> {
        self.status.ok_or(AccountError::NotFound)
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
            AccountCommand::StartRegistration { details, language } => {
                self.start_registration(details, language, sink).await
            }
            AccountCommand::ChooseLanguage { language } => {
                self.choose_language(language, sink).await
            }
            AccountCommand::CreateStaffAccount {
                profile,
                password_hash,
            } => {
                self.create_staff_account(profile, password_hash, sink)
                    .await
            }
            AccountCommand::EnrolSecondFactor {
                nonce,
                recovery_codes,
                step,
            } => {
                self.enrol_second_factor(nonce, recovery_codes, step, sink)
                    .await
            }
            AccountCommand::PassSecondFactor { step } => self.pass_second_factor(step, sink).await,
            AccountCommand::UseRecoveryCode { digest } => {
                self.use_recovery_code(digest, sink).await
            }
            AccountCommand::ResetSecondFactor => self.reset_second_factor(sink).await,
            AccountCommand::DisableStaffAccount { reason } => {
                self.disable_staff_account(reason, sink).await
            }
            AccountCommand::CompleteRegistration {
                pending_identity_review,
            } => {
                self.complete_registration(pending_identity_review, services, sink)
                    .await
            }
            AccountCommand::AbandonRegistration { reason } => {
                self.abandon_registration(reason, sink).await
            }
            AccountCommand::RequestEmailVerification => {
                self.request_email_verification(services, sink).await
            }
            AccountCommand::VerifyEmail { email } => self.verify_email(email, sink).await,
            AccountCommand::RecordLoginFailure { via } => {
                self.record_login_failure(via, services, sink).await
            }
            AccountCommand::Login { password, via } => {
                self.login(password, via, services, sink).await
            }
            AccountCommand::VerifyIdentity { method } => self.verify_identity(method, sink).await,
            AccountCommand::DeactivateAsOldAccount { new_account } => {
                self.deactivate_as_old_account(new_account, sink).await
            }
            AccountCommand::UnbindPhone { phone, reason } => {
                self.unbind_phone(phone, reason, sink).await
            }
            AccountCommand::ChangePassword { password_hash } => {
                self.change_password(password_hash, sink).await
            }
            AccountCommand::ChangePhone { new } => self.change_phone(new, sink).await,
            AccountCommand::ChangeEmail { new } => self.change_email(new, services, sink).await,
            AccountCommand::ChangeName { new } => self.change_name(new, sink).await,
            AccountCommand::RequestNameChange { new_name, reason } => {
                self.request_name_change(new_name, reason, sink).await
            }
            AccountCommand::ApproveNameChange => self.approve_name_change(sink).await,
            AccountCommand::RejectNameChange { reason } => {
                self.reject_name_change(reason, sink).await
            }
            AccountCommand::SetSecurityQuestions { questions } => {
                self.set_security_questions(questions, sink).await
            }
            AccountCommand::RequestPasswordResetByEmail => {
                self.request_password_reset_by_email(sink).await
            }
            AccountCommand::CheckSecurityAnswers { answers } => {
                self.check_security_answers(answers, services, sink).await
            }
            AccountCommand::LinkExternalLogin { provider, subject } => {
                self.link_external_login(provider, subject, sink).await
            }
            AccountCommand::UnlinkExternalLogin { provider } => {
                self.unlink_external_login(provider, sink).await
            }
            AccountCommand::ExternalLogin { provider, subject } => {
                self.external_login(provider, subject, services, sink).await
            }
            AccountCommand::GrantPlatformAccess {
                client_id,
                platform,
                scopes,
            } => {
                self.grant_platform_access(client_id, platform, scopes, sink)
                    .await
            }
            AccountCommand::RevokePlatformAccess { client_id } => {
                self.revoke_platform_access(client_id, sink).await
            }
            AccountCommand::SignInToPlatform {
                client_id,
                platform,
                scopes,
                consented,
            } => {
                self.sign_in_to_platform(client_id, platform, scopes, consented, sink)
                    .await
            }
            AccountCommand::ResetPassword {
                password_hash,
                reason,
                generation,
            } => {
                self.reset_password(password_hash, reason, generation, services, sink)
                    .await
            }
        }
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
                // A deactivated account's grants end with it (issue 17).
                self.platform_grants.clear();
            }
            AccountEvent::PlatformAccessGranted {
                client_id,
                platform,
                scopes,
            } => {
                self.platform_grants.insert(client_id, (platform, scopes));
            }
            AccountEvent::PlatformAccessRevoked { client_id, .. } => {
                self.platform_grants.remove(&client_id);
            }
            AccountEvent::SignedInToPlatform { .. } => {}
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
            AccountEvent::LanguageChosen { language } => self.language = language,
            AccountEvent::SecondFactorEnrolled { .. }
            | AccountEvent::SecondFactorPassed { .. }
            | AccountEvent::RecoveryCodeUsed { .. }
            | AccountEvent::SecondFactorReset
            | AccountEvent::StaffAccountDisabled { .. } => self.apply_factor(&event),
        }
    }
}
