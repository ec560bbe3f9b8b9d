//! SMS verification codes: 6 digits from the OS CSPRNG, stored as a keyed hash bound to phone
//! and purpose, single use, with a lifetime per purpose (registration: 24 hours, as seed 000
//! says; password recovery and a change of phone: 10 minutes). Sending is limited per phone and per client IP; wrong guesses are limited per code.

use crate::config::RateLimits;
use crate::gateways::SmsGateway;
use crate::ratelimit::{Exceeded, RateLimiter};
use crate::security::{new_numeric_code, DigestKey};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::values::{Phone, Secret};
use xuexin_domain::{Clock, Timestamp};
use xuexin_projections::{db_execute, on_db, Db};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    Register,
    /// 找回密码: sent to the account's bound phone.
    Recover,
    /// 更换手机号: sent to the new phone.
    ChangePhone,
}

/// Recovery and change-of-phone codes live ten minutes.
pub const SHORT_CODE_TTL: Duration = Duration::from_secs(600);

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Recover => "recover",
            Self::ChangePhone => "change_phone",
        }
    }

    /// The purposes anyone may ask a code for by phone number (`POST /api/v1/sms-codes`);
    /// the others are sent by the flows they belong to.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "register" => Some(Self::Register),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Too many sends for this phone or this client.
    #[error("too many codes sent")]
    RateLimited(Exceeded),
    /// No live code matches (wrong, expired, used, or never sent).
    #[error("no live code matches ({attempts_left} attempts left)")]
    Invalid { attempts_left: i64 },
    /// Too many wrong guesses; the codes were retired.
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error("the SMS gateway failed: {0:#}")]
    Gateway(anyhow::Error),
    #[error("the code store failed: {0:#}")]
    Store(anyhow::Error),
}

impl From<anyhow::Error> for CodeError {
    fn from(value: anyhow::Error) -> Self {
        Self::Store(value)
    }
}

/// A code that matched and may now be consumed.
#[derive(Debug)]
pub struct CodeTicket {
    id: String,
}

pub struct SentCode {
    pub expires_at: Timestamp,
    /// How long until this phone may be sent another code (the per-phone interval).
    pub resend_after: Duration,
}

#[derive(Clone)]
pub struct SmsCodes {
    db: Db,
    key: DigestKey,
    clock: Arc<dyn Clock>,
    gateway: Arc<dyn SmsGateway>,
    limiter: RateLimiter,
    limits: RateLimits,
    registration_ttl: Duration,
}

impl SmsCodes {
    pub fn new(
        db: Db,
        key: DigestKey,
        clock: Arc<dyn Clock>,
        gateway: Arc<dyn SmsGateway>,
        limiter: RateLimiter,
        limits: RateLimits,
        registration_ttl: Duration,
    ) -> Self {
        Self {
            db,
            key,
            clock,
            gateway,
            limiter,
            limits,
            registration_ttl,
        }
    }

    fn ttl(&self, purpose: CodePurpose) -> Duration {
        match purpose {
            CodePurpose::Register => self.registration_ttl,
            CodePurpose::Recover | CodePurpose::ChangePhone => SHORT_CODE_TTL,
        }
    }

    fn code_hash(&self, phone: &Phone, purpose: CodePurpose, code: &str) -> String {
        self.key.digest(
            "sms-code",
            format!("{}|{}|{code}", phone.as_str(), purpose.as_str()).as_bytes(),
        )
    }

    /// The text of the code's SMS, in the language of the request that asked for it.
    fn message(&self, purpose: CodePurpose, code: &str) -> String {
        let key = match purpose {
            CodePurpose::Register => "sms.code.register",
            CodePurpose::Recover => "sms.code.recover",
            CodePurpose::ChangePhone => "sms.code.change_phone",
        };
        crate::messages::format(key, &[("code", code)])
    }

    /// Sends a new code unless the phone or the client has had too many.
    #[tracing::instrument(skip(self, client_ip), fields(phone = %phone.masked()))]
    pub async fn send(
        &self,
        phone: &Phone,
        purpose: CodePurpose,
        client_ip: Option<&str>,
    ) -> Result<SentCode, CodeError> {
        let phone_key = format!("sms:{}:{}", phone.as_str(), purpose.as_str());
        let checks = [
            (phone_key.clone(), self.limits.sms_per_phone_interval),
            (
                format!("{phone_key}:daily"),
                self.limits.sms_per_phone_daily,
            ),
        ];
        for (bucket, limit) in checks {
            self.limiter
                .hit(&bucket, limit)
                .await?
                .map_err(CodeError::RateLimited)?;
        }
        if let Some(ip) = client_ip {
            self.limiter
                .hit(&format!("sms-ip:{ip}"), self.limits.sms_per_ip)
                .await?
                .map_err(CodeError::RateLimited)?;
        }

        let code = new_numeric_code();
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let expires_at = now.plus_millis(self.ttl(purpose).as_millis() as i64);
        db_execute!(
            &self.db,
            "INSERT INTO sms_codes (id, phone, purpose, code_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &id,
            phone.as_str(),
            purpose.as_str(),
            self.code_hash(phone, purpose, &code),
            now.millis(),
            expires_at.millis(),
        )
        .context("failed to store an SMS code")?;
        if let Err(error) = self
            .gateway
            .send(phone, &self.message(purpose, &code))
            .await
        {
            // An undelivered code must not count as sent.
            let _ = db_execute!(&self.db, "DELETE FROM sms_codes WHERE id = $1", &id);
            return Err(CodeError::Gateway(error));
        }
        let interval = self.limits.sms_per_phone_interval;
        Ok(SentCode {
            expires_at,
            // Only a limit of one a window makes the next send wait a whole window.
            resend_after: if interval.max <= 1 {
                interval.window
            } else {
                Duration::ZERO
            },
        })
    }

    /// Whether `code` is a live code for this phone and purpose. A wrong guess counts against
    /// every live code; after the limit they are all retired.
    #[tracing::instrument(skip(self, code), fields(phone = %phone.masked()))]
    pub async fn check(
        &self,
        phone: &Phone,
        purpose: CodePurpose,
        code: &Secret,
    ) -> Result<CodeTicket, CodeError> {
        let now = self.clock.now().millis();
        let max = self.limits.sms_code_attempts;
        let wanted = self.code_hash(phone, purpose, code.expose().trim());
        // Every guess takes one attempt from every live code of this phone and purpose in the
        // statement that decides whether it may be tried at all, so a burst of parallel guesses
        // is tried no more often than a sequence would be.
        let counted: Vec<(String, String, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "UPDATE sms_codes SET attempts = attempts + 1
                 WHERE phone = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3
                   AND attempts < $4
                 RETURNING id, code_hash, attempts",
            )
            .bind(phone.as_str())
            .bind(purpose.as_str())
            .bind(now)
            .bind(max)
            .fetch_all(pool)
            .await
            .context("failed to count an SMS code guess")?
        });
        if let Some((id, _, _)) = counted.iter().find(|(_, hash, _)| *hash == wanted) {
            // A right code costs nothing (ADR 0008: checking does not use it up).
            for (taken, _, _) in &counted {
                db_execute!(
                    &self.db,
                    "UPDATE sms_codes SET attempts = attempts - 1 WHERE id = $1 AND attempts > 0",
                    taken,
                )
                .context("failed to give back an SMS code guess")?;
            }
            return Ok(CodeTicket { id: id.clone() });
        }
        let Some(fewest) = counted.iter().map(|(_, _, attempts)| *attempts).min() else {
            return Err(CodeError::Invalid { attempts_left: 0 });
        };
        if fewest >= max {
            return Err(CodeError::TooManyAttempts);
        }
        Err(CodeError::Invalid {
            attempts_left: max - fewest,
        })
    }

    /// Retires every live code of this phone and purpose (after a password reset).
    pub async fn retire(&self, phone: &str, purpose: CodePurpose) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sms_codes SET consumed_at = $3
             WHERE phone = $1 AND purpose = $2 AND consumed_at IS NULL",
            phone,
            purpose.as_str(),
            self.clock.now().millis(),
        )
        .context("failed to retire SMS codes")?;
        Ok(())
    }

    /// Charges one attempt to a code that was right but whose request was refused for what
    /// it revealed (a registration conflict): one code cannot probe more than the attempts a
    /// wrong guess would have.
    pub async fn charge(&self, ticket: &CodeTicket) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1",
            &ticket.id,
        )
        .context("failed to charge an SMS code attempt")?;
        Ok(())
    }

    /// Uses the code up. Fails if a concurrent request used it first.
    pub async fn consume(&self, ticket: CodeTicket) -> Result<(), CodeError> {
        let updated = db_execute!(
            &self.db,
            "UPDATE sms_codes SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
            &ticket.id,
            self.clock.now().millis(),
        )
        .context("failed to consume an SMS code")?;
        if updated == 1 {
            Ok(())
        } else {
            Err(CodeError::Invalid { attempts_left: 0 })
        }
    }
}
