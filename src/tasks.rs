//! Carries out the tasks process managers queue (`process_tasks`): each kind is a command on
//! one aggregate, idempotent, so a task done twice (a crash between the command and marking it
//! done) changes nothing the second time. Failed tasks are retried with back-off.

use crate::shutdown::Shutdown;
use crate::store::{CommandMetadata, ExecuteError};
use crate::store::{Db, EventStore};
use anyhow::Context;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::account::AccountServices;
use xuexin_domain::account::{Account, AccountCommand};
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand};
use xuexin_domain::record::{BindMethod, RecordCommand, RecordError, StudentRecord};
use xuexin_domain::AccountId;
use xuexin_domain::Clock;
use xuexin_projections::{db_execute, on_db};

/// What the process-task loop uses: the task table, the event store and the account's
/// services that run the tasks' commands, and how long a claimed task is reserved.
#[derive(Clone)]
pub struct TaskRunner {
    pub db: Db,
    pub clock: std::sync::Arc<dyn Clock>,
    pub store: std::sync::Arc<EventStore>,
    pub account_services: AccountServices,
    pub task_claim: std::time::Duration,
    /// A wait before each task (zero in service; see `Config::task_delay`).
    pub task_delay: std::time::Duration,
}

/// Fault points for crash tests, per task kind: before its command, and after the command
/// but before the task is marked done.
fn fault_points(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "account.deactivate_old" => (
            "tasks.before.account.deactivate_old",
            "tasks.after.account.deactivate_old",
        ),
        "account.verify_identity" => (
            "tasks.before.account.verify_identity",
            "tasks.after.account.verify_identity",
        ),
        _ => ("tasks.before", "tasks.after"),
    }
}

fn field<'a>(payload: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    payload[key]
        .as_str()
        .with_context(|| format!("task payload has no {key}"))
}

fn account(payload: &Value, key: &str) -> anyhow::Result<AccountId> {
    AccountId::parse(field(payload, key)?)
        .with_context(|| format!("task payload {key} is not an id"))
}

/// A task's command's outcome: the position it committed (none when it changed nothing).
fn done<A: cqrs_es::Aggregate, E: std::fmt::Display>(
    result: Result<crate::store::Committed<A>, ExecuteError<E>>,
) -> anyhow::Result<Option<i64>> {
    result
        .map(|committed| committed.position)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// One task, as its kind says; answers the position its command committed, if any.
async fn perform(
    state: &TaskRunner,
    kind: &str,
    payload: &Value,
    metadata: &CommandMetadata,
) -> anyhow::Result<Option<i64>> {
    let services = &state.account_services;
    match kind {
        "record.bind" | "record.transfer" | "record.unbind" => {
            let account_id = account(payload, "account_id")?;
            let command = match kind {
                "record.bind" => RecordCommand::Bind {
                    account_id,
                    method: BindMethod::IdentityMatch,
                },
                "record.transfer" => RecordCommand::Bind {
                    account_id,
                    method: BindMethod::IdentityTransfer,
                },
                _ => RecordCommand::Unbind {
                    account_id,
                    reason: "record_no_longer_matches".into(),
                },
            };
            match state
                .store
                .execute::<StudentRecord>(field(payload, "record_id")?, command, &(), metadata)
                .await
            {
                // A record that no longer exists has nothing to bind.
                Err(ExecuteError::Domain(RecordError::NotFound)) => Ok(None),
                other => done(other),
            }
        }
        "account.deactivate_old" => {
            let old = account(payload, "account_id")?;
            let position = done(
                state
                    .store
                    .execute::<Account>(
                        &old.to_string(),
                        AccountCommand::DeactivateAsOldAccount {
                            new_account: account(payload, "new_account")?,
                        },
                        services,
                        metadata,
                    )
                    .await,
            )?;
            // The old account's sessions end, and with them the partner platforms' sessions
            // (back-channel logout). Idempotent, like the task.
            crate::sessions::Sessions::new(
                state.db.clone(),
                state.clock.clone(),
                std::time::Duration::ZERO,
            )
            .revoke_all(old)
            .await?;
            Ok(position)
        }
        "account.verify_identity" => done(
            state
                .store
                .execute::<Account>(
                    &account(payload, "account_id")?.to_string(),
                    AccountCommand::VerifyIdentity {
                        method: field(payload, "method")?.to_string(),
                    },
                    services,
                    metadata,
                )
                .await,
        ),
        "account.unbind_phone" => done(
            state
                .store
                .execute::<Account>(
                    &account(payload, "account_id")?.to_string(),
                    AccountCommand::UnbindPhone {
                        phone: field(payload, "phone")?.to_string(),
                        reason: "taken_over".into(),
                    },
                    services,
                    metadata,
                )
                .await,
        ),
        "account.release_login_names" => {
            let account_id = account(payload, "account_id")?;
            let old = state
                .store
                .load::<Account>(&account_id.to_string())
                .await?
                .aggregate;
            let mut names = Vec::new();
            let mut last = None;
            if let Some(phone) = old.phone() {
                names.push((LoginNameKind::Phone, phone.to_string()));
            }
            if let Some(email) = old.email() {
                names.push((LoginNameKind::Email, email.address.clone()));
            }
            for (kind, value) in names {
                // Releases only while the old account still holds it.
                let position = done(
                    state
                        .store
                        .execute::<LoginName>(
                            &login_name_id(kind, &value).to_string(),
                            LoginNameCommand::Release {
                                account_id,
                                reason: "old_account_deactivated".into(),
                            },
                            &(),
                            metadata,
                        )
                        .await,
                )?;
                last = last.max(position);
            }
            Ok(last)
        }
        "login_name.release" => {
            let kind = LoginNameKind::parse(field(payload, "kind")?)
                .context("task payload kind is not a login-name kind")?;
            let value = field(payload, "value")?;
            let account_id = account(payload, "account_id")?;
            // A name changed away and back again is in use: keep it.
            let current = state
                .store
                .load::<Account>(&account_id.to_string())
                .await?
                .aggregate;
            let in_use = crate::login_names::account_uses(&current, kind, value);
            if in_use {
                return Ok(None);
            }
            // Releases only while this account still holds it.
            done(
                state
                    .store
                    .execute::<LoginName>(
                        &login_name_id(kind, value).to_string(),
                        LoginNameCommand::Release {
                            account_id,
                            reason: field(payload, "reason")?.to_string(),
                        },
                        &(),
                        metadata,
                    )
                    .await,
            )
        }
        other => anyhow::bail!("unknown task kind {other}"),
    }
}

/// Runs the tasks that are due; returns how many it attempted.
pub async fn run_due(state: &TaskRunner) -> anyhow::Result<usize> {
    let now = state.clock.now().millis();
    type Due = (
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
    );
    let due: Vec<Due> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, kind, payload, attempts, next_attempt_at, root_position, root_request
             FROM process_tasks
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY created_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(pool)
        .await
        .context("failed to read process tasks")?
    });
    let mut attempted = 0;
    let claim_millis = state.task_claim.as_millis() as i64;
    for (id, kind, payload, attempts, next_attempt_at, root_position, root_request) in due {
        let claimed = db_execute!(
            &state.db,
            "UPDATE process_tasks SET next_attempt_at = $3
             WHERE id = $1 AND next_attempt_at = $2 AND status = 'pending'",
            &id,
            next_attempt_at,
            now + claim_millis,
        )?;
        if claimed != 1 {
            continue; // another node has it
        }
        let (before, after) = fault_points(&kind);
        crate::faults::hit(before);
        if !state.task_delay.is_zero() {
            tokio::time::sleep(state.task_delay).await;
        }
        // The task's events carry the request id of the command they descend from (a
        // correlation id), and the position that started the chain.
        let system = CommandMetadata::system(kind.split('.').next().unwrap_or("process-manager"));
        let metadata = CommandMetadata {
            caused_by: root_position,
            request_id: root_request.unwrap_or(system.request_id.clone()),
            ..system
        };
        let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let result = perform(state, &kind, &payload, &metadata).await;
        crate::faults::hit(after);
        let (status, error, committed) = match &result {
            Ok(position) => ("done", None, *position),
            Err(error) => {
                tracing::warn!(task = %id, error = format!("{error:#}"), "process task failed; will retry");
                ("pending", Some(format!("{error:#}")), None)
            }
        };
        let retry_at = state.clock.now().millis() + 1000 * (1i64 << attempts.clamp(0, 10));
        db_execute!(
            &state.db,
            "UPDATE process_tasks SET status = $2, attempts = attempts + 1, last_error = $3,
                    next_attempt_at = $4, result_position = $5 WHERE id = $1",
            &id,
            status,
            error,
            retry_at,
            committed,
        )?;
        attempted += 1;
    }
    Ok(attempted)
}

/// Runs tasks whenever a process manager commits new ones (and on a timer).
pub async fn task_loop(
    state: TaskRunner,
    wakes: Vec<Arc<Notify>>,
    poll: Duration,
    mut shutdown: Shutdown,
) {
    while !shutdown.is_triggered() {
        let notified: Vec<_> = wakes.iter().map(|w| Box::pin(w.notified())).collect();
        match run_due(&state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(error = format!("{error:#}"), "process tasks failed"),
        }
        tokio::select! {
            _ = futures::future::select_all(notified) => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait() => {}
        }
    }
}
