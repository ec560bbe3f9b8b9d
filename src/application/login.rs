//! Login by phone, document number or (verified) e-mail with the password. Names are resolved
//! through the aggregates that own them, so a login always sees the latest claims. An unknown name
//! costs one decoy verification on the same pool, so it answers the same, in about the same
//! time, as a wrong password.

use crate::config::Limit;
use crate::deferred::DeferredQueue;
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::sessions::Sessions;
use crate::store::{CommandMetadata, EventStore, ExecuteError, Loaded};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::AccountServices;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountEvent, AccountStatus};
use xuexin_domain::identity::Identity;
use xuexin_domain::ids::{identity_id, login_name_id, LoginNameKind, LoginVia};
use xuexin_domain::login_name::LoginName;
use xuexin_domain::roles::parse_staff_username;
use xuexin_domain::values::{
    document_number_digest, normalize_document_number, DocumentType, Email, Phone, Secret,
};
use xuexin_domain::Clock;
use xuexin_domain::{AccountId, Actor, Timestamp};

/// What login uses: the event store, the digest (document numbers and unknown names), the
/// hashing pool, the account's services, the rate limiter, sessions, the deferred queue, and
/// the per-client failure limits.
#[derive(Clone)]
pub struct Login {
    pub store: Arc<EventStore>,
    pub digest: DigestKey,
    pub hasher: Arc<HashPool>,
    pub account_services: AccountServices,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
    pub sessions: Sessions,
    pub deferred: DeferredQueue,
    /// Failed logins per client address.
    pub failures_per_ip: Limit,
    /// Failed logins per client address and name (below the lockout threshold).
    pub failures_per_ip_account: Limit,
}

/// Why a login did not open a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The name, the password, or both, were empty.
    #[error("the login name or the password is missing")]
    Missing { login: bool, password: bool },
    /// Wrong name or password (also: an account that cannot log in).
    #[error("wrong name or password")]
    InvalidCredentials,
    /// The right password for a locked account.
    #[error("the account is locked")]
    Locked {
        until: Timestamp,
        retry_after: Duration,
    },
    #[error("too many failed logins from this client")]
    RateLimited { retry_after: Duration },
    /// An external login that leads to no account.
    #[error("the external login is not linked")]
    NotLinked,
    /// The hashing pool is full or the account contended: try again in a moment.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct LoggedIn {
    pub account_id: AccountId,
    /// `Some(role)` for a staff account.
    pub role: Option<String>,
    /// For a staff account, what the session must do before anything else: `enrol` a second
    /// factor, or give its code (`required`).
    pub second_factor: Option<&'static str>,
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

fn candidates(services: &Login, login: &str) -> Vec<(Candidate, LoginVia)> {
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
        let digest = document_number_digest(&services.digest, &number);
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
    services: &Login,
    login: &str,
) -> anyhow::Result<Option<(AccountId, LoginVia)>> {
    Ok(resolve_loaded(services, login)
        .await?
        .map(|(account_id, via, _)| (account_id, via)))
}

/// [`resolve`], with the holder's account when finding it loaded it (to run the login on).
async fn resolve_loaded(
    services: &Login,
    login: &str,
) -> anyhow::Result<Option<(AccountId, LoginVia, Option<Loaded<Account>>)>> {
    for (candidate, via) in candidates(services, login) {
        let mut account = None;
        let holder = match candidate {
            Candidate::Name(kind, value) => {
                let id = login_name_id(kind, &value).to_string();
                match services
                    .store
                    .load::<LoginName>(&id)
                    .await?
                    .aggregate
                    .holder()
                {
                    // A name changed away a moment ago is held until its release task runs;
                    // it no longer leads to the account.
                    Some(holder) => {
                        let loaded = services.store.load::<Account>(&holder.to_string()).await?;
                        let uses =
                            crate::login_names::account_uses(&loaded.aggregate, kind, &value);
                        account = Some(loaded);
                        uses.then_some(holder)
                    }
                    None => None,
                }
            }
            Candidate::Identity(kind, digest) => {
                let id = identity_id(kind, &digest).to_string();
                services
                    .store
                    .load::<Identity>(&id)
                    .await?
                    .aggregate
                    .holder()
            }
        };
        if let Some(account_id) = holder {
            return Ok(Some((account_id, via, account)));
        }
    }
    Ok(None)
}

fn locked(until: Timestamp, now: Timestamp) -> LoginError {
    let seconds = ((until.millis() - now.millis()) / 1000).max(1) as u64;
    LoginError::Locked {
        until,
        retry_after: Duration::from_secs(seconds),
    }
}

/// Costs what a real verification costs, then answers "wrong name or password".
async fn decoy(services: &Login, password: &Secret) -> LoginError {
    match services.hasher.verify_decoy(password).await {
        Ok(()) => LoginError::InvalidCredentials,
        Err(_) => LoginError::Busy,
    }
}

/// A failed login, answered as such. The failure is queued, with or without an account, so a
/// wrong password for a known name and an unknown name cost the request the same one insert;
/// the account records it after the answer (`deferred`). An overloaded hasher decided
/// nothing: its attempt is given back instead.
async fn failed(
    services: &Login,
    problem: LoginError,
    account: Option<(AccountId, LoginVia)>,
    buckets: &[(String, crate::config::Limit)],
    request: &CommandMetadata,
) -> LoginError {
    if !matches!(problem, LoginError::InvalidCredentials) {
        return match forgive(services, buckets).await {
            Ok(()) => problem,
            Err(error) => error,
        };
    }
    let queued = services
        .deferred
        .enqueue(
            crate::deferred::Kind::LoginFailure,
            account.map(|(id, _)| id),
            account.map(|(_, via)| via),
            request,
        )
        .await;
    match queued {
        Ok(()) => problem,
        Err(error) => LoginError::Internal(error),
    }
}

#[tracing::instrument(skip_all)]
pub async fn login(
    services: &Login,
    login: &str,
    password: Secret,
    request: &CommandMetadata,
) -> Result<LoggedIn, LoginError> {
    let result = password_login(services, login, password, request).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(LoginError::Missing { .. }) => "missing",
        Err(LoginError::InvalidCredentials) => "invalid_credentials",
        Err(LoginError::Locked { .. }) => "locked",
        Err(LoginError::RateLimited { .. }) => "rate_limited",
        Err(LoginError::NotLinked) => "not_linked",
        Err(LoginError::Busy) => "busy",
        Err(LoginError::Internal(_)) => "error",
    };
    metrics::counter!("xuexin_logins_total", "outcome" => outcome).increment(1);
    result
}

async fn password_login(
    services: &Login,
    login: &str,
    password: Secret,
    request: &CommandMetadata,
) -> Result<LoggedIn, LoginError> {
    let (no_login, no_password) = (login.trim().is_empty(), password.is_empty());
    if no_login || no_password {
        return Err(LoginError::Missing {
            login: no_login,
            password: no_password,
        });
    }

    let (holder, account) = match resolve_loaded(services, login).await? {
        Some((account_id, via, account)) => (Some((account_id, via)), account),
        None => (None, None),
    };
    // Failures per client, counted before the password is tried and given back when it is
    // right: one client gets at most `login_failures_per_ip` wrong tries an hour, and fewer
    // for one name than it takes to lock the account (issue 13: lockout is no weapon).
    let buckets = client_buckets(services, login, holder.map(|(id, _)| id), request);
    count_failure_before(services, &buckets).await?;
    let Some((account_id, via)) = holder else {
        // The reads a known name costs: its account's events (none, for a new id).
        services
            .store
            .load::<Account>(&AccountId::new_random().to_string())
            .await?;
        let problem = decoy(services, &password).await;
        return Err(failed(services, problem, None, &buckets, request).await);
    };
    let metadata = CommandMetadata {
        actor: Actor::Account(account_id.to_string()),
        ..request.clone()
    };
    let result = services
        .store
        .execute_from::<Account>(
            &account_id.to_string(),
            account,
            AccountCommand::Login {
                password: password.clone(),
                via,
            },
            &services.account_services,
            &metadata,
        )
        .await;
    let committed = match result {
        Ok(committed) => committed,
        // Only the right password is told of a lock.
        Err(ExecuteError::Domain(AccountError::Locked { until })) => {
            forgive(services, &buckets).await?;
            return Err(locked(until, services.clock.now()));
        }
        Err(ExecuteError::Domain(AccountError::HasherUnavailable))
        | Err(ExecuteError::Contention) => {
            forgive(services, &buckets).await?;
            return Err(LoginError::Busy);
        }
        // Registering, abandoned, deactivated: as if the name were unknown.
        Err(ExecuteError::Domain(_)) => {
            let problem = decoy(services, &password).await;
            return Err(failed(services, problem, None, &buckets, request).await);
        }
        Err(ExecuteError::Store(error)) => return Err(LoginError::Internal(error)),
    };
    // A wrong password that locks the account is answered like any wrong password: the lock
    // is told to the right password only (and to the owner, by the messenger).
    let succeeded = committed
        .events
        .iter()
        .any(|event| matches!(event, AccountEvent::LoginSucceeded { .. }));
    if committed
        .events
        .iter()
        .any(|event| matches!(event, AccountEvent::AccountLocked { .. }))
    {
        metrics::counter!("xuexin_account_locks_total").increment(1);
    }
    if !succeeded {
        let problem = failed(
            services,
            LoginError::InvalidCredentials,
            Some((account_id, via)),
            &buckets,
            &metadata,
        )
        .await;
        return Err(problem);
    }
    forgive(services, &buckets).await?;
    open_session(services, account_id, &committed, request).await
}

/// The failure buckets of this client: all its logins, and its logins with this name (the
/// account it leads to, or the name itself when it leads nowhere: the same work either way).
fn client_buckets(
    services: &Login,
    login: &str,
    account: Option<AccountId>,
    request: &CommandMetadata,
) -> Vec<(String, crate::config::Limit)> {
    let Some(ip) = request.client_ip.as_deref() else {
        return Vec::new();
    };
    let name = account.map_or_else(
        || document_number_digest(&services.digest, &login.trim().to_lowercase()),
        |id| id.to_string(),
    );
    vec![
        (format!("login-fail-ip:{ip}"), services.failures_per_ip),
        (
            format!("login-fail-ip-name:{ip}:{name}"),
            services.failures_per_ip_account,
        ),
    ]
}

async fn count_failure_before(
    services: &Login,
    buckets: &[(String, crate::config::Limit)],
) -> Result<(), LoginError> {
    match services.limiter.hit_all(buckets).await? {
        Ok(()) => Ok(()),
        Err(exceeded) => Err(LoginError::RateLimited {
            retry_after: exceeded.retry_after,
        }),
    }
}

async fn forgive(
    services: &Login,
    buckets: &[(String, crate::config::Limit)],
) -> Result<(), LoginError> {
    services.limiter.release_all(buckets).await?;
    Ok(())
}

/// A session for a login the account has just recorded.
pub async fn open_session(
    services: &Login,
    account_id: AccountId,
    committed: &crate::store::Committed<Account>,
    request: &CommandMetadata,
) -> Result<LoggedIn, LoginError> {
    let session = services
        .sessions
        .create(
            account_id,
            request.client_ip.as_deref(),
            committed.position.unwrap_or(0),
            committed.aggregate.staff(),
            committed.aggregate.status() == Some(AccountStatus::PendingIdentityReview),
            request.user_agent.as_deref(),
        )
        .await?;
    Ok(LoggedIn {
        account_id,
        role: committed
            .aggregate
            .staff()
            .map(|s| s.role.as_str().to_string()),
        second_factor: committed.aggregate.staff().map(|_| {
            if committed.aggregate.second_factor().is_some() {
                "required"
            } else {
                "enrol"
            }
        }),
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
    services: &Login,
    provider: crate::oauth::Provider,
    subject: &str,
    request: &CommandMetadata,
) -> Result<LoggedIn, LoginError> {
    let name_id = login_name_id(provider.login_name_kind(), subject).to_string();
    let not_linked = || LoginError::NotLinked;
    let Some(account_id) = services
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
    let committed = services
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::ExternalLogin {
                provider: provider.as_str().to_string(),
                subject: subject.to_string(),
            },
            &services.account_services,
            &metadata,
        )
        .await
        .map_err(|error| match error {
            ExecuteError::Domain(AccountError::Locked { until }) => {
                locked(until, services.clock.now())
            }
            ExecuteError::Domain(_) => not_linked(),
            ExecuteError::Contention => LoginError::Busy,
            ExecuteError::Store(error) => LoginError::Internal(error),
        })?;
    open_session(services, account_id, &committed, request).await
}

/// 退出: ends this session.
#[tracing::instrument(skip_all)]
pub async fn logout(services: &Login, session: &crate::sessions::Session) -> anyhow::Result<()> {
    services.sessions.revoke(&session.token_hash).await
}

/// One of the account's sessions, as 账号管理 lists it.
pub struct SessionView {
    pub id: String,
    /// The browser and system, as far as the User-Agent tells (else the catalogue's 未知设备).
    pub device: String,
    pub client_ip: Option<String>,
    pub created_at: xuexin_domain::Timestamp,
    pub expires_at: xuexin_domain::Timestamp,
    /// The session that asked.
    pub current: bool,
}

/// A short name of the device a User-Agent describes: `Chrome · Windows`.
pub fn device_of(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|a| !a.trim().is_empty()) else {
        return crate::messages::text("label.unknown_device").to_string();
    };
    let has = |needle: &str| agent.contains(needle);
    // Order matters: Edge and WeChat also say Chrome, Chrome also says Safari.
    let browser = [
        ("MicroMessenger", "WeChat"),
        ("AlipayClient", "Alipay"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(needle, _)| has(needle))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| has(needle))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} · {system}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

/// The account's live sessions, newest first.
#[tracing::instrument(skip_all)]
pub async fn sessions(
    services: &Login,
    session: &crate::sessions::Session,
) -> anyhow::Result<Vec<SessionView>> {
    let listed = services
        .sessions
        .list(session.account_id, &session.token_hash)
        .await?;
    Ok(listed
        .into_iter()
        .map(|info| SessionView {
            device: device_of(info.user_agent.as_deref()),
            id: info.id,
            client_ip: info.client_ip,
            created_at: info.created_at,
            expires_at: info.expires_at,
            current: info.current,
        })
        .collect())
}

/// 退出 one session of the account (this one too, which is logging out); false when the
/// account has no live session of that id.
#[tracing::instrument(skip_all)]
pub async fn end_session(
    services: &Login,
    session: &crate::sessions::Session,
    id: &str,
) -> anyhow::Result<bool> {
    services.sessions.revoke_by_id(session.account_id, id).await
}

/// 退出其他会话: every session of the account but this one; how many ended.
#[tracing::instrument(skip_all)]
pub async fn end_other_sessions(
    services: &Login,
    session: &crate::sessions::Session,
) -> anyhow::Result<u64> {
    services
        .sessions
        .revoke_others(session.account_id, &session.token_hash)
        .await
}

#[cfg(test)]
mod device_tests {
    use super::device_of;

    #[test]
    fn a_user_agent_is_named_by_its_browser_and_system() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_of(Some(chrome)), "Chrome · Windows");
        let wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.40";
        assert_eq!(device_of(Some(wechat)), "WeChat · iOS");
        let edge = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(device_of(Some(edge)), "Edge · macOS");
        assert_eq!(device_of(Some("curl/8.5.0")), "curl");
        assert_eq!(device_of(None), "未知设备");
    }
}
