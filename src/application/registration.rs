//! Registration: checks, the SMS code, hashing, and the saga that claims the phone, the
//! identity and the e-mail for a new account. The saga's state is the Account itself (its
//! `RegistrationStarted` event), so a crash at any step is resumed by recovery: it makes the
//! same claims again (a claim already held by this account is a no-op) and then either
//! completes the registration or gives every claim back.
//!
//! Two choices of the seeds change the claims: "我要重新注册" claims an identity another
//! account holds (the new account then waits for identity review), and "继续注册" takes over a
//! phone another account holds (its previous holder loses it; the take-over is the last claim,
//! so nothing after it can fail). Conscription offices register young people without an SMS
//! code; their identities cannot be claimed by re-registration.

use super::FieldRefusal;
use crate::codes::CodeError;
use crate::codes::SmsCodes;
use crate::config::Limit;
use crate::faults;
use crate::messages;
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::shutdown::Shutdown;
use crate::store::{CommandMetadata, ExecuteError};
use crate::store::{Db, EventStore};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::AccountServices;
use xuexin_domain::account::{
    Account, AccountCommand, AccountError, AccountStatus, IdentityClaimMode, PhoneClaimMode,
    RegistrationChannel, RegistrationDetails, StoredSecurityQuestion,
};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::identity::{Identity, IdentityCommand, IdentityError};
use xuexin_domain::ids::{identity_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand};
use xuexin_domain::registration::{claims_for, registration_claims, RegistrationClaim};
use xuexin_domain::values::{
    mask_email, mask_phone, parse_security_questions, Document, DocumentError, DocumentSummary,
    DocumentType, Email, Password, PasswordContext, PasswordStrength, PersonName, Phone,
    PhoneError, Secret, SecurityQuestionAnswer,
};
use xuexin_domain::Clock;
use xuexin_domain::{AccountId, Actor};
use xuexin_projections::registration_sagas;

/// What registration uses: the event store, the SMS codes, the rate limiter, the hashing pool,
/// the document-number digest and the account's services, and two settings.
#[derive(Clone)]
pub struct Registration {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub codes: SmsCodes,
    pub limiter: RateLimiter,
    pub hasher: Arc<HashPool>,
    pub digest: DigestKey,
    pub account_services: AccountServices,
    /// Self-registrations per client address.
    pub registrations_per_ip: Limit,
    /// A saga unfinished this long is resumed by the recovery loop.
    pub saga_stale_after: Duration,
}

/// A registration whose every field has been parsed.
pub struct RegistrationForm {
    /// Required for self-registration; a conscription office may register someone without one.
    pub phone: Option<Phone>,
    /// Required for self-registration (the phone's SMS code).
    pub sms_code: Option<Secret>,
    pub password: Password,
    pub name: PersonName,
    pub document: Document,
    pub email: Option<Email>,
    pub security_questions: Vec<SecurityQuestionAnswer>,
    /// 我要重新注册
    pub re_register: bool,
    /// 继续注册
    pub continue_registration: bool,
}

/// The registration form as typed (seed 001's fields), before it is checked. Every adapter
/// fills this from its own request and gets every field's problem back at once.
#[derive(Debug, Default)]
pub struct RegistrationInput {
    pub phone: String,
    pub sms_code: String,
    pub password: String,
    pub password_confirmation: String,
    pub name: String,
    /// `resident_id_card`, `overseas_chinese_id_or_passport` or `other`.
    pub document_type: String,
    pub document_number: String,
    /// Blank: none.
    pub email: String,
    /// None, or exactly three (question, answer).
    pub security_questions: Vec<(String, String)>,
    pub accept_terms: bool,
    pub re_register: bool,
    pub continue_registration: bool,
}

fn phone_refusal(error: PhoneError) -> FieldRefusal {
    match error {
        PhoneError::Empty => FieldRefusal::new("phone", "phone_required"),
        PhoneError::Format => FieldRefusal::new("phone", "phone_format"),
    }
}

fn document_refusal(error: DocumentError) -> FieldRefusal {
    let code = match error {
        DocumentError::Empty | DocumentError::Format => "id_number_format",
        DocumentError::BirthDate => "id_number_birth_date",
        DocumentError::Checksum => "id_number_checksum",
    };
    FieldRefusal::new("document_number", code)
}

/// 免费获取: sends the registration code to `phone` (limited per phone and per client).
#[tracing::instrument(skip_all)]
pub async fn send_code(
    services: &Registration,
    phone: &Phone,
    client_ip: Option<&str>,
) -> Result<crate::codes::SentCode, CodeError> {
    services
        .codes
        .send(phone, crate::codes::CodePurpose::Register, client_ip)
        .await
}

/// Checks the whole form, collecting every field's problem.
pub fn parse_registration(
    clock: &dyn Clock,
    input: RegistrationInput,
) -> Result<RegistrationForm, Vec<FieldRefusal>> {
    let mut errors = Vec::new();
    let phone = Phone::parse(&input.phone)
        .map_err(|e| errors.push(phone_refusal(e)))
        .ok();
    let sms_code = match input.sms_code.trim() {
        "" => {
            errors.push(FieldRefusal::new("sms_code", "sms_code_required"));
            None
        }
        code => Some(Secret::new(code)),
    };
    let name = PersonName::parse(&input.name)
        .map_err(|_| errors.push(FieldRefusal::new("name", "name_format")))
        .ok();
    let today = clock.now().date();
    let document = match DocumentType::parse(&input.document_type) {
        None => {
            errors.push(FieldRefusal::new("document_type", "document_type_invalid"));
            None
        }
        Some(kind) => Document::parse(kind, &input.document_number, today)
            .map_err(|e| errors.push(document_refusal(e)))
            .ok(),
    };
    let password = if input.password.is_empty() {
        errors.push(FieldRefusal::new("password", "password_required"));
        None
    } else {
        let context = PasswordContext {
            phone: phone.as_ref(),
            document_number: document.as_ref().map(Document::expose_number),
            ..Default::default()
        };
        let parsed = Password::parse(&Secret::new(input.password.as_str()), &context)
            .map_err(|e| {
                errors.push(FieldRefusal::new(
                    "password",
                    super::account::password_code(e),
                ))
            })
            .ok();
        if input.password_confirmation != input.password {
            errors.push(FieldRefusal::new(
                "password_confirmation",
                "password_mismatch",
            ));
        }
        parsed
    };
    let email = match input.email.trim() {
        "" => None,
        raw => Email::parse(raw)
            .map_err(|_| errors.push(FieldRefusal::new("email", "email_format")))
            .ok(),
    };
    let security_questions = if input.security_questions.is_empty() {
        Vec::new()
    } else {
        let pairs: Vec<(String, Secret)> = input
            .security_questions
            .into_iter()
            .map(|(question, answer)| (question, Secret::new(answer)))
            .collect();
        parse_security_questions(&pairs)
            .map_err(|_| {
                errors.push(FieldRefusal::new(
                    "security_questions",
                    "security_questions_invalid",
                ))
            })
            .unwrap_or_default()
    };
    if !input.accept_terms {
        errors.push(FieldRefusal::new("accept_terms", "terms_not_accepted"));
    }
    match (phone, sms_code, password, name, document, errors.is_empty()) {
        (Some(phone), Some(sms_code), Some(password), Some(name), Some(document), true) => {
            Ok(RegistrationForm {
                phone: Some(phone),
                sms_code: Some(sms_code),
                password,
                name,
                document,
                email,
                security_questions,
                re_register: input.re_register,
                continue_registration: input.continue_registration,
            })
        }
        _ => Err(errors),
    }
}

pub struct RegistrationResult {
    pub account_id: AccountId,
    pub status: AccountStatus,
    pub position: Option<i64>,
    pub strength: PasswordStrength,
    pub phone_masked: Option<String>,
    pub email_masked: Option<String>,
}

/// Why a claim was refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    Taken(AccountId),
    /// An identity used for conscription registration (seed 001).
    Protected {
        holder: AccountId,
        office: String,
    },
}

pub enum SagaOutcome {
    Completed {
        status: AccountStatus,
        position: Option<i64>,
    },
    Refused {
        claim: RegistrationClaim,
        refusal: Refusal,
    },
    Abandoned,
}

/// Why a registration did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("too many registrations from this client")]
    RateLimited { retry_after: Duration },
    #[error("no SMS code was given")]
    CodeRequired,
    #[error("the SMS code was refused")]
    Code(#[from] CodeError),
    /// Values another account holds, one entry each, the first the main one.
    #[error("values are held by other accounts")]
    Conflicts(Vec<Conflict>),
    /// The hashing pool is full: try again in a moment.
    #[error("the hashing pool is busy")]
    Busy,
    #[error("the store is contended")]
    Contention,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A value of the form held by another account, as the seeds show it: the field, its code,
/// what the person can do next, and the masked holder where the seeds name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub field: &'static str,
    pub code: &'static str,
    pub actions: &'static [&'static str],
    pub holder: Option<String>,
    /// The conscription office that registered the holder (`id_number_protected`).
    pub office: Option<String>,
}

impl Conflict {
    /// The refusal worded for the person, naming the holder (masked) where the seeds do.
    pub fn message(&self) -> String {
        let worded = match (self.code, &self.holder) {
            ("id_number_protected", Some(_)) => "id_number_protected_by",
            ("email_bound", Some(_)) => "email_bound_by",
            (code, _) => return crate::messages::text(code).to_string(),
        };
        crate::messages::format(
            worded,
            &[
                ("holder", self.holder.as_deref().unwrap_or("")),
                ("office", self.office.as_deref().unwrap_or("")),
            ],
        )
    }

    /// Whether the message names something beyond the code's own text.
    pub fn names_holder(&self) -> bool {
        self.holder.is_some() && matches!(self.code, "id_number_protected" | "email_bound")
    }

    fn new(field: &'static str, code: &'static str, actions: &'static [&'static str]) -> Self {
        Self {
            field,
            code,
            actions,
            holder: None,
            office: None,
        }
    }
}

/// An account command's failure, for registration.
pub fn account_failure(error: ExecuteError<AccountError>) -> RegistrationError {
    match error {
        ExecuteError::Domain(AccountError::HasherUnavailable) => RegistrationError::Busy,
        ExecuteError::Domain(e) => {
            RegistrationError::Internal(anyhow::anyhow!("unexpected account refusal: {e}"))
        }
        ExecuteError::Contention => RegistrationError::Contention,
        ExecuteError::Store(e) => RegistrationError::Internal(e),
    }
}

/// The account's username as the seeds show it to others: the phone, masked.
fn masked_username(account: &Account) -> String {
    account
        .phone()
        .map(mask_phone)
        .or_else(|| account.email().map(|e| mask_email(&e.address)))
        .unwrap_or_else(|| "***".into())
}

/// What the person sees when the value is held by another account. The holder is described
/// from its Account aggregate, which is always current (the login index may lag).
async fn refusal_error(
    services: &Registration,
    claim: &RegistrationClaim,
    refusal: &Refusal,
    registrant: &DocumentSummary,
) -> anyhow::Result<Conflict> {
    let holder = match refusal {
        Refusal::Protected { holder, office } => {
            let account = services
                .store
                .load::<Account>(&holder.to_string())
                .await?
                .aggregate;
            let masked = masked_username(&account);
            // 请联系(县人民政府征兵办公室,电话): the office, and its telephone when known.
            let phone = super::staff::office_phone(&services.db, &services.store, office).await?;
            let office = match phone {
                Some(phone) => format!("{office}，{phone}"),
                None => office.clone(),
            };
            return Ok(Conflict {
                holder: Some(masked),
                office: Some(office),
                ..Conflict::new(
                    "document_number",
                    "id_number_protected",
                    &["login", "recover_password", "find_username"],
                )
            });
        }
        Refusal::Taken(holder) => *holder,
    };
    Ok(match claim {
        RegistrationClaim::LoginName {
            kind: LoginNameKind::Phone,
            ..
        }
        | RegistrationClaim::TakeOverPhone { .. } => Conflict::new(
            "phone",
            "phone_taken",
            &[
                "login",
                "recover_password_by_phone",
                "continue_registration",
            ],
        ),
        RegistrationClaim::Identity { .. } | RegistrationClaim::IdentityOrDuplicate { .. } => {
            Conflict::new(
                "document_number",
                "id_number_taken",
                &["find_username", "recover_password", "re_register"],
            )
        }
        RegistrationClaim::LoginName { .. } => {
            let account = services
                .store
                .load::<Account>(&holder.to_string())
                .await?
                .aggregate;
            let verified = account.email().is_some_and(|e| e.verified);
            let same_person = account
                .document()
                .is_some_and(|d| d.number_digest == registrant.number_digest);
            if !verified {
                Conflict::new(
                    "email",
                    "email_pending_activation",
                    &["resend_activation_email"],
                )
            } else if same_person {
                Conflict::new("email", "email_taken", &["login", "recover_password"])
            } else {
                let masked = masked_username(&account);
                Conflict {
                    holder: Some(masked),
                    ..Conflict::new(
                        "email",
                        "email_bound",
                        &["login", "recover_password", "find_username"],
                    )
                }
            }
        }
    })
}

/// Values already held by other accounts (a phone taken over and an identity re-registered
/// are meant to be held), read from the aggregates that own them, so a value released a moment
/// ago is free and one claimed a moment ago is taken. The saga's claims still decide races;
/// this answers the common case before any code is used or hash computed.
async fn known_conflicts(
    services: &Registration,
    claims: &[RegistrationClaim],
    registrant: &DocumentSummary,
) -> anyhow::Result<Vec<Conflict>> {
    let mut errors = Vec::new();
    for claim in claims {
        let aggregate_id = claim.aggregate_id().to_string();
        let refusal = match claim {
            RegistrationClaim::LoginName { kind, value } => {
                crate::login_names::current_holder(&services.store, *kind, value)
                    .await?
                    .map(Refusal::Taken)
            }
            RegistrationClaim::Identity { .. } => services
                .store
                .load::<Identity>(&aggregate_id)
                .await?
                .aggregate
                .holder()
                .map(Refusal::Taken),
            RegistrationClaim::IdentityOrDuplicate { .. } => {
                let identity = services
                    .store
                    .load::<Identity>(&aggregate_id)
                    .await?
                    .aggregate;
                match (identity.holder(), identity.protected_by()) {
                    (Some(holder), Some(office)) => Some(Refusal::Protected {
                        holder,
                        office: office.to_string(),
                    }),
                    _ => None,
                }
            }
            RegistrationClaim::TakeOverPhone { .. } => None,
        };
        if let Some(refusal) = refusal {
            errors.push(refusal_error(services, claim, &refusal, registrant).await?);
        }
    }
    Ok(errors)
}

/// Self-registration: phone, SMS code and the form.
#[tracing::instrument(skip_all)]
pub async fn register(
    services: &Registration,
    form: RegistrationForm,
    request: &CommandMetadata,
) -> Result<RegistrationResult, RegistrationError> {
    if let Some(ip) = &request.client_ip {
        if let Err(exceeded) = services
            .limiter
            .hit(&format!("register-ip:{ip}"), services.registrations_per_ip)
            .await?
        {
            return Err(RegistrationError::RateLimited {
                retry_after: exceeded.retry_after,
            });
        }
    }
    register_with(services, form, RegistrationChannel::SelfService, request).await
}

/// A conscription office registers a young person (seed 001: 兵役登记后当地征兵办公室会给所有
/// 进行过兵役登记的学生注册学信网账号): no SMS code, the phone optional, the identity protected.
#[tracing::instrument(skip_all)]
pub async fn register_by_office(
    services: &Registration,
    form: RegistrationForm,
    office: &str,
    request: &CommandMetadata,
) -> Result<RegistrationResult, RegistrationError> {
    let channel = RegistrationChannel::ConscriptionOffice {
        office: office.to_string(),
    };
    register_with(services, form, channel, request).await
}

async fn register_with(
    services: &Registration,
    form: RegistrationForm,
    channel: RegistrationChannel,
    request: &CommandMetadata,
) -> Result<RegistrationResult, RegistrationError> {
    let by_office = matches!(channel, RegistrationChannel::ConscriptionOffice { .. });
    let document = form.document.summary(&services.digest);
    let identity_claim = if form.re_register && !by_office {
        IdentityClaimMode::ReRegister
    } else {
        IdentityClaimMode::Bind
    };
    let phone_claim = if form.continue_registration && !by_office {
        PhoneClaimMode::TakeOver
    } else {
        PhoneClaimMode::Claim
    };
    let protected_by = match &channel {
        RegistrationChannel::ConscriptionOffice { office } => Some(office.clone()),
        RegistrationChannel::SelfService => None,
    };
    let planned = claims_for(
        form.phone.as_ref().map(Phone::as_str),
        &document,
        form.email.as_ref().map(Email::as_str),
        identity_claim,
        phone_claim,
        protected_by,
    );
    // The SMS code first (checked, not used up: ADR 0008): no answer tells whether a phone,
    // ID number or e-mail is registered before the caller has proved the phone is theirs.
    let ticket = match (&form.phone, &form.sms_code) {
        (Some(phone), Some(code)) => Some(
            services
                .codes
                .check(phone, crate::codes::CodePurpose::Register, code)
                .await?,
        ),
        _ if by_office => None,
        _ => return Err(RegistrationError::CodeRequired),
    };
    let conflicts = known_conflicts(services, &planned, &document).await?;
    if !conflicts.is_empty() {
        if let Some(ticket) = &ticket {
            services.codes.charge(ticket).await?;
        }
        return Err(RegistrationError::Conflicts(conflicts));
    }

    let password_hash = services
        .hasher
        .hash(form.password.secret())
        .await
        .map_err(|_| RegistrationError::Busy)?;
    let mut security_questions = Vec::with_capacity(form.security_questions.len());
    for pair in &form.security_questions {
        let answer_hash = services
            .hasher
            .hash(&pair.answer)
            .await
            .map_err(|_| RegistrationError::Busy)?;
        security_questions.push(StoredSecurityQuestion {
            question: pair.question.clone(),
            answer_hash,
        });
    }

    let account_id = AccountId::new_random();
    let metadata = if by_office {
        request.clone()
    } else {
        CommandMetadata {
            actor: Actor::Account(account_id.to_string()),
            ..request.clone()
        }
    };
    let details = RegistrationDetails {
        name: form.name.as_str().to_string(),
        phone: form.phone.as_ref().map(|p| p.as_str().to_string()),
        document: document.clone(),
        email: form.email.as_ref().map(|e| e.as_str().to_string()),
        password_hash,
        security_questions,
        channel,
        terms_accepted: true,
        identity_claim,
        phone_claim,
    };
    services
        .store
        .execute::<Account>(
            &account_id.to_string(),
            AccountCommand::StartRegistration {
                details: Box::new(details),
                language: messages::current(),
            },
            &services.account_services,
            &metadata,
        )
        .await
        .map_err(account_failure)?;
    faults::hit("registration.after_start");

    match run_saga(services, account_id, &metadata).await? {
        SagaOutcome::Completed { status, position } => {
            // Used up only by a registration that went through: a refused person may correct
            // the form and send it again with the same code. The code is bound to the phone,
            // which only one account can hold, so it cannot register twice.
            if let Some(ticket) = ticket {
                if let Err(error) = services.codes.consume(ticket).await {
                    tracing::warn!(error = ?error, "the code of a completed registration was already used");
                }
            }
            Ok(RegistrationResult {
                account_id,
                status,
                position,
                strength: form.password.strength(),
                phone_masked: form.phone.as_ref().map(Phone::masked),
                email_masked: form.email.as_ref().map(Email::masked),
            })
        }
        SagaOutcome::Refused { claim, refusal } => Err(RegistrationError::Conflicts(vec![
            refusal_error(services, &claim, &refusal, &document).await?,
        ])),
        SagaOutcome::Abandoned => Err(RegistrationError::Internal(anyhow::anyhow!(
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
    Refused(Refusal),
    Store(anyhow::Error),
}

fn store_failure<E: std::fmt::Display>(error: ExecuteError<E>) -> ClaimFailure {
    ClaimFailure::Store(match error {
        ExecuteError::Store(e) => e,
        other => anyhow::anyhow!("{other}"),
    })
}

async fn make_claim(
    services: &Registration,
    account_id: AccountId,
    claim: &RegistrationClaim,
    metadata: &CommandMetadata,
) -> Result<(), ClaimFailure> {
    let aggregate_id = claim.aggregate_id().to_string();
    match claim {
        // A holder that no longer uses the name (it changed it a moment ago) gives it up.
        RegistrationClaim::LoginName { kind, value } => {
            match crate::login_names::claim(&services.store, account_id, *kind, value, metadata)
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(holder)) => Err(ClaimFailure::Refused(Refusal::Taken(holder))),
                Err(error) => Err(ClaimFailure::Store(error)),
            }
        }
        RegistrationClaim::TakeOverPhone { value } => {
            let command = LoginNameCommand::TakeOver {
                account_id,
                kind: LoginNameKind::Phone,
                value: value.clone(),
            };
            services
                .store
                .execute::<LoginName>(&aggregate_id, command, &(), metadata)
                .await
                .map(|_| ())
                .map_err(store_failure)
        }
        RegistrationClaim::Identity {
            document,
            protected_by,
        } => {
            let command = IdentityCommand::Bind {
                account_id,
                document: document.clone(),
                protected_by: protected_by.clone(),
            };
            match services
                .store
                .execute::<Identity>(&aggregate_id, command, &(), metadata)
                .await
            {
                Ok(_) => Ok(()),
                Err(ExecuteError::Domain(IdentityError::AlreadyBound { holder })) => {
                    Err(ClaimFailure::Refused(Refusal::Taken(holder)))
                }
                Err(other) => Err(store_failure(other)),
            }
        }
        RegistrationClaim::IdentityOrDuplicate { document } => {
            let command = IdentityCommand::ClaimDuplicate {
                account_id,
                document: document.clone(),
            };
            match services
                .store
                .execute::<Identity>(&aggregate_id, command, &(), metadata)
                .await
            {
                Ok(_) => Ok(()),
                Err(ExecuteError::Domain(IdentityError::Protected { holder, office })) => {
                    Err(ClaimFailure::Refused(Refusal::Protected { holder, office }))
                }
                Err(other) => Err(store_failure(other)),
            }
        }
    }
}

async fn release_claim(
    services: &Registration,
    account_id: AccountId,
    claim: &RegistrationClaim,
    metadata: &CommandMetadata,
) -> anyhow::Result<()> {
    let aggregate_id = claim.aggregate_id().to_string();
    match claim {
        RegistrationClaim::LoginName { .. } => services
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
        // Always the last claim: there is nothing after it to fail.
        RegistrationClaim::TakeOverPhone { .. } => Ok(()),
        RegistrationClaim::Identity { .. } | RegistrationClaim::IdentityOrDuplicate { .. } => {
            services
                .store
                .execute::<Identity>(
                    &aggregate_id,
                    IdentityCommand::Release { account_id },
                    &(),
                    metadata,
                )
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("failed to release an identity: {e}"))
        }
    }
}

/// Drives a started registration to its end: all claims made and the account registered, or
/// every claim given back and the account abandoned. Safe to run again at any point.
#[tracing::instrument(skip(services, metadata))]
pub async fn run_saga(
    services: &Registration,
    account_id: AccountId,
    metadata: &CommandMetadata,
) -> Result<SagaOutcome, RegistrationError> {
    let id = account_id.to_string();
    let loaded = services.store.load::<Account>(&id).await?;
    let details = match loaded.aggregate.status() {
        Some(AccountStatus::Registering) => loaded
            .aggregate
            .registration_details()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("a registering account has no plan"))?,
        Some(AccountStatus::Abandoned) => return Ok(SagaOutcome::Abandoned),
        Some(status) => {
            return Ok(SagaOutcome::Completed {
                status,
                position: None,
            })
        }
        None => {
            return Err(RegistrationError::Internal(anyhow::anyhow!(
                "no registration to resume for {id}"
            )))
        }
    };
    let claims = registration_claims(&details);
    for (index, claim) in claims.iter().enumerate() {
        match make_claim(services, account_id, claim, metadata).await {
            Ok(()) => faults::hit(AFTER_CLAIM[index.min(2)]),
            Err(ClaimFailure::Refused(refusal)) => {
                for held in claims[..index].iter().rev() {
                    release_claim(services, account_id, held, metadata).await?;
                }
                faults::hit("registration.after_release");
                services
                    .store
                    .execute::<Account>(
                        &id,
                        AccountCommand::AbandonRegistration {
                            reason: claim.refusal_code().to_string(),
                        },
                        &services.account_services,
                        metadata,
                    )
                    .await
                    .map_err(account_failure)?;
                return Ok(SagaOutcome::Refused {
                    claim: claim.clone(),
                    refusal,
                });
            }
            Err(ClaimFailure::Store(error)) => return Err(RegistrationError::Internal(error)),
        }
    }
    // A re-registration that found the identity held only claimed it: review first.
    let identity = services
        .store
        .load::<Identity>(
            &identity_id(details.document.kind, &details.document.number_digest).to_string(),
        )
        .await?
        .aggregate;
    let pending_identity_review = identity.holder() != Some(account_id);
    let committed = services
        .store
        .execute::<Account>(
            &id,
            AccountCommand::CompleteRegistration {
                pending_identity_review,
            },
            &services.account_services,
            metadata,
        )
        .await
        .map_err(account_failure)?;
    Ok(SagaOutcome::Completed {
        status: committed
            .aggregate
            .status()
            .unwrap_or(AccountStatus::Active),
        position: committed.position,
    })
}

/// Resumes registrations that have stayed unfinished longer than any live request takes.
pub async fn resume_stale(services: &Registration) -> anyhow::Result<usize> {
    let cutoff = services.clock.now().millis() - services.saga_stale_after.as_millis() as i64;
    let stale = registration_sagas::stale(&services.db, cutoff, 100).await?;
    let metadata = CommandMetadata::system("registration-recovery");
    let mut resumed = 0;
    for id in stale {
        let Some(account_id) = AccountId::parse(&id) else {
            continue;
        };
        match run_saga(services, account_id, &metadata).await {
            Ok(_) => {
                resumed += 1;
                tracing::info!(account = %account_id, "resumed an unfinished registration");
            }
            Err(error) => {
                tracing::warn!(account = %account_id, error = %error, "could not resume a registration yet")
            }
        }
    }
    Ok(resumed)
}

pub async fn recovery_loop(services: Registration, mut shutdown: Shutdown) {
    let interval = services
        .saga_stale_after
        .min(Duration::from_secs(10))
        .max(Duration::from_millis(500));
    while !shutdown.is_triggered() {
        if let Err(error) = resume_stale(&services).await {
            tracing::error!(error = format!("{error:#}"), "registration recovery failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => {}
        }
    }
}
