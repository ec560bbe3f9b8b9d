//! Commands a request queues to run after it has answered (issue 13: equal time for known and
//! unknown names). A wrong password for a known name used to append `LoginFailed` before the
//! answer, and an activation-mail resend for a registered address its event: milliseconds an
//! unknown name never spent, and so an oracle. Now every such request inserts one row here,
//! whether or not it names an account, and answers; a worker runs the commands in order and
//! deletes their rows. A crash between running and deleting runs a command again (a failure
//! counted twice, a second mail): nothing is lost.

use crate::shutdown::Shutdown;
use crate::store::{CommandMetadata, EventStore, ExecuteError, Loaded};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::account::AccountServices;
use xuexin_domain::account::{Account, AccountCommand};
use xuexin_domain::ids::LoginVia;
use xuexin_domain::{AccountId, Actor, Clock};
use xuexin_projections::Db;
use xuexin_projections::{db_execute, on_db};

/// How long a claimed row is reserved for the worker that claimed it.
const CLAIM_MILLIS: i64 = 60_000;
const BATCH: i64 = 100;
/// How often the worker looks without being woken (rows another node queued, a crash).
const POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A wrong password: `RecordLoginFailure`.
    LoginFailure,
    /// 重新发送激活邮件: `RequestEmailVerification`.
    EmailVerification,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoginFailure => "login_failure",
            Self::EmailVerification => "email_verification",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        [Self::LoginFailure, Self::EmailVerification]
            .into_iter()
            .find(|k| k.as_str() == kind)
    }
}

/// What the command needs beyond its account, and the request it came from (for the event's
/// metadata, as if it had run in the request).
#[derive(Serialize, Deserialize)]
struct Payload {
    via: Option<LoginVia>,
    request_id: String,
    client_ip: Option<String>,
}

/// Where requests queue commands: the table, the clock that stamps the rows, and the worker's
/// wake-up.
#[derive(Clone)]
pub struct DeferredQueue {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Notify>,
}

impl DeferredQueue {
    /// Queues a command; `account` is `None` when the request named nobody (the row is
    /// written all the same, so both cost the same). Wakes the worker.
    #[tracing::instrument(skip_all, fields(kind = kind.as_str()))]
    pub async fn enqueue(
        &self,
        kind: Kind,
        account: Option<AccountId>,
        via: Option<LoginVia>,
        request: &CommandMetadata,
    ) -> anyhow::Result<()> {
        let (kind, payload, created_at) = self.row(kind, via, request)?;
        db_execute!(
            &self.db,
            "INSERT INTO deferred_commands (kind, account_id, payload, created_at)
             VALUES ($1, $2, $3, $4)",
            kind,
            account.map(|a| a.to_string()),
            payload,
            created_at,
        )
        .context("failed to queue a command")?;
        self.wake.notify_one();
        Ok(())
    }

    /// A queued row's columns but its account: for a statement that queues a command as one
    /// of its parts (the caller wakes the worker, [`DeferredQueue::wake`]). Kind, payload and
    /// the moment it is queued at, in the order of the columns
    /// `deferred_commands (kind, account_id, payload, created_at)` less the account.
    pub fn row(
        &self,
        kind: Kind,
        via: Option<LoginVia>,
        request: &CommandMetadata,
    ) -> anyhow::Result<(&'static str, String, i64)> {
        let payload = serde_json::to_string(&Payload {
            via,
            request_id: request.request_id.clone(),
            client_ip: request.client_ip.clone(),
        })?;
        Ok((kind.as_str(), payload, self.clock.now().millis()))
    }
}

/// What the worker uses: the table and the clock, and the store and services that run the
/// account commands.
#[derive(Clone)]
pub struct DeferredWorker {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<EventStore>,
    pub account_services: AccountServices,
}

type Row = (i64, String, Option<String>, String);

/// Claims the oldest unclaimed rows (or rows whose claim ran out), in order.
async fn claim(worker: &DeferredWorker) -> anyhow::Result<Vec<Row>> {
    let now = worker.clock.now().millis();
    let mut rows: Vec<Row> = on_db!(&worker.db, pool => {
        sqlx::query_as(
            "UPDATE deferred_commands SET claimed_until = $1
             WHERE id IN (SELECT id FROM deferred_commands
                           WHERE claimed_until IS NULL OR claimed_until < $2
                           ORDER BY id LIMIT $3)
               AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, kind, account_id, payload",
        )
        .bind(now + CLAIM_MILLIS)
        .bind(now)
        .bind(BATCH)
        .fetch_all(pool)
        .await
        .context("failed to claim queued commands")?
    });
    rows.sort_by_key(|row| row.0);
    Ok(rows)
}

/// Runs one queued command. A refusal by the account (it cannot log in, the e-mail is
/// verified by now) is an answer too: the row is done.
async fn run(
    worker: &DeferredWorker,
    kind: Kind,
    account: &str,
    loaded: Option<Loaded<Account>>,
    payload: &str,
) -> anyhow::Result<()> {
    let payload: Payload = serde_json::from_str(payload).context("a queued payload")?;
    let (command, actor) = match kind {
        Kind::LoginFailure => (
            AccountCommand::RecordLoginFailure {
                via: payload.via.unwrap_or(LoginVia::Phone),
            },
            Actor::Account(account.to_string()),
        ),
        Kind::EmailVerification => (AccountCommand::RequestEmailVerification, Actor::Anonymous),
    };
    let metadata = CommandMetadata {
        actor,
        request_id: payload.request_id,
        client_ip: payload.client_ip,
        user_agent: None,
        caused_by: None,
    };
    match worker
        .store
        .execute_from::<Account>(
            account,
            loaded,
            command,
            &worker.account_services,
            &metadata,
        )
        .await
    {
        Ok(_) | Err(ExecuteError::Domain(_)) => Ok(()),
        Err(ExecuteError::Contention) => anyhow::bail!("the account stayed contended"),
        Err(ExecuteError::Store(error)) => Err(error),
    }
}

/// Runs every queued command there is now. Returns how many rows were done.
///
/// A claimed batch loads its accounts in one query, runs each account's commands in order and
/// the accounts side by side, so their appends meet in the event store's group commit; the
/// batch's rows are then deleted in one statement.
pub async fn drain(worker: &DeferredWorker) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let rows = claim(worker).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        let mut finished: Vec<i64> = Vec::with_capacity(rows.len());
        let mut by_account: std::collections::BTreeMap<String, Vec<(i64, Kind, String)>> =
            std::collections::BTreeMap::new();
        for (id, kind, account, payload) in rows {
            match (Kind::parse(&kind), account) {
                (Some(kind), Some(account)) => {
                    by_account
                        .entry(account)
                        .or_default()
                        .push((id, kind, payload));
                }
                (None, _) => {
                    tracing::warn!(kind, "an unknown kind of queued command");
                    finished.push(id);
                }
                (Some(_), None) => finished.push(id),
            }
        }
        // The batch's accounts in one query; each account's first command runs on it (a
        // command on an account that changed since loads it again, as any lost race does).
        let accounts: Vec<String> = by_account.keys().cloned().collect();
        let mut loaded = match worker.store.load_each::<Account>(&accounts).await {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "a batch load failed");
                Default::default()
            }
        };
        let runs = by_account
            .into_iter()
            .map(|(account, commands)| (loaded.remove(&account), account, commands))
            .map(|(mut first, account, commands)| async move {
                let mut ran = Vec::with_capacity(commands.len());
                for (id, kind, payload) in commands {
                    match run(worker, kind, &account, first.take(), &payload).await {
                        Ok(()) => ran.push(id),
                        // Left claimed: tried again once the claim runs out.
                        Err(error) => {
                            tracing::warn!(error = format!("{error:#}"), "a queued command failed");
                        }
                    }
                }
                ran
            });
        for ran in futures::future::join_all(runs).await {
            finished.extend(ran);
        }
        delete(worker, &finished).await?;
        done += finished.len();
    }
}

async fn delete(worker: &DeferredWorker, ids: &[i64]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    match &worker.db {
        Db::Postgres(pool) => sqlx::query("DELETE FROM deferred_commands WHERE id = ANY($1)")
            .bind(ids.to_vec())
            .execute(pool)
            .await
            .map(|_| ()),
        Db::Sqlite(pool) => sqlx::query(
            "DELETE FROM deferred_commands WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
        .execute(pool)
        .await
        .map(|_| ()),
    }
    .context("failed to delete queued commands")?;
    Ok(())
}

pub async fn deferred_loop(worker: DeferredWorker, wake: Arc<Notify>, mut shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Err(error) = drain(&worker).await {
            tracing::error!(error = format!("{error:#}"), "queued commands failed");
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.wait() => {}
        }
    }
}
