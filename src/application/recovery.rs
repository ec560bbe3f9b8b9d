//! Finding a username and recovering a password (seeds 000, 002).
//!
//! Password recovery runs in steps, each with its own token kind, so a token from one step
//! cannot skip the next:
//! 1. username + captcha → a `start` ticket and the methods the account has bound;
//! 2. a method proves the person: an SMS code to the bound phone, the three security answers
//!    (each giving a `reset` token), or name + document number (which mails a `reset` link to
//!    the verified security e-mail);
//! 3. the `reset` token, once, sets a new password: `PasswordReset`, every session revoked, every
//!    outstanding token dead, the bound phone and e-mail notified; no automatic login.
//!
//! Tokens are random, stored as SHA-256, short-lived and name the account's credential
//! generation, which every reset or change of the password advances.

use super::FieldRefusal;
use crate::application::account::AccountManagement;
use crate::application::login::Login;
use crate::captcha::{CaptchaError, Captchas};
use crate::codes::CodePurpose;
use crate::codes::{CodeError, SmsCodes};
use crate::config::Limit;
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::sessions::Sessions;
use crate::store::tickets::{consume_ticket, find_ticket, issue_ticket};
pub use crate::store::tickets::{Stage, Ticket};
use crate::store::{CommandMetadata, ExecuteError};
use crate::store::{Db, EventStore};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::AccountServices;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountEvent, AccountStatus};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::identity::Identity;
use xuexin_domain::ids::identity_id;
use xuexin_domain::ids::LoginVia;
use xuexin_domain::values::password::Password;
use xuexin_domain::values::{
    document_number_digest, mask_email, mask_phone, normalize_answer, normalize_document_number,
    DocumentType, PersonName, Phone, Secret,
};
use xuexin_domain::Clock;
use xuexin_domain::{AccountId, Actor, Timestamp};

/// A start ticket lives a quarter of an hour; so does a reset token from an SMS code or the
/// security questions. (A reset link by e-mail lives an hour: `messenger::RESET_LINK_SECONDS`.)
pub const START_TICKET_SECONDS: i64 = 15 * 60;
pub const RESET_TICKET_SECONDS: i64 = 15 * 60;

/// Seed 002: after a few failed look-ups, 请求被取消，不能频繁使用该功能.
pub const FIND_USERNAME_FAILURES: Limit = Limit {
    max: 5,
    window: Duration::from_secs(3600),
};
/// Starts of recovery, per client (known and unknown names alike).
pub const RECOVERY_STARTS: Limit = Limit {
    max: 20,
    window: Duration::from_secs(3600),
};
/// Wrong name + document number before the reset link, per account.
pub const EMAIL_IDENTITY_FAILURES: Limit = Limit {
    max: 5,
    window: Duration::from_secs(3600),
};

/// Reset links mailed, per account (a mailbox is not to be flooded).
pub const RESET_LINKS: Limit = Limit {
    max: 3,
    window: Duration::from_secs(3600),
};

/// What recovery uses.
#[derive(Clone)]
pub struct Recovery {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub captchas: Captchas,
    pub limiter: RateLimiter,
    pub digest: DigestKey,
    pub codes: SmsCodes,
    pub hasher: Arc<HashPool>,
    pub account_services: AccountServices,
    pub sessions: Sessions,
    /// Name resolution, as login resolves names.
    pub login: Login,
    /// What a change of password sets off (tickets and codes retired).
    pub account: AccountManagement,
    /// New captchas per client address.
    pub captchas_per_ip: crate::config::Limit,
}

/// 图片验证码: a new captcha (five minutes, one attempt), limited per client address.
#[tracing::instrument(skip_all)]
pub async fn new_captcha(
    state: &Recovery,
    client_ip: Option<&str>,
) -> Result<crate::captcha::NewCaptcha, RecoveryError> {
    if let Some(ip) = client_ip {
        if let Err(exceeded) = state
            .limiter
            .hit(&format!("captcha-ip:{ip}"), state.captchas_per_ip)
            .await?
        {
            return Err(too_often("captcha_rate_limited", exceeded.retry_after));
        }
    }
    Ok(state.captchas.create().await?)
}

/// Why a recovery step was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Fields of the request are invalid (422), each named.
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldRefusal>),
    /// Too many attempts; `code` says which limit.
    #[error("{code}")]
    RateLimited {
        code: &'static str,
        retry_after: Duration,
    },
    /// The ticket or token is unknown, used, expired or of another generation.
    #[error("the recovery ticket is invalid")]
    TicketInvalid,
    /// The account cannot recover this way.
    #[error("this recovery method is unavailable")]
    MethodUnavailable,
    /// Three wrong answers closed the security questions for a day.
    #[error("the security questions are closed")]
    QuestionsClosed {
        until: Timestamp,
        retry_after: Duration,
    },
    /// The security answers were wrong (at `answers`), with the attempts left.
    #[error("wrong security answers")]
    AnswersWrong { attempts_left: u32 },
    /// Name + document number are not the account's (at `document_number`).
    #[error("the name or document number does not match")]
    IdentityMismatch,
    #[error("the SMS code was refused")]
    Code(#[from] CodeError),
    #[error("the account refused: {0}")]
    Refused(ExecuteError<AccountError>),
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl RecoveryError {
    fn at(field: &str, code: &'static str) -> Self {
        Self::Invalid(vec![FieldRefusal::new(field, code)])
    }
}

fn ticket_invalid() -> RecoveryError {
    RecoveryError::TicketInvalid
}

/// Whether an account may be recovered here: a person's account (staff accounts are not
/// recovered through these public endpoints), not an unfinished, abandoned or replaced one.
fn recoverable(account: &Account) -> bool {
    account.staff().is_none()
        && matches!(
            account.status(),
            Some(AccountStatus::Active | AccountStatus::PendingIdentityReview)
        )
}

/// The name the person logs in with, masked: the phone (`136****1011`), else the verified
/// e-mail, else the document number.
/// The name a person typed, masked as an account's username would be.
fn mask_typed_username(typed: &str) -> String {
    if let Ok(phone) = Phone::parse(typed) {
        return phone.masked();
    }
    if let Ok(email) = xuexin_domain::values::email::Email::parse(typed) {
        return email.masked();
    }
    xuexin_domain::values::document::mask_document_number(&normalize_document_number(typed))
}

pub fn masked_username(account: &Account) -> String {
    if let Some(phone) = account.phone() {
        return mask_phone(phone);
    }
    if let Some(email) = account.email().filter(|e| e.verified) {
        return mask_email(&email.address);
    }
    account
        .document()
        .map(|d| d.masked.clone())
        .unwrap_or_default()
}

fn captcha_refusal(error: CaptchaError) -> RecoveryError {
    let code = match error {
        CaptchaError::Required => "captcha_required",
        CaptchaError::Invalid => "captcha_invalid",
    };
    RecoveryError::at("captcha_answer", code)
}

async fn require_captcha(
    state: &Recovery,
    id: Option<&str>,
    answer: Option<&str>,
) -> Result<(), RecoveryError> {
    state
        .captchas
        .check(id, answer)
        .await?
        .map_err(captcha_refusal)
}

fn too_often(code: &'static str, retry_after: Duration) -> RecoveryError {
    RecoveryError::RateLimited { code, retry_after }
}

/// Counts an attempt against every bucket before it is tried, refusing it once a bucket is
/// over its limit: a burst of parallel attempts is decided one by one in the counter, never
/// all at once against the same stale count. A limit on failures gives the count back once
/// the attempt succeeds ([`forgive`]).
async fn count_attempt(
    state: &Recovery,
    buckets: &[String],
    limit: Limit,
    code: &'static str,
) -> Result<(), RecoveryError> {
    let buckets: Vec<(String, Limit)> = buckets.iter().map(|b| (b.clone(), limit)).collect();
    match state.limiter.hit_all(&buckets).await? {
        Ok(()) => Ok(()),
        Err(exceeded) => Err(too_often(code, exceeded.retry_after)),
    }
}

/// Gives back the attempt [`count_attempt`] counted: it succeeded.
async fn forgive(state: &Recovery, buckets: &[String], limit: Limit) -> Result<(), RecoveryError> {
    let buckets: Vec<(String, Limit)> = buckets.iter().map(|b| (b.clone(), limit)).collect();
    state.limiter.release_all(&buckets).await?;
    Ok(())
}

/// The account holding a document number under any document type, if it is recoverable.
async fn holder_of_document(
    state: &Recovery,
    normalized_number: &str,
) -> anyhow::Result<Option<(AccountId, Account)>> {
    let digest = document_number_digest(&state.digest, normalized_number);
    let mut holder = None;
    for kind in [
        DocumentType::ResidentIdCard,
        DocumentType::Other,
        DocumentType::OverseasChineseIdOrPassport,
    ] {
        let id = identity_id(kind, &digest).to_string();
        if let Some(account_id) = state.store.load::<Identity>(&id).await?.aggregate.holder() {
            holder = Some(account_id);
            break;
        }
    }
    // The same reads whether or not the number is known, so the time does not tell.
    let account_key = holder.map_or_else(|| AccountId::new_random().to_string(), |a| a.to_string());
    let account = state.store.load::<Account>(&account_key).await?.aggregate;
    Ok(holder
        .filter(|_| recoverable(&account))
        .map(|id| (id, account)))
}

/// Whether `name` + `document_number` are the account's, compared as the domain stores them.
fn identity_matches(
    state: &Recovery,
    account: &Account,
    name: &str,
    document_number: &str,
) -> bool {
    let Ok(name) = PersonName::parse(name) else {
        return false;
    };
    let number = normalize_document_number(document_number);
    let digest = document_number_digest(&state.digest, &number);
    let same_number = account.document().is_some_and(|d| {
        crate::security::constant_time_eq(d.number_digest.as_bytes(), digest.as_bytes())
    });
    same_number && account.name() == name.as_str()
}

pub struct FoundUsername {
    pub found: bool,
    pub username: Option<String>,
}

/// 找回用户名: document number + name + captcha → the masked username.
#[tracing::instrument(skip_all)]
pub async fn find_username(
    state: &Recovery,
    name: Option<&str>,
    document_number: Option<&str>,
    captcha_id: Option<&str>,
    captcha_answer: Option<&str>,
    client_ip: Option<&str>,
) -> Result<FoundUsername, RecoveryError> {
    let name = name.map(str::trim).unwrap_or("");
    let number = normalize_document_number(document_number.unwrap_or(""));
    let mut errors = Vec::new();
    if PersonName::parse(name).is_err() {
        errors.push(FieldRefusal::new("name", "name_format"));
    }
    if number.is_empty() {
        errors.push(FieldRefusal::new("document_number", "id_number_format"));
    }
    if !errors.is_empty() {
        return Err(RecoveryError::Invalid(errors));
    }
    let digest = document_number_digest(&state.digest, &number);
    let mut buckets = vec![format!("find-username-doc:{digest}")];
    if let Some(ip) = client_ip {
        buckets.push(format!("find-username-ip:{ip}"));
    }
    count_attempt(
        state,
        &buckets,
        FIND_USERNAME_FAILURES,
        "find_username_rate_limited",
    )
    .await?;
    require_captcha(state, captcha_id, captcha_answer).await?;
    let holder = holder_of_document(state, &number).await?;
    let found = holder
        .as_ref()
        .filter(|(_, account)| identity_matches(state, account, name, &number))
        .map(|(_, account)| masked_username(account));
    if found.is_some() {
        forgive(state, &buckets, FIND_USERNAME_FAILURES).await?;
    }
    Ok(FoundUsername {
        found: found.is_some(),
        username: found,
    })
}

/// A recovery method the account has bound, with where it leads (masked).
pub struct Method {
    pub method: &'static str,
    pub target: Option<String>,
}

pub struct Started {
    pub ticket: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub methods: Vec<Method>,
    pub username: String,
}

fn methods_of(account: &Account) -> Vec<Method> {
    let mut methods = Vec::new();
    if let Some(phone) = account.phone() {
        methods.push(Method {
            method: "sms",
            target: Some(mask_phone(phone)),
        });
    }
    if let Some(email) = account.email().filter(|e| e.verified) {
        methods.push(Method {
            method: "email",
            target: Some(mask_email(&email.address)),
        });
    }
    if !account.security_questions().is_empty() {
        methods.push(Method {
            method: "security_questions",
            target: None,
        });
    }
    methods
}

/// 找回密码, step 1: the username (phone, document number or verified e-mail) + captcha.
#[tracing::instrument(skip_all)]
pub async fn start(
    state: &Recovery,
    username: Option<&str>,
    captcha_id: Option<&str>,
    captcha_answer: Option<&str>,
    client_ip: Option<&str>,
) -> Result<Started, RecoveryError> {
    let username = username.map(str::trim).unwrap_or("");
    if username.is_empty() {
        return Err(RecoveryError::at("username", "login_required"));
    }
    // Every start counts, known name or not: a count of unknown names alone would tell them
    // apart by when the 429 comes.
    let buckets: Vec<String> = client_ip
        .map(|ip| vec![format!("recovery-start-ip:{ip}")])
        .unwrap_or_default();
    count_attempt(state, &buckets, RECOVERY_STARTS, "recovery_rate_limited").await?;
    require_captcha(state, captcha_id, captcha_answer).await?;
    let holder = crate::application::login::resolve(&state.login, username).await?;
    // The same reads whether or not the name is known, so the time does not tell.
    let account_key = holder.map_or_else(
        || AccountId::new_random().to_string(),
        |(a, _)| a.to_string(),
    );
    let loaded = state.store.load::<Account>(&account_key).await?;
    let account = loaded.aggregate;
    // An e-mail is a username only once verified (as at login).
    let usable =
        |via: LoginVia| via != LoginVia::Email || account.email().is_some_and(|e| e.verified);
    let Some((account_id, _)) = holder.filter(|(_, via)| recoverable(&account) && usable(*via))
    else {
        // Issue 13: the same answer as an account with nothing bound, not a 404.
        return Ok(Started {
            ticket: None,
            expires_at: None,
            methods: Vec::new(),
            username: mask_typed_username(username),
        });
    };
    let methods = methods_of(&account);
    if methods.is_empty() {
        // Seed 000: nothing bound — the way out is to register again.
        return Ok(Started {
            ticket: None,
            expires_at: None,
            methods,
            username: masked_username(&account),
        });
    }
    let now = state.clock.now();
    let expires_at = now.plus_seconds(START_TICKET_SECONDS);
    let ticket = issue_ticket(
        &state.db,
        &account_id.to_string(),
        Stage::Start,
        None,
        account.credential_generation(),
        expires_at,
        now,
    )
    .await?;
    Ok(Started {
        ticket: Some(ticket),
        expires_at: Some(expires_at),
        methods,
        username: masked_username(&account),
    })
}

/// The live token of `stage` and its account, still recoverable and of the same generation.
async fn open_stage(
    state: &Recovery,
    token: Option<&str>,
    stage: Stage,
) -> Result<(Ticket, Account), RecoveryError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ticket_invalid)?;
    let ticket = find_ticket(&state.db, token, stage, state.clock.now())
        .await?
        .ok_or_else(ticket_invalid)?;
    let account = state
        .store
        .load::<Account>(&ticket.account_id.to_string())
        .await?
        .aggregate;
    if !recoverable(&account) || account.credential_generation() != ticket.generation {
        return Err(ticket_invalid());
    }
    Ok((ticket, account))
}

/// The start ticket and its account.
async fn open_ticket(
    state: &Recovery,
    ticket: Option<&str>,
) -> Result<(Ticket, Account), RecoveryError> {
    open_stage(state, ticket, Stage::Start).await
}

/// The phone the account has bound, for the SMS path.
fn bound_phone(account: &Account) -> Result<Phone, RecoveryError> {
    account
        .phone()
        .and_then(|p| Phone::parse(p).ok())
        .ok_or_else(method_unavailable)
}

fn method_unavailable() -> RecoveryError {
    RecoveryError::MethodUnavailable
}

pub struct CodeSent {
    pub sent_to: String,
    pub expires_at: Timestamp,
}

/// SMS path: a 10-minute code to the bound phone.
#[tracing::instrument(skip_all)]
pub async fn send_sms_code(
    state: &Recovery,
    ticket: Option<&str>,
    client_ip: Option<&str>,
) -> Result<CodeSent, RecoveryError> {
    let (_, account) = open_ticket(state, ticket).await?;
    let phone = bound_phone(&account)?;
    let sent = state
        .codes
        .send(&phone, CodePurpose::Recover, client_ip)
        .await?;
    Ok(CodeSent {
        sent_to: phone.masked(),
        expires_at: sent.expires_at,
    })
}

pub struct ResetAllowed {
    pub reset_token: String,
    pub expires_at: Timestamp,
}

async fn allow_reset(
    state: &Recovery,
    ticket: &Ticket,
    method: &str,
    generation: u32,
) -> Result<ResetAllowed, RecoveryError> {
    let now = state.clock.now();
    let expires_at = now.plus_seconds(RESET_TICKET_SECONDS);
    let reset_token = issue_ticket(
        &state.db,
        &ticket.account_id.to_string(),
        Stage::Reset,
        Some(method),
        generation,
        expires_at,
        now,
    )
    .await?;
    Ok(ResetAllowed {
        reset_token,
        expires_at,
    })
}

/// SMS path: the code from the bound phone → a reset token.
#[tracing::instrument(skip_all)]
pub async fn verify_sms_code(
    state: &Recovery,
    ticket: Option<&str>,
    code: Option<&str>,
) -> Result<ResetAllowed, RecoveryError> {
    let (ticket, account) = open_ticket(state, ticket).await?;
    let phone = bound_phone(&account)?;
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| RecoveryError::at("sms_code", "sms_code_required"))?;
    let checked = state
        .codes
        .check(&phone, CodePurpose::Recover, &Secret::new(code))
        .await?;
    state.codes.consume(checked).await?;
    allow_reset(state, &ticket, "sms", account.credential_generation()).await
}

/// Security-question path: the three questions to answer.
pub async fn questions(
    state: &Recovery,
    ticket: Option<&str>,
) -> Result<Vec<String>, RecoveryError> {
    let (_, account) = open_ticket(state, ticket).await?;
    if account.security_questions().is_empty() {
        return Err(method_unavailable());
    }
    Ok(account
        .security_questions()
        .iter()
        .map(|q| q.question.clone())
        .collect())
}

/// Security-question path: all three answers → a reset token. Three failures in a row close
/// the path for a day; every attempt notifies the bound phone and e-mail.
#[tracing::instrument(skip_all)]
pub async fn answer_questions(
    state: &Recovery,
    ticket: Option<&str>,
    answers: &[String],
    request: &CommandMetadata,
) -> Result<ResetAllowed, RecoveryError> {
    let (ticket, account) = open_ticket(state, ticket).await?;
    if account.security_questions().is_empty() {
        return Err(method_unavailable());
    }
    let count = account.security_questions().len();
    if answers.len() != count || answers.iter().any(|a| a.trim().is_empty()) {
        return Err(RecoveryError::at("answers", "security_answers_required"));
    }
    let answers: Vec<Secret> = answers
        .iter()
        .map(|a| Secret::new(normalize_answer(a)))
        .collect();
    let committed = state
        .store
        .execute::<Account>(
            &ticket.account_id.to_string(),
            AccountCommand::CheckSecurityAnswers { answers },
            &state.account_services,
            &CommandMetadata {
                actor: Actor::Anonymous,
                ..request.clone()
            },
        )
        .await;
    let committed = match committed {
        Ok(committed) => committed,
        Err(ExecuteError::Domain(AccountError::SecurityQuestionsClosed { until })) => {
            return Err(questions_closed(until, state.clock.now()));
        }
        Err(ExecuteError::Domain(AccountError::NoSecurityQuestions)) => {
            return Err(method_unavailable())
        }
        Err(error) => return Err(RecoveryError::Refused(error)),
    };
    for event in &committed.events {
        match event {
            AccountEvent::SecurityAnswersAccepted => {
                return allow_reset(
                    state,
                    &ticket,
                    "security_questions",
                    committed.aggregate.credential_generation(),
                )
                .await;
            }
            AccountEvent::SecurityAnswersFailed {
                closed_until: Some(until),
                ..
            } => return Err(questions_closed(*until, state.clock.now())),
            AccountEvent::SecurityAnswersFailed { failures, .. } => {
                let left =
                    xuexin_domain::account::SECURITY_ANSWER_ATTEMPTS.saturating_sub(*failures);
                return Err(RecoveryError::AnswersWrong {
                    attempts_left: left,
                });
            }
            _ => {}
        }
    }
    Err(RecoveryError::Internal(anyhow::anyhow!(
        "checking security answers recorded no verdict"
    )))
}

fn questions_closed(until: Timestamp, now: Timestamp) -> RecoveryError {
    let seconds = ((until.millis() - now.millis()) / 1000).max(1) as u64;
    RecoveryError::QuestionsClosed {
        until,
        retry_after: Duration::from_secs(seconds),
    }
}

/// E-mail path: name + document number → a reset link to the verified security e-mail.
#[tracing::instrument(skip_all)]
pub async fn request_email_link(
    state: &Recovery,
    ticket: Option<&str>,
    name: Option<&str>,
    document_number: Option<&str>,
    request: &CommandMetadata,
) -> Result<(String, Option<i64>), RecoveryError> {
    let (ticket, account) = open_ticket(state, ticket).await?;
    let email = account
        .email()
        .filter(|e| e.verified)
        .map(|e| e.address.clone())
        .ok_or_else(method_unavailable)?;
    let bucket = [format!("recovery-email:{}", ticket.account_id)];
    count_attempt(
        state,
        &bucket,
        EMAIL_IDENTITY_FAILURES,
        "recovery_rate_limited",
    )
    .await?;
    if !identity_matches(
        state,
        &account,
        name.unwrap_or(""),
        document_number.unwrap_or(""),
    ) {
        return Err(RecoveryError::IdentityMismatch);
    }
    forgive(state, &bucket, EMAIL_IDENTITY_FAILURES).await?;
    if let Err(exceeded) = state
        .limiter
        .hit(
            &format!("recovery-links:{}", ticket.account_id),
            RESET_LINKS,
        )
        .await?
    {
        return Err(too_often("recovery_rate_limited", exceeded.retry_after));
    }
    let committed = state
        .store
        .execute::<Account>(
            &ticket.account_id.to_string(),
            AccountCommand::RequestPasswordResetByEmail,
            &state.account_services,
            &CommandMetadata {
                actor: Actor::Anonymous,
                ..request.clone()
            },
        )
        .await
        .map_err(|e| match e {
            ExecuteError::Domain(AccountError::NoEmail) => method_unavailable(),
            other => RecoveryError::Refused(other),
        })?;
    Ok((mask_email(&email), committed.position))
}

/// The rules a new password must meet for this account: length and characters, not common,
/// not containing the account's phone or document number (checked against its digest).
pub fn new_password(
    state: &Recovery,
    account: &Account,
    raw: Option<&str>,
    confirmation: Option<&str>,
    field: &str,
) -> Result<Password, RecoveryError> {
    crate::application::account::check_new_password(
        &state.digest,
        account,
        raw,
        confirmation,
        field,
    )
    .map_err(RecoveryError::Invalid)
}

/// The last step: a reset token, once, sets a new password.
#[tracing::instrument(skip_all)]
pub async fn reset(
    state: &Recovery,
    token: Option<&str>,
    password: Option<&str>,
    confirmation: Option<&str>,
    request: &CommandMetadata,
) -> Result<(AccountId, Option<i64>), RecoveryError> {
    let (ticket, account) = open_stage(state, token, Stage::Reset).await?;
    let now = state.clock.now();
    // Neither a password the rules refuse nor a busy hasher uses the token up.
    let password = new_password(state, &account, password, confirmation, "password")?;
    let password_hash = state
        .hasher
        .hash(password.secret())
        .await
        .map_err(|_| RecoveryError::Busy)?;
    if !consume_ticket(&state.db, &ticket.hash, now).await? {
        return Err(ticket_invalid());
    }
    let committed = state
        .store
        .execute::<Account>(
            &ticket.account_id.to_string(),
            AccountCommand::ResetPassword {
                password_hash,
                reason: ticket.method.clone().unwrap_or_else(|| "recovery".into()),
                generation: Some(ticket.generation),
            },
            &state.account_services,
            &CommandMetadata {
                actor: Actor::Anonymous,
                ..request.clone()
            },
        )
        .await
        .map_err(|e| match e {
            ExecuteError::Domain(AccountError::StaleRecoveryToken) => ticket_invalid(),
            ExecuteError::Domain(AccountError::CannotLogIn) => ticket_invalid(),
            other => RecoveryError::Refused(other),
        })?;
    after_password_change(state, ticket.account_id, account.phone()).await?;
    state.sessions.revoke_all(ticket.account_id).await?;
    Ok((ticket.account_id, committed.position))
}

/// Whatever could still reset the old password dies: recovery tokens and SMS codes.
async fn after_password_change(
    state: &Recovery,
    account_id: AccountId,
    phone: Option<&str>,
) -> Result<(), RecoveryError> {
    Ok(state
        .account
        .after_password_change(account_id, phone)
        .await?)
}
