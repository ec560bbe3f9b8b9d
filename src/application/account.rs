//! Account management (账号管理): the logged-in person changes the password, the phone, the
//! e-mail, the name and the security questions. Sensitive changes ask for the current password
//! again (wrong guesses limited per account); after a change of password, phone, e-mail or name
//! the account's other sessions end.

pub use super::FieldRefusal;
use crate::codes::{CodeError, CodePurpose, SmsCodes};
use crate::config::Limit;
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::sessions::{Session, Sessions};
use crate::store::tickets::kill_tickets;
use crate::store::{CommandMetadata, Committed, Db, EventStore, ExecuteError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::account::{
    Account, AccountCommand, AccountError, AccountServices, StoredSecurityQuestion,
};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::ids::LoginNameKind;
use xuexin_domain::values::password::{Password, PasswordContext, PasswordError};
use xuexin_domain::values::{
    document_number_digest, normalize_document_number, DocumentType, Email, PersonName, Phone,
    Secret, SecurityQuestionAnswer,
};
use xuexin_domain::{AccountId, Clock};

/// Wrong current passwords before the sensitive changes refuse for a while, per account.
pub const CURRENT_PASSWORD_FAILURES: Limit = Limit {
    max: 5,
    window: Duration::from_secs(15 * 60),
};

/// What account management uses.
#[derive(Clone)]
pub struct AccountManagement {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub hasher: Arc<HashPool>,
    pub account_services: AccountServices,
    pub limiter: RateLimiter,
    pub codes: SmsCodes,
    pub sessions: Sessions,
    pub digest: DigestKey,
    /// Woken when a mail is queued (the new e-mail's verification).
    pub mail_wake: Arc<Notify>,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Staff accounts are not managed here.
    #[error("not a person's account")]
    NotAPerson,
    /// Fields of the request are invalid (422), each named.
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldRefusal>),
    #[error("the current password is wrong")]
    CurrentPasswordWrong,
    #[error("too many wrong current passwords")]
    CurrentPasswordRateLimited { retry_after: Duration },
    /// The value is held by another account (409), at its field.
    #[error("{code} at {field}")]
    Taken {
        field: &'static str,
        code: &'static str,
    },
    /// A conflict without a field (`external_login_linked`, `external_login_taken`).
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the SMS code was refused")]
    Code(#[from] CodeError),
    /// The account refused the command.
    #[error("the account refused: {0}")]
    Refused(ExecuteError<AccountError>),
    /// The hashing pool is full: try again in a moment.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ManageError {
    fn at(field: &str, code: &'static str) -> Self {
        Self::Invalid(vec![FieldRefusal::new(field, code)])
    }
}

/// A change made: its log position and how many other sessions of the account ended.
#[derive(Debug, Clone, Copy)]
pub struct Changed {
    pub position: Option<i64>,
    pub other_sessions_revoked: u64,
}

/// A new name, made at once or waiting for a reviewer (resident-ID holders).
#[derive(Debug, Clone, Copy)]
pub enum NameChanged {
    Changed(Changed),
    PendingReview { position: Option<i64> },
}

fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A new password checked against the rules and the account (no phone, no document number in
/// it) and against its confirmation; every problem at its field.
pub fn check_new_password(
    digest: &DigestKey,
    account: &Account,
    raw: Option<&str>,
    confirmation: Option<&str>,
    field: &str,
) -> Result<Password, Vec<FieldRefusal>> {
    let raw = raw.unwrap_or("");
    if raw.is_empty() {
        return Err(vec![FieldRefusal::new(field, "password_required")]);
    }
    let phone = account.phone().and_then(|p| Phone::parse(p).ok());
    let digest_of = |candidate: &str| {
        let digest = document_number_digest(digest, &normalize_document_number(candidate));
        account
            .document()
            .is_some_and(|d| d.number_digest == digest)
    };
    let context = PasswordContext {
        phone: phone.as_ref(),
        document_number: None,
        document_number_matches: Some(&digest_of),
        document_number_len: account.document().map(|d| d.masked.chars().count()),
    };
    let mut errors = Vec::new();
    let password = Password::parse(&Secret::new(raw), &context)
        .map_err(|e| errors.push(FieldRefusal::new(field, password_code(e))))
        .ok();
    if confirmation != Some(raw) {
        errors.push(FieldRefusal::new(
            &format!("{field}_confirmation"),
            "password_mismatch",
        ));
    }
    match password {
        Some(password) if errors.is_empty() => Ok(password),
        _ => Err(errors),
    }
}

/// The code of a password the rules refuse.
pub fn password_code(error: PasswordError) -> &'static str {
    match error {
        PasswordError::Length | PasswordError::InvalidCharacter => "password_format",
        PasswordError::TooCommon => "password_too_common",
        PasswordError::ContainsPhone => "password_contains_phone",
        PasswordError::ContainsDocumentNumber => "password_contains_id_number",
    }
}

/// A phone typed into a form: required, then parsed.
pub fn parse_phone(raw: Option<&str>) -> Result<Phone, ManageError> {
    let Some(raw) = trimmed(raw) else {
        return Err(ManageError::at("phone", "phone_required"));
    };
    Phone::parse(raw).map_err(|_| ManageError::at("phone", "phone_format"))
}

impl AccountManagement {
    async fn load(&self, account_id: AccountId) -> Result<Account, ManageError> {
        Ok(self
            .store
            .load::<Account>(&account_id.to_string())
            .await?
            .aggregate)
    }

    async fn execute(
        &self,
        account_id: AccountId,
        command: AccountCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed<Account>, ManageError> {
        self.store
            .execute::<Account>(
                &account_id.to_string(),
                command,
                &self.account_services,
                metadata,
            )
            .await
            .map_err(ManageError::Refused)
    }

    /// The account's other sessions end after a change of credentials or identity.
    async fn changed(
        &self,
        session: &Session,
        position: Option<i64>,
    ) -> Result<Changed, ManageError> {
        let other_sessions_revoked = self
            .sessions
            .revoke_others(session.account_id, &session.token_hash)
            .await?;
        Ok(Changed {
            position,
            other_sessions_revoked,
        })
    }

    /// The current password, asked again before a sensitive change. Wrong guesses are limited
    /// per account so a stolen session cannot be used to find the password: counted before it
    /// is tried (a parallel burst gets no more guesses than the limit), given back once it turns
    /// out right or could not be tried.
    async fn confirm_current_password(
        &self,
        session: &Session,
        account: &Account,
        current: Option<&str>,
    ) -> Result<(), ManageError> {
        let Some(current) = current.filter(|c| !c.is_empty()) else {
            return Err(ManageError::at(
                "current_password",
                "current_password_required",
            ));
        };
        let bucket = format!("current-password:{}", session.account_id);
        if let Err(exceeded) = self.limiter.hit(&bucket, CURRENT_PASSWORD_FAILURES).await? {
            return Err(ManageError::CurrentPasswordRateLimited {
                retry_after: exceeded.retry_after,
            });
        }
        let verification = self
            .hasher
            .verify(account.password_hash(), &Secret::new(current))
            .await;
        let matches = verification.as_ref().is_ok_and(|v| v.matches);
        if matches || verification.is_err() {
            self.limiter
                .release(&bucket, CURRENT_PASSWORD_FAILURES)
                .await?;
        }
        if verification.is_err() {
            return Err(ManageError::Busy);
        }
        if !matches {
            return Err(ManageError::CurrentPasswordWrong);
        }
        Ok(())
    }

    /// The new phone is free (or held by this account), before a code is sent or used.
    async fn require_phone_free(
        &self,
        account_id: AccountId,
        phone: &Phone,
    ) -> Result<(), ManageError> {
        match crate::login_names::current_holder(&self.store, LoginNameKind::Phone, phone.as_str())
            .await?
        {
            Some(holder) if holder != account_id => Err(ManageError::Taken {
                field: "phone",
                code: "phone_taken",
            }),
            _ => Ok(()),
        }
    }

    /// After a change or reset of the password: every recovery ticket and code of the account
    /// dies.
    pub async fn after_password_change(
        &self,
        account_id: AccountId,
        phone: Option<&str>,
    ) -> anyhow::Result<()> {
        kill_tickets(&self.db, account_id, self.clock.now()).await?;
        if let Some(phone) = phone {
            self.codes
                .retire(phone, CodePurpose::Recover)
                .await
                .map_err(|e| anyhow::anyhow!("failed to retire recovery codes: {e}"))?;
        }
        Ok(())
    }

    /// 修改密码: the current password, then the new one twice. Other sessions end; the bound
    /// phone and e-mail are told (by the messenger).
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        session: &Session,
        current: Option<&str>,
        new: Option<&str>,
        confirmation: Option<&str>,
        metadata: &CommandMetadata,
    ) -> Result<Changed, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        let password = check_new_password(&self.digest, &account, new, confirmation, "password")
            .map_err(ManageError::Invalid)?;
        self.confirm_current_password(session, &account, current)
            .await?;
        let password_hash = self
            .hasher
            .hash(password.secret())
            .await
            .map_err(|_| ManageError::Busy)?;
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::ChangePassword { password_hash },
                metadata,
            )
            .await?;
        self.after_password_change(session.account_id, account.phone())
            .await?;
        self.changed(session, committed.position).await
    }

    /// 更换手机号, step 1: a 10-minute code to the new phone, if it is another and free.
    #[tracing::instrument(skip_all)]
    pub async fn send_phone_code(
        &self,
        session: &Session,
        phone: &Phone,
        client_ip: Option<&str>,
    ) -> Result<crate::codes::SentCode, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        if account.phone() == Some(phone.as_str()) {
            return Err(ManageError::at("phone", "phone_unchanged"));
        }
        self.require_phone_free(session.account_id, phone).await?;
        Ok(self
            .codes
            .send(phone, CodePurpose::ChangePhone, client_ip)
            .await?)
    }

    /// 更换手机号, step 2: current password + new phone + its code. The old phone no longer
    /// logs in (its login name is released) and is told; other sessions end.
    #[tracing::instrument(skip_all)]
    pub async fn change_phone(
        &self,
        session: &Session,
        current: Option<&str>,
        phone: &Phone,
        code: &Secret,
        metadata: &CommandMetadata,
    ) -> Result<Changed, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        if account.phone() == Some(phone.as_str()) {
            return Err(ManageError::at("phone", "phone_unchanged"));
        }
        self.confirm_current_password(session, &account, current)
            .await?;
        self.require_phone_free(session.account_id, phone).await?;
        let ticket = self
            .codes
            .check(phone, CodePurpose::ChangePhone, code)
            .await?;
        let claimed = crate::login_names::claim(
            &self.store,
            session.account_id,
            LoginNameKind::Phone,
            phone.as_str(),
            metadata,
        )
        .await?;
        if claimed.is_err() {
            return Err(ManageError::Taken {
                field: "phone",
                code: "phone_taken",
            });
        }
        self.codes.consume(ticket).await?;
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::ChangePhone {
                    new: phone.as_str().to_string(),
                },
                metadata,
            )
            .await?;
        self.changed(session, committed.position).await
    }

    /// 修改安全邮箱: a verification mail goes to the new address and a notice to the old one;
    /// other sessions end. The new address is a login name (and a recovery path) once verified.
    #[tracing::instrument(skip_all)]
    pub async fn change_email(
        &self,
        session: &Session,
        current: Option<&str>,
        email: &Email,
        metadata: &CommandMetadata,
    ) -> Result<Changed, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        if account.email().is_some_and(|e| e.address == email.as_str()) {
            return Err(ManageError::at("email", "email_unchanged"));
        }
        self.confirm_current_password(session, &account, current)
            .await?;
        let claimed = crate::login_names::claim(
            &self.store,
            session.account_id,
            LoginNameKind::Email,
            email.as_str(),
            metadata,
        )
        .await?;
        if claimed.is_err() {
            return Err(ManageError::Taken {
                field: "email",
                code: "email_taken",
            });
        }
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::ChangeEmail {
                    new: email.as_str().to_string(),
                },
                metadata,
            )
            .await?;
        self.mail_wake.notify_one();
        self.changed(session, committed.position).await
    }

    /// 修改姓名: passport, overseas-Chinese ID and "other" holders directly; resident-ID holders
    /// only through a reviewer, with a reason.
    #[tracing::instrument(skip_all)]
    pub async fn change_name(
        &self,
        session: &Session,
        current: Option<&str>,
        name: &PersonName,
        reason: Option<&str>,
        metadata: &CommandMetadata,
    ) -> Result<NameChanged, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        if account.name() == name.as_str() {
            return Err(ManageError::at("name", "name_unchanged"));
        }
        let resident = account
            .document()
            .is_some_and(|d| d.kind == DocumentType::ResidentIdCard);
        let reason = trimmed(reason).map(|r| r.chars().take(500).collect::<String>());
        if resident && reason.is_none() {
            return Err(ManageError::at("reason", "reason_required"));
        }
        self.confirm_current_password(session, &account, current)
            .await?;
        if resident {
            let committed = self
                .execute(
                    session.account_id,
                    AccountCommand::RequestNameChange {
                        new_name: name.as_str().to_string(),
                        reason: reason.unwrap_or_default(),
                    },
                    metadata,
                )
                .await?;
            return Ok(NameChanged::PendingReview {
                position: committed.position,
            });
        }
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::ChangeName {
                    new: name.as_str().to_string(),
                },
                metadata,
            )
            .await?;
        Ok(NameChanged::Changed(
            self.changed(session, committed.position).await?,
        ))
    }

    /// 设置密保问题: replaces all three questions and answers (answers hashed).
    #[tracing::instrument(skip_all)]
    pub async fn set_security_questions(
        &self,
        session: &Session,
        current: Option<&str>,
        questions: Vec<SecurityQuestionAnswer>,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, ManageError> {
        require_person(session)?;
        let account = self.load(session.account_id).await?;
        self.confirm_current_password(session, &account, current)
            .await?;
        let mut stored = Vec::with_capacity(questions.len());
        for pair in questions {
            let answer_hash = self
                .hasher
                .hash(&pair.answer)
                .await
                .map_err(|_| ManageError::Busy)?;
            stored.push(StoredSecurityQuestion {
                question: pair.question,
                answer_hash,
            });
        }
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::SetSecurityQuestions { questions: stored },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }
    /// 解除绑定: unlinks WeChat or Alipay; the account keeps its other ways in.
    #[tracing::instrument(skip_all)]
    pub async fn unlink_external_login(
        &self,
        session: &Session,
        provider: crate::oauth::Provider,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, ManageError> {
        require_person(session)?;
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::UnlinkExternalLogin {
                    provider: provider.as_str().to_string(),
                },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }

    /// The language the account's mails and SMS notices are written in from now on.
    #[tracing::instrument(skip_all)]
    pub async fn choose_language(
        &self,
        session: &Session,
        language: crate::messages::Language,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, ManageError> {
        require_person(session)?;
        let committed = self
            .execute(
                session.account_id,
                AccountCommand::ChooseLanguage { language },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }

    /// Resident-ID name changes waiting for a reviewer, oldest first (at most 200).
    #[tracing::instrument(skip_all)]
    pub async fn name_change_queue(
        &self,
    ) -> anyhow::Result<Vec<xuexin_projections::account_view::NameChangeRequest>> {
        Ok(xuexin_projections::account_view::pending_name_changes(&self.db, 200).await?)
    }

    /// A reviewer approves a resident-ID holder's change of name: the name changes and every
    /// session of the account ends. Returns the new name.
    #[tracing::instrument(skip_all)]
    pub async fn approve_name_change(
        &self,
        account_id: AccountId,
        metadata: &CommandMetadata,
    ) -> Result<(String, Option<i64>), ManageError> {
        let committed = self
            .execute(account_id, AccountCommand::ApproveNameChange, metadata)
            .await?;
        self.sessions.revoke_all(account_id).await?;
        Ok((committed.aggregate.name().to_string(), committed.position))
    }

    /// A reviewer rejects a change of name, with the reason the person will read.
    #[tracing::instrument(skip_all)]
    pub async fn reject_name_change(
        &self,
        account_id: AccountId,
        reason: Option<&str>,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, ManageError> {
        let Some(reason) = trimmed(reason) else {
            return Err(ManageError::at("reason", "reason_required"));
        };
        let committed = self
            .execute(
                account_id,
                AccountCommand::RejectNameChange {
                    reason: reason.chars().take(500).collect(),
                },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }

    /// 绑定微信 / 支付宝: links `subject` of `provider` to the account: the login name first
    /// (one account per subject), then the account's own link (one subject per provider).
    /// Linking what is already linked changes nothing.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
    pub async fn link_external_login(
        &self,
        account_id: AccountId,
        provider: crate::oauth::Provider,
        subject: &str,
        metadata: &CommandMetadata,
    ) -> Result<(), ManageError> {
        let account = self.load(account_id).await?;
        match account.external_logins().get(provider.as_str()) {
            Some(current) if current == subject => return Ok(()),
            Some(_) => return Err(ManageError::Conflict("external_login_linked")),
            None => {}
        }
        let claimed = crate::login_names::claim(
            &self.store,
            account_id,
            provider.login_name_kind(),
            subject,
            metadata,
        )
        .await?;
        if claimed.is_err() {
            return Err(ManageError::Conflict("external_login_taken"));
        }
        self.execute(
            account_id,
            AccountCommand::LinkExternalLogin {
                provider: provider.as_str().to_string(),
                subject: subject.to_string(),
            },
            metadata,
        )
        .await?;
        Ok(())
    }
}

fn require_person(session: &Session) -> Result<(), ManageError> {
    match session.staff {
        None => Ok(()),
        Some(_) => Err(ManageError::NotAPerson),
    }
}
