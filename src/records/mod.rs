//! Student records: import, binding to accounts, photos.

pub mod import;

use crate::app::{AppState, SharedState};
use crate::shutdown::Shutdown;
use crate::store::{CommandMetadata, ExecuteError};
use anyhow::Context;
use std::time::Duration;
use xuexin_domain::record::{BindMethod, RecordCommand, RecordError, StudentRecord};
use xuexin_domain::AccountId;
use xuexin_projections::{db_execute, on_db};

const CLAIM_MILLIS: i64 = 60_000;

/// Carries out the binder's tasks: bind or unbind a record. Commands are idempotent, so a task
/// done twice (a crash between the command and marking it done) changes nothing the second time.
pub async fn run_binding_tasks(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now().millis();
    let due: Vec<(String, String, String, String, i64, i64)> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, record_id, account_id, action, attempts, next_attempt_at FROM record_binding_tasks
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY created_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(pool)
        .await
        .context("failed to read binding tasks")?
    });
    let metadata = CommandMetadata::system("record-binder");
    let mut done = 0;
    for (id, record_id, account_id, action, attempts, next_attempt_at) in due {
        let claimed = db_execute!(
            &state.db,
            "UPDATE record_binding_tasks SET next_attempt_at = $3
             WHERE id = $1 AND next_attempt_at = $2 AND status = 'pending'",
            &id,
            next_attempt_at,
            now + CLAIM_MILLIS,
        )?;
        if claimed != 1 {
            continue;
        }
        let Some(account) = AccountId::parse(&account_id) else {
            continue;
        };
        let command = if action == "bind" {
            RecordCommand::Bind {
                account_id: account,
                method: BindMethod::IdentityMatch,
            }
        } else {
            RecordCommand::Unbind {
                account_id: account,
                reason: "record_no_longer_matches".into(),
            }
        };
        let result = state
            .store
            .execute::<StudentRecord>(&record_id, command, &(), &metadata)
            .await;
        let (status, error) = match result {
            Ok(_) => ("done", None),
            // Nothing to do (the record is gone or was never registered): the task is over.
            Err(ExecuteError::Domain(RecordError::NotFound)) => ("done", None),
            Err(error) => ("pending", Some(error.to_string())),
        };
        let retry_at = state.clock.now().millis() + 1000 * (1 << attempts.clamp(0, 10));
        db_execute!(
            &state.db,
            "UPDATE record_binding_tasks SET status = $2, attempts = attempts + 1, last_error = $3,
                    next_attempt_at = $4 WHERE id = $1",
            &id,
            status,
            error,
            retry_at,
        )?;
        done += 1;
    }
    Ok(done)
}

/// Runs the binder's tasks whenever the binder projection commits (and on a timer).
pub async fn binding_loop(
    state: SharedState,
    wake: std::sync::Arc<tokio::sync::Notify>,
    poll: Duration,
    mut shutdown: Shutdown,
) {
    while !shutdown.is_triggered() {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match run_binding_tasks(&state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(error = format!("{error:#}"), "record binding failed"),
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait() => {}
        }
    }
}
