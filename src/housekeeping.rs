//! Deletes short-lived rows once they can no longer matter: captchas, recovery tickets, OAuth
//! states, SMS codes and sessions a day after they expired, rate-limit windows a day old, and
//! idempotency records older than their window (`XUEXIN_IDEMPOTENCY_WINDOW_SECONDS`).
//! (Nothing here is history: the event log keeps every change.)

use crate::shutdown::Shutdown;
use crate::store::Db;
use std::time::Duration;
use xuexin_domain::Clock;
use xuexin_projections::db_execute;

/// What housekeeping uses: the tables, the clock, and how long idempotent answers are kept.
#[derive(Clone)]
pub struct Housekeeper {
    pub db: Db,
    pub clock: std::sync::Arc<dyn Clock>,
    pub idempotency_window: std::time::Duration,
}

const GRACE_MILLIS: i64 = 24 * 3600 * 1000;
const EVERY: Duration = Duration::from_secs(600);

/// One sweep; returns how many rows went.
#[tracing::instrument(skip_all)]
pub async fn sweep(state: &Housekeeper) -> anyhow::Result<u64> {
    let cutoff = state.clock.now().millis() - GRACE_MILLIS;
    let mut removed = 0;
    for statement in [
        "DELETE FROM captchas WHERE expires_at < $1",
        "DELETE FROM recovery_tickets WHERE expires_at < $1",
        "DELETE FROM oauth_states WHERE expires_at < $1",
        "DELETE FROM sms_codes WHERE expires_at < $1",
        "DELETE FROM sessions WHERE expires_at < $1",
        "DELETE FROM rate_limits WHERE window_start < $1",
        // The OpenID provider's requests, codes and tokens (a spent refresh token stays until
        // it expires, so that its reuse is still caught).
        "DELETE FROM sso_requests WHERE expires_at < $1",
        "DELETE FROM sso_codes WHERE expires_at < $1",
        "DELETE FROM sso_tokens WHERE expires_at < $1",
        "DELETE FROM sso_signins WHERE created_at < $1
         AND session_hash NOT IN (SELECT token_hash FROM sessions)",
    ] {
        removed += db_execute!(&state.db, statement, cutoff)?;
    }
    // Idempotency records after their window (a repeat after that runs again).
    let window = state.idempotency_window.as_millis() as i64;
    removed += db_execute!(
        &state.db,
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        state.clock.now().millis() - window,
    )?;
    Ok(removed)
}

pub async fn housekeeping_loop(state: Housekeeper, mut shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        match sweep(&state).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired rows removed"),
            Err(error) => tracing::error!(error = format!("{error:#}"), "housekeeping failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait() => {}
        }
    }
}
