//! Conscription offices (seed 001: 兵役登记后当地征兵办公室会给所有进行过兵役登记的学生注册学信网
//! 账号): they register young people (`registration::register_by_office`) and reset the
//! password of an account they registered (协助修改密码).

use super::account::{password_code, AccountManagement};
use super::FieldRefusal;
use crate::store::{CommandMetadata, ExecuteError};
use xuexin_domain::account::{Account, AccountCommand, AccountError, RegistrationChannel};
use xuexin_domain::hashing::SecretHasher;
use xuexin_domain::values::password::{Password, PasswordContext};
use xuexin_domain::values::{Phone, Secret};
use xuexin_domain::AccountId;

#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// The account was not registered by this office.
    #[error("the account is not from this office")]
    NotFromOffice,
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldRefusal>),
    #[error("the account refused: {0}")]
    Refused(ExecuteError<AccountError>),
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A password reset by an office: the log position, and the generated password when the
/// office gave none (shown once).
pub struct OfficeReset {
    pub position: Option<i64>,
    pub generated: Option<String>,
}

/// The password an office gives, checked by the rules, or one generated for it.
pub fn initial_password(
    given: Option<String>,
    context: &PasswordContext<'_>,
) -> Result<(Password, Option<String>), OfficeError> {
    match given.filter(|p| !p.is_empty()) {
        Some(raw) => Password::parse(&Secret::new(raw), context)
            .map(|p| (p, None))
            .map_err(|e| {
                OfficeError::Invalid(vec![FieldRefusal::new("password", password_code(e))])
            }),
        None => {
            let generated = format!("Xx-{}", &crate::security::new_token()[..20]);
            let password = Password::parse(&Secret::new(generated.clone()), context)
                .map_err(|e| anyhow::anyhow!("generated password refused: {e:?}"))?;
            Ok((password, Some(generated)))
        }
    }
}

/// What an office types for a young person: parsed into a registration (with the password
/// generated when none was given: returned to be shown once), or the refusals by field.
pub struct OfficeRegistration<'a> {
    pub name: &'a str,
    /// `resident_id_card` when absent.
    pub document_type: Option<&'a str>,
    pub document_number: &'a str,
    pub phone: Option<&'a str>,
    pub password: Option<String>,
}

impl OfficeRegistration<'_> {
    pub fn parse(
        self,
        today: xuexin_domain::time::CivilDate,
    ) -> Result<(super::registration::RegistrationForm, Option<String>), OfficeError> {
        use xuexin_domain::values::{Document, DocumentType, PersonName};
        let mut errors = Vec::new();
        let name = PersonName::parse(self.name)
            .map_err(|_| errors.push(FieldRefusal::new("name", "name_format")))
            .ok();
        let document = match self
            .document_type
            .filter(|t| !t.is_empty())
            .map_or(Some(DocumentType::ResidentIdCard), DocumentType::parse)
        {
            None => {
                errors.push(FieldRefusal::new("document_type", "document_type_invalid"));
                None
            }
            Some(kind) => Document::parse(kind, self.document_number, today)
                .map_err(|_| errors.push(FieldRefusal::new("document_number", "id_number_format")))
                .ok(),
        };
        let phone = match self.phone.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(raw) => Phone::parse(raw)
                .map_err(|_| errors.push(FieldRefusal::new("phone", "phone_format")))
                .ok(),
        };
        let (Some(name), Some(document)) = (name, document) else {
            return Err(OfficeError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(OfficeError::Invalid(errors));
        }
        let (password, generated) = {
            let rules = PasswordContext {
                phone: phone.as_ref(),
                document_number: Some(document.expose_number()),
                ..Default::default()
            };
            initial_password(self.password, &rules)?
        };
        Ok((
            super::registration::RegistrationForm {
                phone,
                sms_code: None,
                password,
                name,
                document,
                email: None,
                security_questions: Vec::new(),
                re_register: false,
                continue_registration: false,
            },
            generated,
        ))
    }
}

/// An account an office registered, as its list shows it.
pub struct OfficeAccount {
    pub account_id: String,
    pub name: String,
    /// Masked.
    pub document: String,
    /// Masked.
    pub phone: Option<String>,
    pub status: String,
    pub registered_at: Option<String>,
}

/// The accounts `office` registered, newest first (at most 500).
#[tracing::instrument(skip_all)]
pub async fn office_accounts(
    services: &AccountManagement,
    office: &str,
) -> anyhow::Result<Vec<OfficeAccount>> {
    use xuexin_projections::on_db;
    let rows: Vec<(String, Option<String>)> = on_db!(&services.db, pool => {
        sqlx::query_as(
            "SELECT aggregate_id, metadata->>'time' FROM events
             WHERE event_type = 'RegistrationStarted'
               AND metadata->>'actor' LIKE 'conscription_office:%'
             ORDER BY position DESC LIMIT 2000",
        )
        .fetch_all(pool)
        .await?
    });
    let mut accounts = Vec::new();
    for (account_id, time) in rows {
        let account = services.store.load::<Account>(&account_id).await?.aggregate;
        let ours = matches!(
            account.channel(),
            Some(RegistrationChannel::ConscriptionOffice { office: o }) if o == office
        );
        if !ours {
            continue;
        }
        accounts.push(OfficeAccount {
            name: account.name().to_string(),
            document: account
                .document()
                .map(|d| d.masked.clone())
                .unwrap_or_default(),
            phone: account.phone().map(xuexin_domain::values::mask_phone),
            status: account.status().map_or("", |s| s.as_str()).to_string(),
            registered_at: time,
            account_id,
        });
        if accounts.len() == 500 {
            break;
        }
    }
    Ok(accounts)
}

impl AccountManagement {
    /// 协助修改密码: an office resets the password of an account it registered. Every session
    /// ends, a lockout is lifted, whatever could still reset the old password dies.
    #[tracing::instrument(skip_all)]
    pub async fn reset_by_office(
        &self,
        office: &str,
        account_id: &str,
        password: Option<String>,
        metadata: &CommandMetadata,
    ) -> Result<OfficeReset, OfficeError> {
        let account = self.store.load::<Account>(account_id).await?.aggregate;
        let ours = matches!(
            account.channel(),
            Some(RegistrationChannel::ConscriptionOffice { office: o }) if o == office
        );
        if !ours {
            return Err(OfficeError::NotFromOffice);
        }
        // The rules are dropped before the first await (they borrow a closure that is not
        // Sync), so the use case's future stays Send.
        let (password, generated) = {
            let phone = account.phone().and_then(|p| Phone::parse(p).ok());
            let rules = PasswordContext {
                phone: phone.as_ref(),
                ..Default::default()
            };
            initial_password(password, &rules)?
        };
        let password_hash = self
            .hasher
            .hash(password.secret())
            .await
            .map_err(|_| OfficeError::Busy)?;
        let committed = self
            .store
            .execute::<Account>(
                account_id,
                AccountCommand::ResetPassword {
                    password_hash,
                    reason: "conscription_office".into(),
                    generation: None,
                },
                &self.account_services,
                metadata,
            )
            .await
            .map_err(OfficeError::Refused)?;
        if let Some(id) = AccountId::parse(account_id) {
            self.after_password_change(id, account.phone()).await?;
            self.sessions.revoke_all(id).await?;
        }
        Ok(OfficeReset {
            position: committed.position,
            generated,
        })
    }
}
