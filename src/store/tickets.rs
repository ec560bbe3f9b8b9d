//! Recovery tickets: the short-lived tokens of each step of password recovery, stored as
//! their SHA-256, naming the account's credential generation.

use crate::security::{new_token, token_hash};
use anyhow::Context;
use xuexin_domain::{AccountId, Timestamp};
use xuexin_projections::{db_execute, on_db, Db};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Start,
    Reset,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Reset => "reset",
        }
    }
}

/// Stores a new token of `stage` for the account; returns the token (only its hash is kept).
pub async fn issue_ticket(
    db: &Db,
    account_id: &str,
    stage: Stage,
    method: Option<&str>,
    generation: u32,
    expires_at: Timestamp,
    now: Timestamp,
) -> anyhow::Result<String> {
    let token = new_token();
    db_execute!(
        db,
        "INSERT INTO recovery_tickets (ticket_hash, account_id, stage, method, generation, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        token_hash(&token),
        account_id,
        stage.as_str(),
        method,
        i64::from(generation),
        now.millis(),
        expires_at.millis(),
    )
    .context("failed to store a recovery ticket")?;
    Ok(token)
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub hash: String,
    pub account_id: AccountId,
    pub method: Option<String>,
    pub generation: u32,
    pub expires_at: Timestamp,
}

/// The live token of `stage`, without using it up.
pub async fn find_ticket(
    db: &Db,
    token: &str,
    stage: Stage,
    now: Timestamp,
) -> anyhow::Result<Option<Ticket>> {
    let hash = token_hash(token.trim());
    let row: Option<(String, Option<String>, i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_id, method, generation, expires_at FROM recovery_tickets
             WHERE ticket_hash = $1 AND stage = $2 AND consumed_at IS NULL AND expires_at > $3",
        )
        .bind(&hash)
        .bind(stage.as_str())
        .bind(now.millis())
        .fetch_optional(pool)
        .await
        .context("failed to read a recovery ticket")?
    });
    Ok(
        row.and_then(|(account_id, method, generation, expires_at)| {
            AccountId::parse(&account_id).map(|account_id| Ticket {
                hash,
                account_id,
                method,
                generation: u32::try_from(generation).unwrap_or(u32::MAX),
                expires_at: Timestamp::from_millis(expires_at),
            })
        }),
    )
}

/// Uses a token up; false if a concurrent request used it first.
pub async fn consume_ticket(db: &Db, hash: &str, now: Timestamp) -> anyhow::Result<bool> {
    let updated = db_execute!(
        db,
        "UPDATE recovery_tickets SET consumed_at = $2 WHERE ticket_hash = $1 AND consumed_at IS NULL",
        hash,
        now.millis(),
    )
    .context("failed to use a recovery ticket")?;
    Ok(updated == 1)
}

/// After a reset or a change of password: every outstanding token of the account dies.
pub async fn kill_tickets(db: &Db, account_id: AccountId, now: Timestamp) -> anyhow::Result<()> {
    db_execute!(
        db,
        "UPDATE recovery_tickets SET consumed_at = $2 WHERE account_id = $1 AND consumed_at IS NULL",
        account_id.to_string(),
        now.millis(),
    )
    .context("failed to retire recovery tickets")?;
    Ok(())
}
