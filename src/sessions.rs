//! Bearer sessions: 256-bit random tokens, stored as SHA-256, expiring, revocable.

use crate::security::{new_token, token_hash};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::{AccountId, Clock, Timestamp};
use xuexin_projections::{db_execute, on_db, Db};

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub account_id: AccountId,
    pub token_hash: String,
    pub expires_at: Timestamp,
    /// The log position of the login that opened it.
    pub position: i64,
}

impl Sessions {
    pub fn new(db: Db, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { db, clock, ttl }
    }

    #[tracing::instrument(skip(self, client_ip))]
    pub async fn create(
        &self,
        account_id: AccountId,
        client_ip: Option<&str>,
        position: i64,
    ) -> anyhow::Result<NewSession> {
        let token = new_token();
        let now = self.clock.now();
        let expires_at = now.plus_millis(self.ttl.as_millis() as i64);
        db_execute!(
            &self.db,
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, client_ip, position)
             VALUES ($1, $2, $3, $4, $5, $6)",
            token_hash(&token),
            account_id.to_string(),
            now.millis(),
            expires_at.millis(),
            client_ip,
            position,
        )
        .context("failed to store a session")?;
        Ok(NewSession { token, expires_at })
    }

    /// The live session a bearer token opens, if any.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let hash = token_hash(token);
        let row: Option<(String, i64, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT account_id, expires_at, position FROM sessions
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(&hash)
            .bind(self.clock.now().millis())
            .fetch_optional(pool)
            .await
            .context("failed to read a session")?
        });
        Ok(row.and_then(|(account_id, expires_at, position)| {
            AccountId::parse(&account_id).map(|account_id| Session {
                account_id,
                token_hash: hash,
                expires_at: Timestamp::from_millis(expires_at),
                position,
            })
        }))
    }

    pub async fn revoke(&self, token_hash: &str) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
            self.clock.now().millis(),
        )
        .context("failed to revoke a session")?;
        Ok(())
    }
}
