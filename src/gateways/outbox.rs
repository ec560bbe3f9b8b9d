//! `dev_outbox`: what the capture gateways "delivered", for a developer (`xuexin dev outbox`,
//! the dev-mode route) or a test to read.

use anyhow::Context;
use serde::Serialize;
use xuexin_domain::Timestamp;
use xuexin_projections::{db_execute, on_db, Db};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub id: i64,
    /// `sms`, `email`, or `captcha` (where SMS is captured: a captcha's answer, to the captcha id).
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
}

pub async fn put(
    db: &Db,
    channel: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    at: Timestamp,
) -> anyhow::Result<()> {
    db_execute!(
        db,
        "INSERT INTO dev_outbox (channel, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        channel,
        recipient,
        subject,
        body,
        at.millis(),
    )
    .context("failed to capture a message")?;
    Ok(())
}

/// Newest first; `recipient` matches exactly (E.164 phone or e-mail).
pub async fn list(
    db: &Db,
    recipient: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<OutboxMessage>> {
    let rows: Vec<(i64, String, String, String, String, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT id, channel, recipient, subject, body, created_at FROM dev_outbox
             WHERE ($1 IS NULL OR recipient = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(recipient)
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("failed to read the outbox")?
    });
    Ok(rows
        .into_iter()
        .map(
            |(id, channel, recipient, subject, body, created_at)| OutboxMessage {
                id,
                channel,
                recipient,
                subject,
                body,
                created_at: Timestamp::from_millis(created_at).to_rfc3339(),
            },
        )
        .collect())
}
