use super::events::{RegistrationDetails, StaffProfile};
use crate::ids::{AccountId, LoginVia};
use crate::values::{Email, Language, Secret};

#[derive(Clone, Debug)]
pub enum AccountCommand {
    /// `language`: the one the person registered in (recorded when it is not zh-CN).
    StartRegistration {
        details: Box<RegistrationDetails>,
        language: Language,
    },
    /// The language the account is written to in from now on.
    ChooseLanguage {
        language: Language,
    },
    CreateStaffAccount {
        profile: StaffProfile,
        password_hash: String,
    },
    /// A staff member confirmed a TOTP enrolment with a code of `step` (checked by the
    /// application against the secret `nonce` names).
    EnrolSecondFactor {
        nonce: String,
        recovery_codes: Vec<String>,
        step: u64,
    },
    /// A TOTP code of `step` was right; accepted only if later than the last one.
    PassSecondFactor {
        step: u64,
    },
    /// A recovery code (its keyed digest) instead of a TOTP code; each works once.
    UseRecoveryCode {
        digest: String,
    },
    /// An administrator (or the operator's CLI) removed the factor: the next login enrols.
    ResetSecondFactor,
    DisableStaffAccount {
        reason: String,
    },
    /// Ends the saga; `pending_identity_review` when the identity was only claimed.
    CompleteRegistration {
        pending_identity_review: bool,
    },
    AbandonRegistration {
        reason: String,
    },
    /// A new verification link for the current, unverified address.
    RequestEmailVerification,
    VerifyEmail {
        email: Email,
    },
    /// Checks the password (through the hasher service). A success is recorded at once; a
    /// wrong password records nothing here: the service queues it and records it with
    /// `RecordLoginFailure` after answering, so a wrong password for a known name costs what
    /// an unknown name costs (issue 13).
    Login {
        password: Secret,
        via: LoginVia,
    },
    /// A wrong password, queued by the service at login: counts toward the lock.
    RecordLoginFailure {
        via: LoginVia,
    },
    /// The pending account's duplicate-ID claim was approved.
    VerifyIdentity {
        method: String,
    },
    /// The identity moved to `new_account`: this one is deactivated.
    DeactivateAsOldAccount {
        new_account: AccountId,
    },
    /// The phone was taken over by another registration.
    UnbindPhone {
        phone: String,
        reason: String,
    },
    /// Someone other than the holder sets the password (conscription office, recovery).
    ResetPassword {
        password_hash: String,
        reason: String,
        /// A recovery token's credential generation: refused if a reset or change came since.
        generation: Option<u32>,
    },
    /// The holder's changes below come after the service has checked the current password.
    ChangePassword {
        password_hash: String,
    },
    ChangePhone {
        new: String,
    },
    ChangeEmail {
        new: String,
    },
    /// Passport and other documents: at once. Resident ID: only through review.
    ChangeName {
        new: String,
    },
    RequestNameChange {
        new_name: String,
        reason: String,
    },
    ApproveNameChange,
    RejectNameChange {
        reason: String,
    },
    SetSecurityQuestions {
        questions: Vec<super::events::StoredSecurityQuestion>,
    },
    RequestPasswordResetByEmail,
    /// Recovery: all three normalized answers must match (through the hasher service).
    CheckSecurityAnswers {
        answers: Vec<Secret>,
    },
    LinkExternalLogin {
        provider: String,
        subject: String,
    },
    UnlinkExternalLogin {
        provider: String,
    },
    /// A login through a linked WeChat or Alipay account (no password).
    ExternalLogin {
        provider: String,
        subject: String,
    },
    /// The holder consented on the consent page.
    GrantPlatformAccess {
        client_id: String,
        platform: String,
        scopes: Vec<String>,
    },
    /// The holder withdrew a platform's access (账号管理).
    RevokePlatformAccess {
        client_id: String,
    },
    /// A partner platform is to be given a sign-in for this account: refused with
    /// `ConsentNeeded` unless the holder's consent covers the scopes or `consented` (the
    /// holder consented on this very request's consent page).
    SignInToPlatform {
        client_id: String,
        platform: String,
        scopes: Vec<String>,
        consented: bool,
    },
}
