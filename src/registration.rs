//! Registration: checks, the SMS code, hashing, and the saga that claims the phone, the
//! identity and the e-mail for a new account. The saga's state is the Account itself (its
//! `RegistrationStarted` event), so a crash at any step is resumed by recovery: it makes the
//! same claims again (a claim already held by this account is a no-op) and then either
//! completes the registration or gives every claim back.

use crate::app::{AppState, SharedState};
use crate::faults;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::shutdown::Shutdown;
use crate::store::{CommandMetadata, ExecuteError};
use std::time::Duration;
use xuexin_domain::account::{
    Account, AccountCommand, AccountError, AccountStatus, RegistrationChannel, RegistrationDetails,
    StoredSecurityQuestion,
};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::identity::{Identity, IdentityCommand, IdentityError};
use xuexin_domain::ids::{login_name_key, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand, LoginNameError};
use xuexin_domain::registration::{claims_for, registration_claims, RegistrationClaim};
use xuexin_domain::values::{
    mask_email, mask_phone, Document, DocumentSummary, Email, Password, PasswordStrength,
    PersonName, Phone, Secret, SecurityQuestionAnswer,
};
use xuexin_domain::{AccountId, Actor};
use xuexin_projections::login_index::{self, id_number_key};
use xuexin_projections::registration_sagas;

/// A registration whose every field has been parsed.
pub struct RegistrationForm {
    pub phone: Phone,
    pub sms_code: Secret,
    pub password: Password,
    pub name: PersonName,
    pub document: Document,
    pub email: Option<Email>,
    pub security_questions: Vec<SecurityQuestionAnswer>,
}

pub struct RegistrationResult {
    pub account_id: AccountId,
    pub status: AccountStatus,
    pub position: Option<i64>,
    pub strength: PasswordStrength,
    pub phone_masked: String,
    pub email_masked: Option<String>,
}

pub enum SagaOutcome {
    Completed {
        status: AccountStatus,
        position: Option<i64>,
    },
    Refused {
        claim: RegistrationClaim,
        holder: AccountId,
    },
    Abandoned,
}

fn hasher_busy() -> Problem {
    Problem::overloaded(Duration::from_secs(1))
}

/// What the person sees when the value is held by another account. The holder is described
/// from its Account aggregate, which is always current (the login index may lag).
async fn refusal(
    state: &AppState,
    claim: &RegistrationClaim,
    holder: AccountId,
    registrant: &DocumentSummary,
) -> anyhow::Result<FieldError> {
    Ok(match claim {
        RegistrationClaim::LoginName {
            kind: LoginNameKind::Phone,
            ..
        } => FieldError::new("phone", "phone_taken")
            .with_actions(&["login", "recover_password_by_phone"]),
        RegistrationClaim::Identity { .. } => FieldError::new("document_number", "id_number_taken")
            .with_actions(&["find_username", "recover_password"]),
        RegistrationClaim::LoginName { .. } => {
            let account = state
                .store
                .load::<Account>(&holder.to_string())
                .await?
                .aggregate;
            let verified = account.email().is_some_and(|e| e.verified);
            let same_person = account
                .document()
                .is_some_and(|d| d.number_digest == registrant.number_digest);
            if !verified {
                FieldError::new("email", "email_pending_activation")
                    .with_actions(&["resend_activation_email"])
            } else if same_person {
                FieldError::new("email", "email_taken").with_actions(&["login", "recover_password"])
            } else {
                let masked = account
                    .phone()
                    .map(mask_phone)
                    .or_else(|| account.email().map(|e| mask_email(&e.address)))
                    .unwrap_or_else(|| "***".into());
                FieldError::new("email", "email_bound")
                    .with_message(format!("电子邮件已被用户 {masked} 绑定邮箱时使用"))
                    .with_holder(masked)
                    .with_actions(&["login", "recover_password", "find_username"])
            }
        }
    })
}

/// Values already held by other accounts, as the login index sees them. The aggregates still
/// decide races; this answers the common case before any code is used or hash computed.
async fn known_conflicts(
    state: &AppState,
    claims: &[RegistrationClaim],
    registrant: &DocumentSummary,
) -> anyhow::Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    for claim in claims {
        let key = match claim {
            RegistrationClaim::LoginName { kind, value } => login_name_key(*kind, value),
            RegistrationClaim::Identity { document } => id_number_key(&document.number_digest),
        };
        let holder = login_index::lookup(&state.db, &key)
            .await?
            .and_then(|entry| AccountId::parse(&entry.account_id));
        if let Some(holder) = holder {
            errors.push(refusal(state, claim, holder, registrant).await?);
        }
    }
    Ok(errors)
}

#[tracing::instrument(skip_all, fields(phone = %form.phone.masked()))]
pub async fn register(
    state: &AppState,
    form: RegistrationForm,
    request: &CommandMetadata,
) -> Result<RegistrationResult, Problem> {
    if let Some(ip) = &request.client_ip {
        if let Err(exceeded) = state
            .limiter
            .hit(
                &format!("register-ip:{ip}"),
                state.config.limits.registrations_per_ip,
            )
            .await?
        {
            return Err(Problem::rate_limited(
                "registration_rate_limited",
                exceeded.retry_after,
            ));
        }
    }
    let document = form.document.summary(&state.digest);
    let planned = claims_for(
        Some(form.phone.as_str()),
        &document,
        form.email.as_ref().map(Email::as_str),
    );
    let conflicts = known_conflicts(state, &planned, &document).await?;
    if !conflicts.is_empty() {
        return Err(Problem::conflicts(conflicts));
    }

    let ticket = state
        .codes
        .check(
            &form.phone,
            crate::codes::CodePurpose::Register,
            &form.sms_code,
        )
        .await
        .map_err(code_problem)?;

    let password_hash = state
        .hasher
        .hash(form.password.secret())
        .await
        .map_err(|_| hasher_busy())?;
    let mut security_questions = Vec::with_capacity(form.security_questions.len());
    for pair in &form.security_questions {
        let answer_hash = state
            .hasher
            .hash(&pair.answer)
            .await
            .map_err(|_| hasher_busy())?;
        security_questions.push(StoredSecurityQuestion {
            question: pair.question.clone(),
            answer_hash,
        });
    }

    let account_id = AccountId::new_random();
    let metadata = CommandMetadata {
        actor: Actor::Account(account_id.to_string()),
        ..request.clone()
    };
    let details = RegistrationDetails {
        name: form.name.as_str().to_string(),
        phone: Some(form.phone.as_str().to_string()),
        document: document.clone(),
        email: form.email.as_ref().map(|e| e.as_str().to_string()),
        password_hash,
        security_questions,
        channel: RegistrationChannel::SelfService,
        terms_accepted: true,
    };
    state
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::StartRegistration(Box::new(details)),
            &state.account_services,
            &metadata,
        )
        .await
        .map_err(account_problem)?;
    faults::hit("registration.after_start");

    match run_saga(state, account_id, &metadata).await? {
        SagaOutcome::Completed { status, position } => {
            // Used up only by a registration that went through: a refused person may correct
            // the form and send it again with the same code. The code is bound to the phone,
            // which only one account can hold, so it cannot register twice.
            if let Err(error) = state.codes.consume(ticket).await {
                tracing::warn!(error = ?error, "the code of a completed registration was already used");
            }
            Ok(RegistrationResult {
                account_id,
                status,
                position,
                strength: form.password.strength(),
                phone_masked: form.phone.masked(),
                email_masked: form.email.as_ref().map(Email::masked),
            })
        }
        SagaOutcome::Refused { claim, holder } => Err(Problem::conflicts(vec![
            refusal(state, &claim, holder, &document).await?,
        ])),
        SagaOutcome::Abandoned => Err(Problem::internal(anyhow::anyhow!(
            "a new registration was abandoned by someone else"
        ))),
    }
}

const AFTER_CLAIM: [&str; 3] = [
    "registration.after_claim_1",
    "registration.after_claim_2",
    "registration.after_claim_3",
];

enum ClaimFailure {
    Taken(AccountId),
    Store(anyhow::Error),
}

fn claim_failure<E>(error: ExecuteError<E>, holder: impl Fn(E) -> AccountId) -> ClaimFailure {
    match error {
        ExecuteError::Domain(e) => ClaimFailure::Taken(holder(e)),
        ExecuteError::Contention => ClaimFailure::Store(anyhow::anyhow!("claim contention")),
        ExecuteError::Store(e) => ClaimFailure::Store(e),
    }
}

async fn make_claim(
    state: &AppState,
    account_id: AccountId,
    claim: &RegistrationClaim,
    metadata: &CommandMetadata,
) -> Result<(), ClaimFailure> {
    let aggregate_id = claim.aggregate_id().to_string();
    match claim {
        RegistrationClaim::LoginName { kind, value } => state
            .store
            .execute::<LoginName>(
                &aggregate_id,
                LoginNameCommand::Claim {
                    account_id,
                    kind: *kind,
                    value: value.clone(),
                },
                &(),
                metadata,
            )
            .await
            .map(|_| ())
            .map_err(|e| claim_failure(e, |LoginNameError::Taken { holder }| holder)),
        RegistrationClaim::Identity { document } => state
            .store
            .execute::<Identity>(
                &aggregate_id,
                IdentityCommand::Bind {
                    account_id,
                    document: document.clone(),
                },
                &(),
                metadata,
            )
            .await
            .map(|_| ())
            .map_err(|e| claim_failure(e, |IdentityError::AlreadyBound { holder }| holder)),
    }
}

async fn release_claim(
    state: &AppState,
    account_id: AccountId,
    claim: &RegistrationClaim,
    metadata: &CommandMetadata,
) -> anyhow::Result<()> {
    let aggregate_id = claim.aggregate_id().to_string();
    let result = match claim {
        RegistrationClaim::LoginName { .. } => state
            .store
            .execute::<LoginName>(
                &aggregate_id,
                LoginNameCommand::Release {
                    account_id,
                    reason: "registration_abandoned".into(),
                },
                &(),
                metadata,
            )
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("failed to release a login name: {e}")),
        RegistrationClaim::Identity { .. } => state
            .store
            .execute::<Identity>(
                &aggregate_id,
                IdentityCommand::Release { account_id },
                &(),
                metadata,
            )
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("failed to release an identity: {e}")),
    };
    result
}

/// Drives a started registration to its end: all claims made and the account registered, or
/// every claim given back and the account abandoned. Safe to run again at any point.
#[tracing::instrument(skip(state, metadata))]
pub async fn run_saga(
    state: &AppState,
    account_id: AccountId,
    metadata: &CommandMetadata,
) -> Result<SagaOutcome, Problem> {
    let id = account_id.to_string();
    let loaded = state.store.load::<Account>(&id).await?;
    let details = match loaded.aggregate.status() {
        Some(AccountStatus::Registering) => loaded
            .aggregate
            .registration_details()
            .cloned()
            .ok_or_else(|| {
                Problem::internal(anyhow::anyhow!("a registering account has no plan"))
            })?,
        Some(AccountStatus::Abandoned) => return Ok(SagaOutcome::Abandoned),
        Some(status) => {
            return Ok(SagaOutcome::Completed {
                status,
                position: None,
            })
        }
        None => {
            return Err(Problem::internal(anyhow::anyhow!(
                "no registration to resume for {id}"
            )))
        }
    };
    let claims = registration_claims(&details);
    for (index, claim) in claims.iter().enumerate() {
        match make_claim(state, account_id, claim, metadata).await {
            Ok(()) => faults::hit(AFTER_CLAIM[index.min(2)]),
            Err(ClaimFailure::Taken(holder)) => {
                for held in claims[..index].iter().rev() {
                    release_claim(state, account_id, held, metadata).await?;
                }
                faults::hit("registration.after_release");
                state
                    .store
                    .execute::<Account>(
                        &id,
                        AccountCommand::AbandonRegistration {
                            reason: claim.refusal_code().to_string(),
                        },
                        &state.account_services,
                        metadata,
                    )
                    .await
                    .map_err(account_problem)?;
                return Ok(SagaOutcome::Refused {
                    claim: claim.clone(),
                    holder,
                });
            }
            Err(ClaimFailure::Store(error)) => return Err(Problem::internal(error)),
        }
    }
    let committed = state
        .store
        .execute::<Account>(
            &id,
            AccountCommand::CompleteRegistration,
            &state.account_services,
            metadata,
        )
        .await
        .map_err(account_problem)?;
    Ok(SagaOutcome::Completed {
        status: committed
            .aggregate
            .status()
            .unwrap_or(AccountStatus::Active),
        position: committed.position,
    })
}

/// Resumes registrations that have stayed unfinished longer than any live request takes.
pub async fn resume_stale(state: &AppState) -> anyhow::Result<usize> {
    let cutoff = state.clock.now().millis() - state.config.saga_stale_after.as_millis() as i64;
    let stale = registration_sagas::stale(&state.db, cutoff, 100).await?;
    let metadata = CommandMetadata::system("registration-recovery");
    let mut resumed = 0;
    for id in stale {
        let Some(account_id) = AccountId::parse(&id) else {
            continue;
        };
        match run_saga(state, account_id, &metadata).await {
            Ok(_) => {
                resumed += 1;
                tracing::info!(account = %account_id, "resumed an unfinished registration");
            }
            Err(problem) => {
                tracing::warn!(account = %account_id, code = %problem.code, "could not resume a registration yet")
            }
        }
    }
    Ok(resumed)
}

pub async fn recovery_loop(state: SharedState, mut shutdown: Shutdown) {
    let interval = state
        .config
        .saga_stale_after
        .min(Duration::from_secs(10))
        .max(Duration::from_millis(500));
    while !shutdown.is_triggered() {
        if let Err(error) = resume_stale(&state).await {
            tracing::error!(error = format!("{error:#}"), "registration recovery failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => {}
        }
    }
}

pub fn code_problem(error: crate::codes::CodeError) -> Problem {
    use crate::codes::CodeError;
    match error {
        CodeError::RateLimited(exceeded) => {
            Problem::rate_limited("sms_rate_limited", exceeded.retry_after)
        }
        CodeError::Invalid { attempts_left } => {
            Problem::validation(vec![FieldError::new("sms_code", "sms_code_invalid")])
                .with_extra("attempts_left", attempts_left)
        }
        CodeError::TooManyAttempts => {
            Problem::validation(vec![FieldError::new("sms_code", "sms_code_attempts")])
        }
        CodeError::Gateway(error) => {
            let mut problem = Problem::new(ProblemKind::Unavailable, "sms_gateway_unavailable");
            problem.source = Some(error);
            problem
        }
        CodeError::Store(error) => Problem::internal(error),
    }
}

pub fn account_problem(error: ExecuteError<AccountError>) -> Problem {
    match error {
        ExecuteError::Domain(AccountError::HasherUnavailable) => hasher_busy(),
        ExecuteError::Domain(e) => {
            Problem::internal(anyhow::anyhow!("unexpected account refusal: {e}"))
        }
        ExecuteError::Contention => Problem::overloaded(Duration::from_secs(1)),
        ExecuteError::Store(e) => Problem::internal(e),
    }
}
