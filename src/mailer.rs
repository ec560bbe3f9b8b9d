//! E-mail verification mail, crash-safe end to end:
//! 1. `Registered` / a resend commits `EmailVerificationRequested` with the account's events;
//! 2. the mail queue (a process manager on the log) turns it into a `mail_outbox` row in the
//!    same transaction as its checkpoint — exactly once per event;
//! 3. delivery claims due rows, mints the single-use link token (only its hash is stored),
//!    sends, and retries with back-off until it is sent or the link would have expired.

use crate::gateways::{MailSender, OutgoingMail};
use crate::security::{new_token, token_hash};
use crate::shutdown::Shutdown;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::account::AccountEvent;
use xuexin_domain::{Clock, Timestamp};
use xuexin_projections::{
    db_execute, on_db, tx_execute, Db, DomainEventKind, Projection, ProjectionError, StoredEvent,
    Tx,
};

pub const QUEUE_NAME: &str = "mail_queue_v1";
pub const VERIFY_EMAIL: &str = "email_verification";
/// How long a claimed row is reserved for the node that claimed it.
const CLAIM_MILLIS: i64 = 60_000;

pub struct MailQueue {
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl Projection for MailQueue {
    fn name(&self) -> &'static str {
        QUEUE_NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    /// Replaying it would send every mail again.
    fn rebuildable(&self) -> bool {
        false
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Account" || event.event_type != "EmailVerificationRequested" {
            return Ok(());
        }
        let decoded = event.decode().map_err(|source| ProjectionError::Decode {
            position: event.position,
            event_type: event.event_type.clone(),
            source,
        })?;
        let DomainEventKind::Account(AccountEvent::EmailVerificationRequested {
            email,
            expires_at,
        }) = decoded
        else {
            return Ok(());
        };
        let now = self.clock.now();
        if expires_at <= now {
            // An old request met again (a reset checkpoint): its link would be dead on arrival.
            return Ok(());
        }
        tx_execute!(
            tx,
            "INSERT INTO mail_outbox (id, kind, account_id, recipient, expires_at, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (id) DO NOTHING",
            format!("{}:{}", event.aggregate_id, event.sequence),
            VERIFY_EMAIL,
            &event.aggregate_id,
            &email,
            expires_at.millis(),
            now.millis(),
        )?;
        Ok(())
    }
}

pub struct MailDelivery {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub sender: Arc<dyn MailSender>,
    pub public_url: String,
    pub wake: Arc<Notify>,
}

type DueRow = (String, String, String, String, i64, i64, i64);

impl MailDelivery {
    /// Delivers what is due now; returns how many were sent.
    #[tracing::instrument(skip(self))]
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let now = self.clock.now().millis();
        let due: Vec<DueRow> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, kind, account_id, recipient, expires_at, attempts, next_attempt_at
                 FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT 20",
            )
            .bind(now)
            .fetch_all(pool)
            .await
            .context("failed to read the mail outbox")?
        });
        let mut sent = 0;
        for (id, kind, account_id, recipient, expires_at, attempts, next_attempt_at) in due {
            let claimed = db_execute!(
                &self.db,
                "UPDATE mail_outbox SET next_attempt_at = $3
                 WHERE id = $1 AND next_attempt_at = $2 AND status = 'pending'",
                &id,
                next_attempt_at,
                now + CLAIM_MILLIS,
            )?;
            if claimed != 1 {
                continue; // another node has it
            }
            if expires_at <= now {
                db_execute!(
                    &self.db,
                    "UPDATE mail_outbox SET status = 'expired' WHERE id = $1",
                    &id
                )?;
                continue;
            }
            let mail = self
                .prepare(&kind, &account_id, &recipient, expires_at)
                .await?;
            match self.sender.send(&mail).await {
                Ok(()) => {
                    db_execute!(
                        &self.db,
                        "UPDATE mail_outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1
                         WHERE id = $1",
                        &id,
                        self.clock.now().millis(),
                    )?;
                    sent += 1;
                }
                Err(error) => {
                    let retry_in = 5_000i64
                        .saturating_mul(1 << attempts.clamp(0, 10))
                        .min(3_600_000);
                    tracing::warn!(mail = %id, attempts = attempts + 1, error = format!("{error:#}"), "mail delivery failed; will retry");
                    db_execute!(
                        &self.db,
                        "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                         WHERE id = $1",
                        &id,
                        self.clock.now().millis() + retry_in,
                        format!("{error:#}"),
                    )?;
                }
            }
        }
        Ok(sent)
    }

    /// Mints the link token and writes the mail. Only the token's hash is stored.
    async fn prepare(
        &self,
        kind: &str,
        account_id: &str,
        recipient: &str,
        expires_at: i64,
    ) -> anyhow::Result<OutgoingMail> {
        anyhow::ensure!(kind == VERIFY_EMAIL, "unknown mail kind {kind}");
        let token = new_token();
        db_execute!(
            &self.db,
            "INSERT INTO email_tokens (token_hash, account_id, email, purpose, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            token_hash(&token),
            account_id,
            recipient,
            VERIFY_EMAIL,
            self.clock.now().millis(),
            expires_at,
        )
        .context("failed to store an e-mail token")?;
        let link = format!("{}/verify-email?token={token}", self.public_url);
        let until = Timestamp::from_millis(expires_at).to_rfc3339();
        Ok(OutgoingMail {
            to: recipient.to_string(),
            subject: "学信网 CHSI 邮箱验证".to_string(),
            body: format!(
                "您好！\n\n您在学信网注册账号时填写了本邮箱作为安全邮箱。请点击下面的链接完成邮箱验证（24小时内有效，只能使用一次，截止 {until}）：\n\n{link}\n\n验证通过后可凭此邮箱找回密码。如果这不是您本人的操作，请忽略本邮件。\n\n学信网"
            ),
        })
    }

    pub async fn run(self: Arc<Self>, poll: Duration, mut shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Err(error) = self.deliver_due().await {
                tracing::error!(error = format!("{error:#}"), "mail delivery loop failed");
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
}

/// A verification token, if it is live; marks it used. Single use, even under concurrency.
pub async fn consume_email_token(
    db: &Db,
    token: &str,
    purpose: &str,
    now: Timestamp,
) -> anyhow::Result<Option<(String, String)>> {
    let hash = token_hash(token);
    let row: Option<(String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "UPDATE email_tokens SET consumed_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3
             RETURNING account_id, email",
        )
        .bind(&hash)
        .bind(purpose)
        .bind(now.millis())
        .fetch_optional(pool)
        .await
        .context("failed to consume an e-mail token")?
    });
    Ok(row)
}
