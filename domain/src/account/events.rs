//! Account events. Past tense, and carrying the facts readers need (DESIGN: events carry the
//! facts so projections never recompute business rules). Names, phones and e-mails are plain
//! strings here, not value types: an event written under old rules must always load.

use crate::ids::{AccountId, LoginVia};
use crate::roles::StaffRole;
use crate::time::Timestamp;
use crate::values::{DocumentSummary, Language};
use cqrs_es::DomainEvent;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AccountStatus {
    /// The registration saga has started but not finished; the account cannot be used.
    Registering,
    PendingIdentityReview,
    Active,
    Deactivated,
    /// The registration saga gave up (a claim was taken) and released everything it held.
    Abandoned,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registering => "Registering",
            Self::PendingIdentityReview => "PendingIdentityReview",
            Self::Active => "Active",
            Self::Deactivated => "Deactivated",
            Self::Abandoned => "Abandoned",
        }
    }

    pub fn can_log_in(self) -> bool {
        matches!(self, Self::Active | Self::PendingIdentityReview)
    }
}

/// A security question with the argon2id PHC string of its normalized answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StoredSecurityQuestion {
    pub question: String,
    pub answer_hash: String,
}

/// Who created the account: the person, or a conscription office on their behalf (seed 001).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegistrationChannel {
    SelfService,
    ConscriptionOffice { office: String },
}

/// How the registration takes its identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityClaimMode {
    #[default]
    Bind,
    /// 我要重新注册: claim the identity from the account that holds it.
    ReRegister,
}

/// How the registration takes its phone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneClaimMode {
    #[default]
    Claim,
    /// 继续注册: take the phone over from the account that holds it.
    TakeOver,
}

/// Everything a registration claims and records; the registration saga's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegistrationDetails {
    pub name: String,
    /// E.164.
    pub phone: Option<String>,
    pub document: DocumentSummary,
    pub email: Option<String>,
    pub password_hash: String,
    pub security_questions: Vec<StoredSecurityQuestion>,
    pub channel: RegistrationChannel,
    pub terms_accepted: bool,
    /// Since version 1.1; a 1.0 event is read (upcast) as `bind`.
    pub identity_claim: IdentityClaimMode,
    /// Since version 1.1; a 1.0 event is read (upcast) as `claim`.
    pub phone_claim: PhoneClaimMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnlockReason {
    /// The lock's time ran out; recorded at the next login attempt.
    Expired,
    /// The password was reset (recovery or a conscription office): the lock is lifted.
    PasswordReset,
}

/// What makes an account a staff account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StaffProfile {
    pub username: String,
    pub display_name: String,
    pub role: StaffRole,
    /// School code, province or office, for the roles that have one.
    pub scope: Option<String>,
    /// A conscription office's telephone, which the refusal of a registration it protects
    /// names (seed 001: 请联系(县人民政府征兵办公室,电话)协助修改密码). Absent in events
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum AccountEvent {
    RegistrationStarted(RegistrationDetails),
    /// An administrator created a staff account (never self-registration).
    StaffAccountCreated {
        profile: StaffProfile,
        password_hash: String,
    },
    Registered {
        status: AccountStatus,
    },
    RegistrationAbandoned {
        /// The stable code of the refusal (`phone_taken`, `id_number_taken`, `email_taken`).
        reason: String,
    },
    EmailVerificationRequested {
        email: String,
        expires_at: Timestamp,
    },
    EmailVerified {
        email: String,
    },
    LoginSucceeded {
        via: LoginVia,
    },
    LoginFailed {
        via: LoginVia,
        consecutive_failures: u32,
    },
    AccountLocked {
        until: Timestamp,
        /// How many locks in a row (since the last successful login) including this one.
        lock_count: u32,
    },
    AccountUnlocked {
        reason: UnlockReason,
    },
    PasswordRehashed {
        password_hash: String,
    },
    /// A pending account's duplicate-ID claim was approved.
    IdentityVerified {
        method: String,
    },
    /// The identity moved to a new account: this one can no longer be used (seed 002: 旧账号
    /// 将不能用于征兵、研招报名). Its login names are released.
    OldAccountDeactivated {
        new_account: AccountId,
    },
    /// Another registration took the phone over (继续注册): it is no longer this account's.
    PhoneUnbound {
        phone: String,
        reason: String,
    },
    /// The password was set by someone other than the holder (a conscription office, or
    /// recovery); the lockout is lifted.
    PasswordReset {
        password_hash: String,
        reason: String,
    },
    /// The holder changed the password (with the current one).
    PasswordChanged {
        password_hash: String,
    },
    PhoneChanged {
        old: Option<String>,
        new: String,
    },
    /// A new security e-mail, unverified until its link is followed.
    EmailChanged {
        old: Option<String>,
        new: String,
    },
    NameChanged {
        old: String,
        new: String,
        /// `direct` (passport / other documents) or `review` (resident ID, approved).
        via: String,
    },
    /// A resident-ID holder asks for a new name; a reviewer decides.
    NameChangeRequested {
        new_name: String,
        reason: String,
    },
    NameChangeRejected {
        reason: String,
    },
    SecurityQuestionsSet {
        questions: Vec<StoredSecurityQuestion>,
    },
    /// Someone asked to reset the password by a link to the security e-mail.
    PasswordResetRequested {
        channel: String,
        /// The credential generation the link is good for; a later reset or change kills it.
        generation: u32,
    },
    /// All three security answers matched (recovery). The holder is notified.
    SecurityAnswersAccepted,
    /// Not all three matched. After three failures in a row the path closes for a day.
    SecurityAnswersFailed {
        failures: u32,
        closed_until: Option<Timestamp>,
    },
    ExternalLoginLinked {
        /// `wechat` or `alipay`.
        provider: String,
        subject: String,
    },
    /// The language the account is written to in (mails, SMS notices, pages). An account
    /// without this event is written to in zh-CN.
    LanguageChosen {
        language: Language,
    },
    ExternalLoginUnlinked {
        provider: String,
        subject: String,
    },
    /// A staff member enrolled a TOTP second factor. The secret is never stored: with the
    /// service's key the nonce derives it. The recovery codes are keyed digests.
    SecondFactorEnrolled {
        nonce: String,
        recovery_codes: Vec<String>,
        /// The time step of the code that confirmed the enrolment (it cannot be used again).
        step: u64,
    },
    /// A staff login passed its second factor with the TOTP code of this time step.
    SecondFactorPassed {
        step: u64,
    },
    /// A staff login passed its second factor with a recovery code (it is used up).
    RecoveryCodeUsed {
        index: u32,
        remaining: u32,
    },
    /// The factor was removed (an administrator, or the operator's CLI): the next login
    /// enrols a new one.
    SecondFactorReset,
    /// An administrator disabled the staff account: it can no longer log in.
    StaffAccountDisabled {
        reason: String,
    },
    /// The holder allowed a partner platform to see what these scopes name (the consent
    /// page). A later grant to the same platform widens the scopes.
    PlatformAccessGranted {
        client_id: String,
        /// The platform's name when the holder consented (for 账号日志).
        platform: String,
        scopes: Vec<String>,
    },
    /// The grant ended: `holder` (账号管理), or `deactivated` (the account can no longer be
    /// used). The platform's tokens die with it.
    PlatformAccessRevoked {
        client_id: String,
        platform: String,
        reason: String,
    },
    /// The holder signed in to a partner platform (an authorization code was issued).
    SignedInToPlatform {
        client_id: String,
        platform: String,
        scopes: Vec<String>,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RegistrationStarted(_) => "RegistrationStarted",
            Self::StaffAccountCreated { .. } => "StaffAccountCreated",
            Self::Registered { .. } => "Registered",
            Self::RegistrationAbandoned { .. } => "RegistrationAbandoned",
            Self::EmailVerificationRequested { .. } => "EmailVerificationRequested",
            Self::EmailVerified { .. } => "EmailVerified",
            Self::LoginSucceeded { .. } => "LoginSucceeded",
            Self::LoginFailed { .. } => "LoginFailed",
            Self::AccountLocked { .. } => "AccountLocked",
            Self::AccountUnlocked { .. } => "AccountUnlocked",
            Self::PasswordRehashed { .. } => "PasswordRehashed",
            Self::IdentityVerified { .. } => "IdentityVerified",
            Self::OldAccountDeactivated { .. } => "OldAccountDeactivated",
            Self::PhoneUnbound { .. } => "PhoneUnbound",
            Self::PasswordReset { .. } => "PasswordReset",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::PhoneChanged { .. } => "PhoneChanged",
            Self::EmailChanged { .. } => "EmailChanged",
            Self::NameChanged { .. } => "NameChanged",
            Self::NameChangeRequested { .. } => "NameChangeRequested",
            Self::NameChangeRejected { .. } => "NameChangeRejected",
            Self::SecurityQuestionsSet { .. } => "SecurityQuestionsSet",
            Self::PasswordResetRequested { .. } => "PasswordResetRequested",
            Self::SecurityAnswersAccepted => "SecurityAnswersAccepted",
            Self::SecurityAnswersFailed { .. } => "SecurityAnswersFailed",
            Self::ExternalLoginLinked { .. } => "ExternalLoginLinked",
            Self::ExternalLoginUnlinked { .. } => "ExternalLoginUnlinked",
            Self::LanguageChosen { .. } => "LanguageChosen",
            Self::SecondFactorEnrolled { .. } => "SecondFactorEnrolled",
            Self::SecondFactorPassed { .. } => "SecondFactorPassed",
            Self::RecoveryCodeUsed { .. } => "RecoveryCodeUsed",
            Self::SecondFactorReset => "SecondFactorReset",
            Self::StaffAccountDisabled { .. } => "StaffAccountDisabled",
            Self::PlatformAccessGranted { .. } => "PlatformAccessGranted",
            Self::PlatformAccessRevoked { .. } => "PlatformAccessRevoked",
            Self::SignedInToPlatform { .. } => "SignedInToPlatform",
        }
        .to_string()
    }

    /// Bumped with an upcaster from the previous version (`crate::upcast`) whenever an
    /// event's stored shape changes.
    fn event_version(&self) -> String {
        match self {
            Self::RegistrationStarted(_) => "1.1",
            _ => "1.0",
        }
        .to_string()
    }
}
