//! A staff member's second factor (issue 16): TOTP (RFC 6238, 30-second steps, 6 digits,
//! SHA-1 as authenticator apps expect), enrolled from a QR code at the first login, and ten
//! one-time recovery codes.
//!
//! No secret is stored anywhere. The TOTP secret is a keyed digest of the account id and the
//! enrolment's nonce under the service's key ([`DigestKey`]); the nonce is what the
//! `SecondFactorEnrolled` event keeps, so the event log alone does not give the secret. Until
//! the enrolment is confirmed, the nonce is derived from the session, so reloading the QR
//! page shows the same code. Recovery codes are kept as keyed digests.
//!
//! The aggregate decides what must be decided once (a time step is accepted only after the
//! last one; a recovery code only while unused), so two parallel requests with one code let
//! one session through. Wrong codes count per account: five in 15 minutes close the door for
//! the rest of the window.

use super::account::AccountManagement;
use super::login::Login;
use crate::config::Limit;
use crate::security::{random_bytes, DigestKey};
use crate::sessions::Session;
use crate::store::{CommandMetadata, ExecuteError};
use std::time::Duration;
use totp_rs::{Algorithm, TOTP};
use xuexin_domain::account::{Account, AccountCommand, AccountError};
use xuexin_domain::AccountId;

/// Seconds per TOTP time step.
pub const STEP_SECONDS: u64 = 30;
/// Codes of the step before and after the current one are accepted too (clock drift).
const SKEW: u64 = 1;
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes per account before the factor is closed for the rest of the window.
pub const FACTOR_ATTEMPTS: Limit = Limit {
    max: 5,
    window: Duration::from_secs(15 * 60),
};
/// The name authenticator apps show the entry under.
pub const ISSUER: &str = "xuexin";

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// The session is no staff session.
    #[error("not a staff session")]
    NotStaff,
    /// A factor is enrolled: the session must pass it, not enrol one.
    #[error("a second factor is already enrolled")]
    Enrolled,
    /// No factor is enrolled yet: the session must enrol one.
    #[error("no second factor is enrolled")]
    NotEnrolled,
    /// A wrong, used or expired code, or an unknown or used recovery code.
    #[error("the code is wrong, used or expired")]
    Invalid,
    #[error("too many wrong codes")]
    RateLimited { retry_after: Duration },
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl FactorError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotStaff => "forbidden",
            Self::Enrolled => "second_factor_enrolled",
            Self::NotEnrolled => "second_factor_not_enrolled",
            Self::Invalid => "second_factor_invalid",
            Self::RateLimited { .. } => "second_factor_rate_limited",
            Self::Busy => "overloaded",
            Self::Internal(_) => "internal_error",
        }
    }
}

fn refused(error: ExecuteError<AccountError>) -> FactorError {
    match error {
        ExecuteError::Domain(AccountError::SecondFactorEnrolled) => FactorError::Enrolled,
        ExecuteError::Domain(AccountError::SecondFactorNotEnrolled) => FactorError::NotEnrolled,
        ExecuteError::Domain(
            AccountError::SecondFactorCodeUsed | AccountError::RecoveryCodeInvalid,
        ) => FactorError::Invalid,
        ExecuteError::Domain(AccountError::NotStaff | AccountError::NotFound) => {
            FactorError::NotStaff
        }
        ExecuteError::Contention => FactorError::Busy,
        other => FactorError::Internal(anyhow::anyhow!("the second factor failed: {other}")),
    }
}

/// Where a staff session stands with its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorState {
    /// No factor yet: show the enrolment.
    Enrol(Enrolment),
    /// A factor is enrolled: ask for a code.
    Required,
    /// This session has passed it.
    Passed,
}

/// What an authenticator app needs: the secret (base32) and the `otpauth://` URI of the QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
}

/// The TOTP secret `nonce` names for `account` (20 bytes, as RFC 4226 recommends).
fn secret(key: &DigestKey, account: AccountId, nonce: &str) -> Vec<u8> {
    let digest = key.digest("staff-totp-secret", format!("{account}:{nonce}").as_bytes());
    hex::decode(&digest[..40]).unwrap_or_default()
}

fn totp(secret: Vec<u8>) -> Result<TOTP, FactorError> {
    TOTP::new(Algorithm::SHA1, 6, SKEW as u8, STEP_SECONDS, secret)
        .map_err(|e| FactorError::Internal(anyhow::anyhow!("a TOTP secret is unusable: {e:?}")))
}

/// The step (of now − 1 … now + 1) whose code `code` is, if any.
fn matching_step(totp: &TOTP, code: &str, now_seconds: u64) -> Option<u64> {
    let current = now_seconds / STEP_SECONDS;
    (current.saturating_sub(SKEW)..=current + SKEW).find(|step| {
        crate::security::constant_time_eq(
            totp.generate(step * STEP_SECONDS).as_bytes(),
            code.as_bytes(),
        )
    })
}

/// A recovery code as typed (spaces, dashes and case do not matter).
fn recovery_digest(key: &DigestKey, account: AccountId, code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    key.digest(
        "staff-recovery-code",
        format!("{account}:{normal}").as_bytes(),
    )
}

/// A new recovery code, `xxxxx-xxxxx` of lower-case hex (40 random bits).
fn new_recovery_code() -> String {
    let hex = hex::encode(random_bytes::<5>());
    format!("{}-{}", &hex[..5], &hex[5..])
}

/// The current TOTP code of a secret, for the operator's CLI and the tests.
pub fn code_at(secret_base32: &str, now_seconds: u64) -> Option<String> {
    let bytes = base32_decode(secret_base32)?;
    let totp = totp(bytes).ok()?;
    Some(totp.generate(now_seconds))
}

fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

impl Login {
    fn now_seconds(&self) -> u64 {
        (self.clock.now().millis() / 1000).max(0) as u64
    }

    /// The nonce an enrolment from this session uses (stable across reloads).
    fn enrolment_nonce(&self, session: &Session) -> String {
        self.digest
            .digest("staff-totp-enrolment", session.token_hash.as_bytes())[..32]
            .to_string()
    }

    fn enrolment(&self, session: &Session, username: &str) -> Enrolment {
        let secret = base32_encode(&secret(
            &self.digest,
            session.account_id,
            &self.enrolment_nonce(session),
        ));
        let label: String =
            form_urlencoded::byte_serialize(format!("{ISSUER}:{username}").as_bytes()).collect();
        Enrolment {
            uri: format!(
                "otpauth://totp/{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECONDS}"
            ),
            secret,
        }
    }

    async fn staff_account(&self, session: &Session) -> Result<Account, FactorError> {
        if session.staff.is_none() {
            return Err(FactorError::NotStaff);
        }
        let account = self
            .store
            .load::<Account>(&session.account_id.to_string())
            .await?
            .aggregate;
        if account.staff().is_none() {
            return Err(FactorError::NotStaff);
        }
        Ok(account)
    }

    /// Where the session stands: enrol (with the QR's secret), give a code, or done.
    #[tracing::instrument(skip_all)]
    pub async fn factor_state(&self, session: &Session) -> Result<FactorState, FactorError> {
        let account = self.staff_account(session).await?;
        if !session.factor_pending {
            return Ok(FactorState::Passed);
        }
        Ok(match (account.second_factor(), account.staff()) {
            (None, Some(profile)) => FactorState::Enrol(self.enrolment(session, &profile.username)),
            _ => FactorState::Required,
        })
    }

    /// Counts an attempt against the account's budget of wrong codes.
    async fn attempt(&self, account: AccountId) -> Result<String, FactorError> {
        let bucket = format!("second-factor:{account}");
        if let Err(exceeded) = self.limiter.hit(&bucket, FACTOR_ATTEMPTS).await? {
            return Err(FactorError::RateLimited {
                retry_after: exceeded.retry_after,
            });
        }
        Ok(bucket)
    }

    /// Confirms the enrolment with a code from the app; the session passes, and the recovery
    /// codes are returned (shown once).
    #[tracing::instrument(skip_all)]
    pub async fn enrol_factor(
        &self,
        session: &Session,
        code: &str,
        metadata: &CommandMetadata,
    ) -> Result<Vec<String>, FactorError> {
        let account = self.staff_account(session).await?;
        if account.second_factor().is_some() {
            return Err(FactorError::Enrolled);
        }
        let bucket = self.attempt(session.account_id).await?;
        let nonce = self.enrolment_nonce(session);
        let totp = totp(secret(&self.digest, session.account_id, &nonce))?;
        let step =
            matching_step(&totp, code.trim(), self.now_seconds()).ok_or(FactorError::Invalid)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let digests = codes
            .iter()
            .map(|code| recovery_digest(&self.digest, session.account_id, code))
            .collect();
        self.store
            .execute::<Account>(
                &session.account_id.to_string(),
                AccountCommand::EnrolSecondFactor {
                    nonce,
                    recovery_codes: digests,
                    step,
                },
                &self.account_services,
                metadata,
            )
            .await
            .map_err(refused)?;
        self.limiter.release(&bucket, FACTOR_ATTEMPTS).await?;
        self.sessions.pass_factor(&session.token_hash).await?;
        Ok(codes)
    }

    /// Passes the session with a TOTP code (6 digits) or a recovery code.
    #[tracing::instrument(skip_all)]
    pub async fn pass_factor(
        &self,
        session: &Session,
        code: &str,
        metadata: &CommandMetadata,
    ) -> Result<(), FactorError> {
        let account = self.staff_account(session).await?;
        let Some(factor) = account.second_factor() else {
            return Err(FactorError::NotEnrolled);
        };
        let bucket = self.attempt(session.account_id).await?;
        let code = code.trim();
        let command = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let totp = totp(secret(&self.digest, session.account_id, &factor.nonce))?;
            let step =
                matching_step(&totp, code, self.now_seconds()).ok_or(FactorError::Invalid)?;
            AccountCommand::PassSecondFactor { step }
        } else {
            AccountCommand::UseRecoveryCode {
                digest: recovery_digest(&self.digest, session.account_id, code),
            }
        };
        self.store
            .execute::<Account>(
                &session.account_id.to_string(),
                command,
                &self.account_services,
                metadata,
            )
            .await
            .map_err(refused)?;
        self.limiter.release(&bucket, FACTOR_ATTEMPTS).await?;
        self.sessions.pass_factor(&session.token_hash).await?;
        Ok(())
    }
}

impl AccountManagement {
    /// An administrator (or the operator's CLI) removes a staff member's factor: their
    /// sessions end, and the next login enrols a new one.
    #[tracing::instrument(skip_all)]
    pub async fn reset_factor(
        &self,
        account_id: AccountId,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, FactorError> {
        let committed = self
            .store
            .execute::<Account>(
                &account_id.to_string(),
                AccountCommand::ResetSecondFactor,
                &self.account_services,
                metadata,
            )
            .await
            .map_err(refused)?;
        self.sessions.revoke_all(account_id).await?;
        Ok(committed.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").as_deref(), Some(&b"foobar"[..]));
        let bytes: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&bytes)), Some(bytes));
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, 8 digits; we use the last 6.
        let totp = totp(b"12345678901234567890".to_vec()).expect("a valid secret");
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(totp.generate(1_111_111_109), "081804");
        assert_eq!(matching_step(&totp, "287082", 59 + 30), Some(1));
        assert_eq!(matching_step(&totp, "287082", 59 + 90), None);
    }

    #[test]
    fn recovery_codes_are_typed_loosely_and_differ() {
        let key = DigestKey::new(vec![7; 32]);
        let account = AccountId::new_random();
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_digest(&key, account, &code),
            recovery_digest(
                &key,
                account,
                &format!(" {} ", code.to_uppercase().replace('-', ""))
            )
        );
        assert_ne!(code, new_recovery_code());
    }
}
