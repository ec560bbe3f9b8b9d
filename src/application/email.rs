//! Security e-mail verification: resending the link (the same work whether or not anybody is
//! to be mailed) and confirming it with the token the mail carried.

use crate::config::Limit;
use crate::deferred::{DeferredQueue, Kind};
use crate::messenger::{consume_email_token, VERIFY_EMAIL};
use crate::projector::{ReadYourWrites, WaitError};
use crate::ratelimit::{Count, Counted, RateLimiter};
use crate::store::{CommandMetadata, Db, EventStore, ExecuteError};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountServices};
use xuexin_domain::ids::{login_name_id, login_name_key, LoginNameKind};
use xuexin_domain::values::Email;
use xuexin_domain::{AccountId, Actor, Clock};
use xuexin_projections::login_index;

/// What e-mail verification uses.
#[derive(Clone)]
pub struct EmailVerification {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
    pub deferred: DeferredQueue,
    /// The login index is read at the log's head: a resend right after registering finds the
    /// address the registration has just bound.
    pub reads: ReadYourWrites,
    pub account_services: AccountServices,
    /// Resends per client address.
    pub resends_per_ip: Limit,
    /// Resends per address (whether or not anybody holds it).
    pub resends_per_address: Limit,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("too many mails")]
    RateLimited { retry_after: Duration },
    /// The link is unknown, used, expired, or no longer the account's address.
    #[error("the verification token is invalid")]
    TokenInvalid,
    #[error("the address is already verified")]
    AlreadyVerified,
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A confirmed address.
pub struct Verified {
    pub account_id: String,
    pub email: String,
    pub position: Option<i64>,
}

impl EmailVerification {
    /// 重新发送激活邮件: counted per client and per address, then one queued row whether or not
    /// anybody is to be mailed, so that a registered, unverified address costs the request what
    /// any other costs; the mail's event is recorded after the answer (`deferred`).
    #[tracing::instrument(skip_all)]
    pub async fn resend(&self, email: &Email, request: &CommandMetadata) -> Result<(), EmailError> {
        // Per client, and per address whether or not anybody holds it (a 429 that only a
        // registered address gets would tell it apart): both in one statement.
        let mut buckets = Vec::with_capacity(2);
        if let Some(ip) = &request.client_ip {
            buckets.push((format!("email-ip:{ip}"), self.resends_per_ip));
        }
        buckets.push((
            format!(
                "email-resend:{}",
                login_name_id(LoginNameKind::Email, email.as_str())
            ),
            self.resends_per_address,
        ));
        let key = login_name_key(LoginNameKind::Email, email.as_str());
        // On PostgreSQL the count, the lookup and the queued row are one statement, which
        // queues the row only if nothing refused and the index's answer was current. `looked`:
        // whether that statement ran, and then whether it queued.
        let looked = match (&self.db, self.limiter.prepare(&buckets)) {
            (Db::Postgres(pool), Some(count)) => {
                let (counted, queued) = self.count_and_queue(pool, &count, &key, request).await?;
                self.limiter
                    .settle(&count, &counted)
                    .await?
                    .map(|()| Some(queued))
            }
            _ => self.limiter.hit_all(&buckets).await?.map(|()| None),
        };
        let looked = match looked {
            Ok(Some(true)) => {
                self.deferred.wake.notify_one();
                return Ok(());
            }
            Ok(looked) => looked.is_some(),
            Err(exceeded) => {
                return Err(EmailError::RateLimited {
                    retry_after: exceeded.retry_after,
                })
            }
        };
        // The index as of the log's head, whatever the address: known or not, the request
        // costs the same. One query when the index had applied everything it reads; else (or
        // when the statement above found it behind) a (bounded) wait for it and a second look.
        let lookup_failed = |e: sqlx::Error| anyhow::anyhow!("failed to read the login index: {e}");
        let current = if looked {
            None
        } else {
            let (entry, current) = login_index::lookup_current(&self.db, &key)
                .await
                .map_err(lookup_failed)?;
            current.then_some(entry)
        };
        let entry = match current {
            Some(entry) => entry,
            None => {
                match self.reads.wait_for_head(&[login_index::NAME]).await {
                    Ok(()) | Err(WaitError::Timeout | WaitError::AheadOfLog) => {}
                    Err(WaitError::Store(error)) => return Err(EmailError::Internal(error)),
                }
                login_index::lookup(&self.db, &key)
                    .await
                    .map_err(lookup_failed)?
            }
        };
        let account = entry
            .filter(|entry| !entry.email_verified)
            .and_then(|entry| AccountId::parse(&entry.account_id));
        self.deferred
            .enqueue(Kind::EmailVerification, account, None, request)
            .await?;
        Ok(())
    }

    /// The resend's count of `count`, its [`login_index::lookup_current`] of `key` and its
    /// queued row, in one PostgreSQL statement: the row is queued (for the account the
    /// address leads to, unless that address is verified) only if no bucket is over its limit
    /// and the index's answer is current. Answers the counted rows (key, count, window start)
    /// for [`RateLimiter::settle`], and whether the row was queued.
    #[tracing::instrument(skip_all)]
    async fn count_and_queue(
        &self,
        pool: &sqlx::PgPool,
        count: &Count<'_>,
        key: &str,
        request: &CommandMetadata,
    ) -> anyhow::Result<(Counted, bool)> {
        /// The lookup's parameters: the key and the index's name.
        const LOOKUP: usize = 2;
        let (now, rows) = count.binds();
        let rows: Vec<(&str, i64)> = rows.collect();
        let queue = LOOKUP + 1 + 2 * rows.len();
        let sql = format!(
            "WITH found (kind, account_id, status, email_verified, phone_masked, email, current)
                  AS ({lookup}),
                  counted AS ({count}),
                  queued AS (
                    INSERT INTO deferred_commands (kind, account_id, payload, created_at)
                    SELECT ${kind}, CASE WHEN found.email_verified IS NOT TRUE
                                          THEN found.account_id END, ${payload}, ${at}
                      FROM found
                     WHERE found.current AND NOT EXISTS (SELECT 1 FROM counted WHERE {over})
                    RETURNING 1)
             SELECT bucket, count, window_start, EXISTS (SELECT 1 FROM queued) FROM counted",
            lookup = login_index::LOOKUP_CURRENT_POSTGRES,
            count = count.sql(LOOKUP),
            over = count.over_sql(LOOKUP, "counted.bucket", "counted.count"),
            kind = queue + 1,
            payload = queue + 2,
            at = queue + 3,
        );
        let (kind, payload, at) = self.deferred.row(Kind::EmailVerification, None, request)?;
        let mut query = sqlx::query_as::<_, (String, i64, i64, bool)>(&sql)
            .bind(key)
            .bind(login_index::NAME)
            .bind(now);
        for (bucket, length) in rows {
            query = query.bind(bucket).bind(length);
        }
        let counted = query
            .bind(kind)
            .bind(payload)
            .bind(at)
            .fetch_all(pool)
            .await
            .context("failed to count and queue a resend")?;
        let queued = counted.first().is_some_and(|row| row.3);
        Ok((
            counted
                .into_iter()
                .map(|(bucket, count, start, _)| (bucket, count, start))
                .collect(),
            queued,
        ))
    }

    /// The link's token, once: the address it was sent to is verified.
    #[tracing::instrument(skip_all)]
    pub async fn confirm(
        &self,
        token: &str,
        request: &CommandMetadata,
    ) -> Result<Verified, EmailError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(EmailError::TokenInvalid);
        }
        let Some((account_id, address)) =
            consume_email_token(&self.db, token, VERIFY_EMAIL, self.clock.now()).await?
        else {
            return Err(EmailError::TokenInvalid);
        };
        let email = Email::parse(&address).map_err(|_| EmailError::TokenInvalid)?;
        let metadata = CommandMetadata {
            actor: Actor::Account(account_id.clone()),
            ..request.clone()
        };
        let result = self
            .store
            .execute::<Account>(
                &account_id,
                AccountCommand::VerifyEmail { email },
                &self.account_services,
                &metadata,
            )
            .await;
        match result {
            Ok(committed) => Ok(Verified {
                account_id,
                email: address,
                position: committed.position,
            }),
            Err(ExecuteError::Domain(AccountError::EmailAlreadyVerified)) => {
                Err(EmailError::AlreadyVerified)
            }
            Err(ExecuteError::Domain(_)) => Err(EmailError::TokenInvalid),
            Err(ExecuteError::Contention) => Err(EmailError::Busy),
            Err(ExecuteError::Store(error)) => Err(EmailError::Internal(error)),
        }
    }
}
