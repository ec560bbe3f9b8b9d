//! Login by phone, document number or (verified) e-mail with the password. Names are resolved
//! through the aggregates that own them, so a login always sees the latest claims. An unknown name
//! costs one decoy verification on the same pool, so it answers the same, in about the same
//! time, as a wrong password.

use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::AppState;
use crate::store::{CommandMetadata, ExecuteError};
use std::time::Duration;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountEvent, AccountStatus};
use xuexin_domain::identity::Identity;
use xuexin_domain::ids::{identity_id, login_name_id, LoginNameKind, LoginVia};
use xuexin_domain::login_name::LoginName;
use xuexin_domain::roles::parse_staff_username;
use xuexin_domain::values::{
    document_number_digest, normalize_document_number, DocumentType, Email, Phone, Secret,
};
use xuexin_domain::{AccountId, Actor, Timestamp};

pub struct LoggedIn {
    pub account_id: AccountId,
    /// `Some(role)` for a staff account.
    pub role: Option<String>,
    pub token: String,
    pub expires_at: Timestamp,
    pub position: Option<i64>,
    pub status: String,
}

/// The aggregates that could hold a typed login name, most likely first.
enum Candidate {
    Name(LoginNameKind, String),
    Identity(DocumentType, String),
}

fn candidates(state: &AppState, login: &str) -> Vec<(Candidate, LoginVia)> {
    let login = login.trim();
    let mut found = Vec::new();
    if let Some(username) = login.strip_prefix("staff:").and_then(parse_staff_username) {
        found.push((
            Candidate::Name(LoginNameKind::Staff, username),
            LoginVia::StaffUsername,
        ));
        return found;
    }
    if login.contains('@') {
        if let Ok(email) = Email::parse(login) {
            found.push((
                Candidate::Name(LoginNameKind::Email, email.as_str().into()),
                LoginVia::Email,
            ));
        }
        return found;
    }
    if let Ok(phone) = Phone::parse(login) {
        found.push((
            Candidate::Name(LoginNameKind::Phone, phone.as_str().into()),
            LoginVia::Phone,
        ));
    }
    if let Some(username) = parse_staff_username(login) {
        found.push((
            Candidate::Name(LoginNameKind::Staff, username),
            LoginVia::StaffUsername,
        ));
    }
    let number = normalize_document_number(login);
    if !number.is_empty() {
        let digest = document_number_digest(&state.digest, &number);
        for kind in [
            DocumentType::ResidentIdCard,
            DocumentType::Other,
            DocumentType::OverseasChineseIdOrPassport,
        ] {
            found.push((
                Candidate::Identity(kind, digest.clone()),
                LoginVia::IdNumber,
            ));
        }
    }
    found
}

/// Who holds the name, from the aggregates themselves (not the login index), so that a login
/// right after registering, or after a name moved, sees the current holder.
pub async fn resolve(
    state: &AppState,
    login: &str,
) -> anyhow::Result<Option<(AccountId, LoginVia)>> {
    for (candidate, via) in candidates(state, login) {
        let holder = match candidate {
            Candidate::Name(kind, value) => {
                let id = login_name_id(kind, &value).to_string();
                match state.store.load::<LoginName>(&id).await?.aggregate.holder() {
                    // A name changed away a moment ago is held until its release task runs;
                    // it no longer leads to the account.
                    Some(holder) => {
                        let account = state
                            .store
                            .load::<Account>(&holder.to_string())
                            .await?
                            .aggregate;
                        crate::login_names::account_uses(&account, kind, &value).then_some(holder)
                    }
                    None => None,
                }
            }
            Candidate::Identity(kind, digest) => {
                let id = identity_id(kind, &digest).to_string();
                state.store.load::<Identity>(&id).await?.aggregate.holder()
            }
        };
        if let Some(account_id) = holder {
            return Ok(Some((account_id, via)));
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

/// A failed login, answered as such. The failure is queued, with or without an account, so a
/// wrong password for a known name and an unknown name cost the request the same one insert;
/// the account records it after the answer (`deferred`). An overloaded hasher decided
/// nothing: its attempt is given back instead.
async fn failed(
    state: &AppState,
    problem: Problem,
    account: Option<(AccountId, LoginVia)>,
    buckets: &[(String, crate::config::Limit)],
    request: &CommandMetadata,
) -> Problem {
    if problem.code != "invalid_credentials" {
        return match forgive(state, buckets).await {
            Ok(()) => problem,
            Err(error) => error,
        };
    }
    let queued = crate::deferred::enqueue(
        state,
        crate::deferred::Kind::LoginFailure,
        account.map(|(id, _)| id),
        account.map(|(_, via)| via),
        request,
    )
    .await;
    match queued {
        Ok(()) => problem,
        Err(error) => Problem::internal(error),
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

    let holder = resolve(state, login).await?;
    // Failures per client, counted before the password is tried and given back when it is
    // right: one client gets at most `login_failures_per_ip` wrong tries an hour, and fewer
    // for one name than it takes to lock the account (issue 13: lockout is no weapon).
    let buckets = client_buckets(state, login, holder.map(|(id, _)| id), request);
    count_failure_before(state, &buckets).await?;
    let Some((account_id, via)) = holder else {
        // The reads a known name costs: its account's events (none, for a new id).
        state
            .store
            .load::<Account>(&AccountId::new_random().to_string())
            .await?;
        let problem = decoy(state, &password).await;
        return Err(failed(state, problem, None, &buckets, request).await);
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
        // Only the right password is told of a lock.
        Err(ExecuteError::Domain(AccountError::Locked { until })) => {
            forgive(state, &buckets).await?;
            return Err(locked(until, state.clock.now()));
        }
        Err(ExecuteError::Domain(AccountError::HasherUnavailable))
        | Err(ExecuteError::Contention) => {
            forgive(state, &buckets).await?;
            return Err(Problem::overloaded(Duration::from_secs(1)));
        }
        // Registering, abandoned, deactivated: as if the name were unknown.
        Err(ExecuteError::Domain(_)) => {
            let problem = decoy(state, &password).await;
            return Err(failed(state, problem, None, &buckets, request).await);
        }
        Err(ExecuteError::Store(error)) => return Err(Problem::internal(error)),
    };
    // A wrong password that locks the account is answered like any wrong password: the lock
    // is told to the right password only (and to the owner, by the messenger).
    let succeeded = committed
        .events
        .iter()
        .any(|event| matches!(event, AccountEvent::LoginSucceeded { .. }));
    if !succeeded {
        let problem = failed(
            state,
            invalid_credentials(),
            Some((account_id, via)),
            &buckets,
            &metadata,
        )
        .await;
        return Err(problem);
    }
    forgive(state, &buckets).await?;
    open_session(state, account_id, &committed, request).await
}

/// The failure buckets of this client: all its logins, and its logins with this name (the
/// account it leads to, or the name itself when it leads nowhere: the same work either way).
fn client_buckets(
    state: &AppState,
    login: &str,
    account: Option<AccountId>,
    request: &CommandMetadata,
) -> Vec<(String, crate::config::Limit)> {
    let Some(ip) = request.client_ip.as_deref() else {
        return Vec::new();
    };
    let name = account.map_or_else(
        || document_number_digest(&state.digest, &login.trim().to_lowercase()),
        |id| id.to_string(),
    );
    let limits = &state.config.limits;
    vec![
        (format!("login-fail-ip:{ip}"), limits.login_failures_per_ip),
        (
            format!("login-fail-ip-name:{ip}:{name}"),
            limits.login_failures_per_ip_account,
        ),
    ]
}

async fn count_failure_before(
    state: &AppState,
    buckets: &[(String, crate::config::Limit)],
) -> Result<(), Problem> {
    match state.limiter.hit_all(buckets).await? {
        Ok(()) => Ok(()),
        Err(exceeded) => Err(Problem::rate_limited(
            "login_rate_limited",
            exceeded.retry_after,
        )),
    }
}

async fn forgive(
    state: &AppState,
    buckets: &[(String, crate::config::Limit)],
) -> Result<(), Problem> {
    state.limiter.release_all(buckets).await?;
    Ok(())
}

/// A session for a login the account has just recorded.
pub async fn open_session(
    state: &AppState,
    account_id: AccountId,
    committed: &crate::store::Committed<Account>,
    request: &CommandMetadata,
) -> Result<LoggedIn, Problem> {
    let session = state
        .sessions
        .create(
            account_id,
            request.client_ip.as_deref(),
            committed.position.unwrap_or(0),
            committed.aggregate.staff(),
            committed.aggregate.status() == Some(AccountStatus::PendingIdentityReview),
        )
        .await?;
    Ok(LoggedIn {
        account_id,
        role: committed
            .aggregate
            .staff()
            .map(|s| s.role.as_str().to_string()),
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

/// A login through a linked WeChat or Alipay account: the login name leads to the account,
/// whose own link must still name this subject.
#[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
pub async fn external_login(
    state: &AppState,
    provider: crate::oauth::Provider,
    subject: &str,
    request: &CommandMetadata,
) -> Result<LoggedIn, Problem> {
    let name_id = login_name_id(provider.login_name_kind(), subject).to_string();
    let not_linked = || Problem::new(ProblemKind::NotFound, "external_login_not_linked");
    let Some(account_id) = state
        .store
        .load::<LoginName>(&name_id)
        .await?
        .aggregate
        .holder()
    else {
        return Err(not_linked());
    };
    let metadata = CommandMetadata {
        actor: Actor::Account(account_id.to_string()),
        ..request.clone()
    };
    let committed = state
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::ExternalLogin {
                provider: provider.as_str().to_string(),
                subject: subject.to_string(),
            },
            &state.account_services,
            &metadata,
        )
        .await
        .map_err(|error| match error {
            ExecuteError::Domain(AccountError::Locked { until }) => {
                locked(until, state.clock.now())
            }
            ExecuteError::Domain(_) => not_linked(),
            ExecuteError::Contention => Problem::overloaded(Duration::from_secs(1)),
            ExecuteError::Store(error) => Problem::internal(error),
        })?;
    open_session(state, account_id, &committed, request).await
}
