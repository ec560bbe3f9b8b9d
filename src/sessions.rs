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

/// One of an account's live sessions, as 账号管理 lists them.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// A public name of the session (never the token or its stored hash).
    pub id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session the listing was asked from.
    pub current: bool,
}

/// The public id of a session: a digest of its stored hash, so neither can be derived from it.
pub fn public_id(stored_hash: &str) -> String {
    token_hash(&format!("session-id:{stored_hash}"))[..20].to_string()
}

/// The longest User-Agent kept with a session.
const USER_AGENT_MAX: usize = 256;

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
    /// When the login that opened it happened (an ID token's `auth_time`).
    pub created_at: Timestamp,
    /// The log position of the login that opened it.
    pub position: i64,
    /// For staff: the role and its scope.
    pub staff: Option<(StaffRole, Option<String>)>,
    /// Opened by an account waiting for identity review.
    pub pending_review: bool,
    /// A staff session that has not passed its second factor yet: it reaches nothing staff
    /// may do (issue 16).
    pub factor_pending: bool,
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

    /// The scope, if the session is staff with one of `roles` and has passed its second
    /// factor; otherwise 403 (`second_factor_required` before the factor).
    pub fn require_role(
        &self,
        roles: &[StaffRole],
    ) -> Result<Option<&str>, crate::problem::Problem> {
        match &self.staff {
            Some(_) if self.factor_pending => Err(crate::problem::Problem::new(
                crate::problem::ProblemKind::Forbidden,
                "second_factor_required",
            )),
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
        user_agent: Option<&str>,
    ) -> anyhow::Result<NewSession> {
        let token = new_token();
        let now = self.clock.now();
        let expires_at = now.plus_millis(self.ttl.as_millis() as i64);
        db_execute!(
            &self.db,
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, client_ip, position, role, scope, pending_review, user_agent, factor_pending)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            token_hash(&token),
            account_id.to_string(),
            now.millis(),
            expires_at.millis(),
            client_ip,
            position,
            staff.map(|s| s.role.as_str()),
            staff.and_then(|s| s.scope.as_deref()),
            i64::from(pending_review),
            user_agent.map(|agent| agent
                .chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX)
                .collect::<String>()),
            // Every staff session starts before its second factor.
            i64::from(staff.is_some()),
        )
        .context("failed to store a session")?;
        Ok(NewSession { token, expires_at })
    }

    /// The live session a bearer token opens, if any.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let hash = token_hash(token);
        type Row = (
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
        );
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT account_id, expires_at, position, role, scope, pending_review, factor_pending, created_at FROM sessions
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(&hash)
            .bind(self.clock.now().millis())
            .fetch_optional(pool)
            .await
            .context("failed to read a session")?
        });
        Ok(row.and_then(
            |(account_id, expires_at, position, role, scope, pending, factor, created_at)| {
                AccountId::parse(&account_id).map(|account_id| Session {
                    account_id,
                    token_hash: hash,
                    expires_at: Timestamp::from_millis(expires_at),
                    created_at: Timestamp::from_millis(created_at),
                    position,
                    staff: role
                        .as_deref()
                        .and_then(StaffRole::parse)
                        .map(|role| (role, scope)),
                    pending_review: pending != 0,
                    factor_pending: factor != 0,
                })
            },
        ))
    }

    /// The session passed its second factor.
    pub async fn pass_factor(&self, token_hash: &str) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sessions SET factor_pending = 0 WHERE token_hash = $1",
            token_hash,
        )
        .context("failed to update a session")?;
        Ok(())
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
        self.queue_logouts("x.account_id = $1", &account_id.to_string(), None)
            .await?;
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
        self.queue_logouts(
            "x.account_id = $1 AND x.token_hash <> $4",
            &account_id.to_string(),
            Some(keep_token_hash),
        )
        .await?;
        let revoked = db_execute!(
            &self.db,
            "UPDATE sessions SET revoked_at = $2
             WHERE account_id = $1 AND revoked_at IS NULL AND token_hash <> $3 AND expires_at > $2",
            account_id.to_string(),
            self.clock.now().millis(),
            keep_token_hash,
        )
        .context("failed to revoke sessions")?;
        Ok(revoked)
    }

    /// The account's live sessions, newest first; `current` marks the one of `token_hash`.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        account_id: AccountId,
        token_hash: &str,
    ) -> anyhow::Result<Vec<SessionInfo>> {
        type Row = (String, i64, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT token_hash, created_at, expires_at, client_ip, user_agent FROM sessions
                 WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2
                 ORDER BY created_at DESC",
            )
            .bind(account_id.to_string())
            .bind(self.clock.now().millis())
            .fetch_all(pool)
            .await
            .context("failed to list sessions")?
        });
        Ok(rows
            .into_iter()
            .map(
                |(hash, created_at, expires_at, client_ip, user_agent)| SessionInfo {
                    id: public_id(&hash),
                    created_at: Timestamp::from_millis(created_at),
                    expires_at: Timestamp::from_millis(expires_at),
                    client_ip,
                    user_agent,
                    current: hash == token_hash,
                },
            )
            .collect())
    }

    /// Ends the account's live session whose public id is `id`; false when it has none such.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_by_id(&self, account_id: AccountId, id: &str) -> anyhow::Result<bool> {
        let hashes: Vec<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT token_hash FROM sessions
                 WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(account_id.to_string())
            .bind(self.clock.now().millis())
            .fetch_all(pool)
            .await
            .context("failed to read sessions")?
        });
        match hashes.into_iter().find(|(hash,)| public_id(hash) == id) {
            Some((hash,)) => {
                self.revoke(&hash).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub async fn revoke(&self, token_hash: &str) -> anyhow::Result<()> {
        self.queue_logouts("x.token_hash = $1", token_hash, None)
            .await?;
        db_execute!(
            &self.db,
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
            self.clock.now().millis(),
        )
        .context("failed to revoke a session")?;
        Ok(())
    }

    /// Queues a back-channel logout (issue 17) to every partner platform the sessions `filter`
    /// selects signed in to, before they end: the message outbox sends the signed logout
    /// token, with retries. Queued first, so a crash between the two statements tells a
    /// platform too much rather than too little. `$1` is `first`, `$4` `second`.
    async fn queue_logouts(
        &self,
        filter: &str,
        first: &str,
        second: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = self.clock.now().millis();
        let sql = format!(
            "INSERT INTO message_outbox (id, channel, kind, account_id, recipient, payload, expires_at, created_at, next_attempt_at)
             SELECT 'logout:' || s.session_hash || ':' || s.client_id, 'backchannel', 'logout', s.account_id,
                    s.backchannel_uri, s.payload, $2 + {LOGOUT_DELIVERY_MILLIS}, $2, $3
             FROM sso_signins s JOIN sessions x ON x.token_hash = s.session_hash
             WHERE {filter} AND x.revoked_at IS NULL AND x.expires_at > $2
             ON CONFLICT (id) DO NOTHING"
        );
        let queued = on_db!(&self.db, pool => {
            let mut query = sqlx::query(&sql).bind(first).bind(now).bind(now);
            if let Some(second) = second {
                query = query.bind(second);
            }
            query.execute(pool).await.map(|done| done.rows_affected())
        })
        .context("failed to queue back-channel logouts")?;
        if queued > 0 {
            tracing::info!(queued, "queued back-channel logouts");
        }
        Ok(())
    }
}

/// How long a back-channel logout is retried before it is given up.
const LOGOUT_DELIVERY_MILLIS: i64 = 24 * 3600 * 1000;
