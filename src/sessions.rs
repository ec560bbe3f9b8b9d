//! Bearer sessions: 256-bit random tokens, stored as SHA-256, expiring, revocable.

use crate::security::{new_token, token_hash};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::StaffProfile;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::{AccountId, Actor, Clock, Timestamp};
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
    /// For staff: the role and its scope.
    pub staff: Option<(StaffRole, Option<String>)>,
    /// Opened by an account waiting for identity review.
    pub pending_review: bool,
}

impl Session {
    /// Who this session acts as in event metadata.
    pub fn actor(&self) -> Actor {
        match &self.staff {
            Some((role, _)) => role.actor(self.account_id.to_string()),
            None => Actor::Account(self.account_id.to_string()),
        }
    }

    pub fn role(&self) -> Option<StaffRole> {
        self.staff.as_ref().map(|(role, _)| *role)
    }

    pub fn scope(&self) -> Option<&str> {
        self.staff.as_ref().and_then(|(_, scope)| scope.as_deref())
    }

    /// The scope, if the session is staff with one of `roles`; otherwise 403.
    pub fn require_role(
        &self,
        roles: &[StaffRole],
    ) -> Result<Option<&str>, crate::problem::Problem> {
        match &self.staff {
            Some((role, scope)) if roles.contains(role) => Ok(scope.as_deref()),
            _ => Err(crate::problem::Problem::new(
                crate::problem::ProblemKind::Forbidden,
                "forbidden",
            )),
        }
    }

    /// 403 for staff: the endpoint is for people acting on their own account.
    pub fn require_person(&self) -> Result<(), crate::problem::Problem> {
        match self.staff {
            None => Ok(()),
            Some(_) => Err(crate::problem::Problem::new(
                crate::problem::ProblemKind::Forbidden,
                "forbidden",
            )),
        }
    }
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
        staff: Option<&StaffProfile>,
        pending_review: bool,
    ) -> anyhow::Result<NewSession> {
        let token = new_token();
        let now = self.clock.now();
        let expires_at = now.plus_millis(self.ttl.as_millis() as i64);
        db_execute!(
            &self.db,
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, client_ip, position, role, scope, pending_review)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            token_hash(&token),
            account_id.to_string(),
            now.millis(),
            expires_at.millis(),
            client_ip,
            position,
            staff.map(|s| s.role.as_str()),
            staff.and_then(|s| s.scope.as_deref()),
            i64::from(pending_review),
        )
        .context("failed to store a session")?;
        Ok(NewSession { token, expires_at })
    }

    /// The live session a bearer token opens, if any.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let hash = token_hash(token);
        type Row = (String, i64, i64, Option<String>, Option<String>, i64);
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT account_id, expires_at, position, role, scope, pending_review FROM sessions
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(&hash)
            .bind(self.clock.now().millis())
            .fetch_optional(pool)
            .await
            .context("failed to read a session")?
        });
        Ok(
            row.and_then(|(account_id, expires_at, position, role, scope, pending)| {
                AccountId::parse(&account_id).map(|account_id| Session {
                    account_id,
                    token_hash: hash,
                    expires_at: Timestamp::from_millis(expires_at),
                    position,
                    staff: role
                        .as_deref()
                        .and_then(StaffRole::parse)
                        .map(|role| (role, scope)),
                    pending_review: pending != 0,
                })
            }),
        )
    }

    /// The account's identity was verified: its sessions are no longer restricted.
    pub async fn clear_pending_review(&self, account_id: AccountId) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sessions SET pending_review = 0 WHERE account_id = $1 AND pending_review = 1",
            account_id.to_string(),
        )
        .context("failed to update sessions")?;
        Ok(())
    }

    /// Ends every session of an account (after a password reset or a change of credentials).
    pub async fn revoke_all(&self, account_id: AccountId) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
            account_id.to_string(),
            self.clock.now().millis(),
        )
        .context("failed to revoke sessions")?;
        Ok(())
    }

    /// Ends every session of an account but the one the change was made in.
    pub async fn revoke_others(
        &self,
        account_id: AccountId,
        keep_token_hash: &str,
    ) -> anyhow::Result<u64> {
        let revoked = db_execute!(
            &self.db,
            "UPDATE sessions SET revoked_at = $2
             WHERE account_id = $1 AND revoked_at IS NULL AND token_hash <> $3",
            account_id.to_string(),
            self.clock.now().millis(),
            keep_token_hash,
        )
        .context("failed to revoke sessions")?;
        Ok(revoked)
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
