use crate::hashing::HasherUnavailable;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("account already exists")]
    AlreadyExists,
    #[error("account does not exist")]
    NotFound,
    #[error("registration is not in progress")]
    NotRegistering,
    #[error("account cannot log in")]
    CannotLogIn,
    #[error("account is locked until {until}")]
    Locked { until: Timestamp },
    #[error("account has no e-mail address")]
    NoEmail,
    #[error("e-mail address is not the account's")]
    EmailMismatch,
    #[error("e-mail address is already verified")]
    EmailAlreadyVerified,
    #[error("password hashing is overloaded")]
    HasherUnavailable,
    #[error("a resident-ID holder's name changes only through review")]
    NameChangeNeedsReview,
    #[error("no name change is waiting for review")]
    NoNameChangePending,
    #[error("a name change is already waiting for review")]
    NameChangePending,
    #[error("no security questions are set")]
    NoSecurityQuestions,
    #[error("recovery by security questions is closed until {until}")]
    SecurityQuestionsClosed { until: Timestamp },
    #[error("that external login is already linked")]
    ExternalLoginAlreadyLinked,
    #[error("no such external login is linked")]
    ExternalLoginNotLinked,
    #[error("the recovery token was issued before the last password change")]
    StaleRecoveryToken,
    #[error("not a staff account")]
    NotStaff,
    #[error("a second factor is already enrolled")]
    SecondFactorEnrolled,
    #[error("no second factor is enrolled")]
    SecondFactorNotEnrolled,
    #[error("that code was already used")]
    SecondFactorCodeUsed,
    #[error("no such unused recovery code")]
    RecoveryCodeInvalid,
    #[error("the staff account is disabled")]
    StaffDisabled,
    #[error("the platform has no access to revoke")]
    NoPlatformAccess,
    #[error("the holder has not consented to these scopes for this platform")]
    ConsentNeeded,
}

impl From<HasherUnavailable> for AccountError {
    fn from(_: HasherUnavailable) -> Self {
        Self::HasherUnavailable
    }
}

impl AccountError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists => "account_exists",
            Self::NotFound => "account_not_found",
            Self::NotRegistering => "registration_not_in_progress",
            Self::CannotLogIn => "invalid_credentials",
            Self::Locked { .. } => "account_locked",
            Self::NoEmail => "email_missing",
            Self::EmailMismatch => "email_mismatch",
            Self::EmailAlreadyVerified => "email_already_verified",
            Self::HasherUnavailable => "overloaded",
            Self::NameChangeNeedsReview => "name_change_needs_review",
            Self::NoNameChangePending => "name_change_not_pending",
            Self::NameChangePending => "name_change_pending",
            Self::NoSecurityQuestions => "security_questions_not_set",
            Self::SecurityQuestionsClosed { .. } => "security_questions_closed",
            Self::ExternalLoginAlreadyLinked => "external_login_linked",
            Self::ExternalLoginNotLinked => "external_login_not_linked",
            Self::StaleRecoveryToken => "recovery_token_invalid",
            Self::NotStaff => "not_staff",
            Self::SecondFactorEnrolled => "second_factor_enrolled",
            Self::SecondFactorNotEnrolled => "second_factor_not_enrolled",
            Self::SecondFactorCodeUsed => "second_factor_invalid",
            Self::RecoveryCodeInvalid => "second_factor_invalid",
            Self::StaffDisabled => "staff_disabled",
            Self::NoPlatformAccess => "platform.no_access",
            Self::ConsentNeeded => "sso.consent_required",
        }
    }
}
