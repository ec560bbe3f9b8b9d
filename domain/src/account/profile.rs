//! The Account aggregate, profile: the name (directly or through review), identity review, deactivation.

use super::*;
use crate::ids::AccountId;

impl Account {
    pub(super) async fn verify_identity(
        &mut self,
        method: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if self.require_status()? == AccountStatus::PendingIdentityReview {
            sink.write(AccountEvent::IdentityVerified { method }, self)
                .await;
        }

        Ok(())
    }

    pub(super) async fn deactivate_as_old_account(
        &mut self,
        new_account: AccountId,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if self.require_status()? != AccountStatus::Deactivated {
            sink.write(AccountEvent::OldAccountDeactivated { new_account }, self)
                .await;
        }

        Ok(())
    }

    pub(super) async fn change_name(
        &mut self,
        new: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        let resident = self
            .document
            .as_ref()
            .is_some_and(|d| d.kind == crate::values::DocumentType::ResidentIdCard);
        if resident {
            return Err(AccountError::NameChangeNeedsReview);
        }
        if self.name != new {
            let old = self.name.clone();
            sink.write(
                AccountEvent::NameChanged {
                    old,
                    new,
                    via: "direct".into(),
                },
                self,
            )
            .await;
        }

        Ok(())
    }

    pub(super) async fn request_name_change(
        &mut self,
        new_name: String,
        reason: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if self.pending_name_change.is_some() {
            return Err(AccountError::NameChangePending);
        }
        sink.write(AccountEvent::NameChangeRequested { new_name, reason }, self)
            .await;

        Ok(())
    }

    pub(super) async fn approve_name_change(
        &mut self,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let (new, _) = self
            .pending_name_change
            .clone()
            .ok_or(AccountError::NoNameChangePending)?;
        let old = self.name.clone();
        sink.write(
            AccountEvent::NameChanged {
                old,
                new,
                via: "review".into(),
            },
            self,
        )
        .await;

        Ok(())
    }

    pub(super) async fn reject_name_change(
        &mut self,
        reason: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if self.pending_name_change.is_none() {
            return Err(AccountError::NoNameChangePending);
        }
        sink.write(AccountEvent::NameChangeRejected { reason }, self)
            .await;

        Ok(())
    }

    /// Records a new language; the one the account already has changes nothing.
    pub(super) async fn choose_language(
        &mut self,
        language: Language,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_status()?;
        if self.language != language {
            sink.write(AccountEvent::LanguageChosen { language }, self)
                .await;
        }
        Ok(())
    }

    pub fn language(&self) -> Language {
        self.language
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn an_english_registration_is_written_to_in_english_until_it_chooses_chinese() {
        let events = framework()
            .given_no_previous_events()
            .when(AccountCommand::StartRegistration {
                details: Box::new(details("x$pw")),
                language: Language::En,
            })
            .inspect_result()
            .unwrap();
        assert_eq!(
            events[1],
            AccountEvent::LanguageChosen {
                language: Language::En
            }
        );
        framework()
            .given(events.clone())
            .when(AccountCommand::ChooseLanguage {
                language: Language::En,
            })
            .then_expect_events(vec![]);
        framework()
            .given(events)
            .when(AccountCommand::ChooseLanguage {
                language: Language::Zh,
            })
            .then_expect_events(vec![AccountEvent::LanguageChosen {
                language: Language::Zh,
            }]);
        framework()
            .given_no_previous_events()
            .when(AccountCommand::ChooseLanguage {
                language: Language::En,
            })
            .then_expect_error(AccountError::NotFound);
    }

    #[test]
    fn a_re_registration_waits_for_identity_review_and_is_then_verified() {
        let started = vec![AccountEvent::RegistrationStarted(details("x$pw"))];
        let completed = framework()
            .given(started.clone())
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: true,
            })
            .inspect_result()
            .unwrap();
        assert_eq!(
            completed[0],
            AccountEvent::Registered {
                status: AccountStatus::PendingIdentityReview
            }
        );
        let mut pending = started;
        pending.push(completed[0].clone());
        framework()
            .given(pending.clone())
            .when(login("pw"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
        framework()
            .given(pending)
            .when(AccountCommand::VerifyIdentity {
                method: "manual_review".into(),
            })
            .then_expect_events(vec![AccountEvent::IdentityVerified {
                method: "manual_review".into(),
            }]);
    }

    #[test]
    fn a_deactivated_old_account_cannot_log_in_and_deactivating_twice_is_harmless() {
        let mut old = registered("x$pw");
        let new_account = crate::ids::AccountId(uuid::Uuid::from_u128(9));
        old.push(AccountEvent::OldAccountDeactivated { new_account });
        framework()
            .given(old.clone())
            .when(login("pw"))
            .then_expect_error(AccountError::CannotLogIn);
        framework()
            .given(old)
            .when(AccountCommand::DeactivateAsOldAccount { new_account })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_resident_id_name_changes_only_through_review() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::ChangeName {
                new: "张三丰".into(),
            })
            .then_expect_error(AccountError::NameChangeNeedsReview);
        let mut given = registered("x$pw");
        given.push(AccountEvent::NameChangeRequested {
            new_name: "张三丰".into(),
            reason: "户籍更名".into(),
        });
        framework()
            .given(given)
            .when(AccountCommand::ApproveNameChange)
            .then_expect_events(vec![AccountEvent::NameChanged {
                old: "张三".into(),
                new: "张三丰".into(),
                via: "review".into(),
            }]);
    }

    #[test]
    fn a_passport_name_changes_at_once_and_a_phone_change_names_the_old_phone() {
        let mut given = vec![AccountEvent::RegistrationStarted({
            let mut d = details("x$pw");
            d.document.kind = DocumentType::OverseasChineseIdOrPassport;
            d
        })];
        given.push(AccountEvent::Registered {
            status: AccountStatus::Active,
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::ChangeName {
                new: "JOHN SMITH".into(),
            })
            .then_expect_events(vec![AccountEvent::NameChanged {
                old: "张三".into(),
                new: "JOHN SMITH".into(),
                via: "direct".into(),
            }]);
        framework()
            .given(given)
            .when(AccountCommand::ChangePhone {
                new: "+8613900139000".into(),
            })
            .then_expect_events(vec![AccountEvent::PhoneChanged {
                old: Some("+8613800138000".into()),
                new: "+8613900139000".into(),
            }]);
    }
}
