//! Login by phone, document number or (verified) e-mail with the password. An unknown name
//! costs one decoy verification on the same pool, so it answers the same, in about the same
//! time, as a wrong password.

use crate::app::AppState;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::store::{CommandMetadata, ExecuteError};
use std::time::Duration;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountEvent};
use xuexin_domain::ids::{login_name_key, LoginNameKind, LoginVia};
use xuexin_domain::values::{
    document_number_digest, normalize_document_number, Email, Phone, Secret,
};
use xuexin_domain::{AccountId, Actor, Timestamp};
use xuexin_projections::login_index::{self, id_number_key, LoginEntry};

pub struct LoggedIn {
    pub account_id: AccountId,
    pub token: String,
    pub expires_at: Timestamp,
    pub position: Option<i64>,
    pub status: String,
}

/// The index keys a typed login name could be, most likely first.
fn candidates(state: &AppState, login: &str) -> Vec<(String, LoginVia)> {
    let login = login.trim();
    let mut keys = Vec::new();
    if login.contains('@') {
        if let Ok(email) = Email::parse(login) {
            keys.push((
                login_name_key(LoginNameKind::Email, email.as_str()),
                LoginVia::Email,
            ));
        }
        return keys;
    }
    if let Ok(phone) = Phone::parse(login) {
        keys.push((
            login_name_key(LoginNameKind::Phone, phone.as_str()),
            LoginVia::Phone,
        ));
    }
    let number = normalize_document_number(login);
    if !number.is_empty() {
        keys.push((
            id_number_key(&document_number_digest(&state.digest, &number)),
            LoginVia::IdNumber,
        ));
    }
    keys
}

async fn resolve(state: &AppState, login: &str) -> anyhow::Result<Option<(LoginEntry, LoginVia)>> {
    for (key, via) in candidates(state, login) {
        if let Some(entry) = login_index::lookup(&state.db, &key).await? {
            // An e-mail logs in only once it is verified (seed 001: "验证通过后可凭此邮箱…").
            if via == LoginVia::Email && !entry.email_verified {
                continue;
            }
            return Ok(Some((entry, via)));
        }
    }
    Ok(None)
}

fn invalid_credentials() -> Problem {
    Problem::new(ProblemKind::Unauthorized, "invalid_credentials")
}

fn locked(until: Timestamp, now: Timestamp) -> Problem {
    let seconds = ((until.millis() - now.millis()) / 1000).max(1) as u64;
    let mut problem = Problem::new(ProblemKind::Locked, "account_locked")
        .with_extra("locked_until", until.to_rfc3339());
    problem.retry_after = Some(Duration::from_secs(seconds));
    problem
}

/// Costs what a real verification costs, then answers "wrong name or password".
async fn decoy(state: &AppState, password: &Secret) -> Problem {
    match state.hasher.verify_decoy(password).await {
        Ok(()) => invalid_credentials(),
        Err(_) => Problem::overloaded(Duration::from_secs(1)),
    }
}

#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    login: &str,
    password: Secret,
    request: &CommandMetadata,
) -> Result<LoggedIn, Problem> {
    let mut missing = Vec::new();
    if login.trim().is_empty() {
        missing.push(FieldError::new("login", "login_required"));
    }
    if password.is_empty() {
        missing.push(FieldError::new("password", "password_required"));
    }
    if !missing.is_empty() {
        return Err(Problem::validation(missing));
    }

    let Some((entry, via)) = resolve(state, login).await? else {
        return Err(decoy(state, &password).await);
    };
    let Some(account_id) = AccountId::parse(&entry.account_id) else {
        return Err(decoy(state, &password).await);
    };
    let metadata = CommandMetadata {
        actor: Actor::Account(account_id.to_string()),
        ..request.clone()
    };
    let result = state
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::Login {
                password: password.clone(),
                via,
            },
            &state.account_services,
            &metadata,
        )
        .await;
    let committed = match result {
        Ok(committed) => committed,
        Err(ExecuteError::Domain(AccountError::Locked { until })) => {
            return Err(locked(until, state.clock.now()))
        }
        Err(ExecuteError::Domain(AccountError::HasherUnavailable))
        | Err(ExecuteError::Contention) => return Err(Problem::overloaded(Duration::from_secs(1))),
        // Registering, abandoned, deactivated: as if the name were unknown.
        Err(ExecuteError::Domain(_)) => return Err(decoy(state, &password).await),
        Err(ExecuteError::Store(error)) => return Err(Problem::internal(error)),
    };
    let mut succeeded = false;
    for event in &committed.events {
        match event {
            AccountEvent::LoginSucceeded { .. } => succeeded = true,
            AccountEvent::AccountLocked { until, .. } => {
                return Err(locked(*until, state.clock.now()))
            }
            _ => {}
        }
    }
    if !succeeded {
        return Err(invalid_credentials());
    }
    let session = state
        .sessions
        .create(account_id, request.client_ip.as_deref())
        .await?;
    Ok(LoggedIn {
        account_id,
        token: session.token,
        expires_at: session.expires_at,
        position: committed.position,
        status: committed
            .aggregate
            .status()
            .map_or("Active", |s| s.as_str())
            .to_string(),
    })
}
