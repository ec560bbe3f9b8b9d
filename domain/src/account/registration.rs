//! The Account aggregate, registration: the saga's start, its completion or abandonment.

use super::*;

impl Account {
    pub(super) async fn start_registration(
        &mut self,
        details: Box<RegistrationDetails>,
        language: Language,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if self.exists() {
            return Err(AccountError::AlreadyExists);
        }
        sink.write(AccountEvent::RegistrationStarted(*details), self)
            .await;
        if language != Language::default() {
            sink.write(AccountEvent::LanguageChosen { language }, self)
                .await;
        }

        Ok(())
    }

    pub(super) async fn complete_registration(
        &mut self,
        pending_identity_review: bool,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        match self.require_status()? {
            AccountStatus::Registering => {
                let status = if pending_identity_review {
                    AccountStatus::PendingIdentityReview
                } else {
                    AccountStatus::Active
                };
                sink.write(AccountEvent::Registered { status }, self).await;
                // The verification mail is requested in the same commit, so that no
                // crash can leave a registered e-mail without its mail.
                if let Some(email) = self.email.clone().filter(|e| !e.verified) {
                    self.write_verification_request(email.address, services, sink)
                        .await;
                }
            }
            // A resumed saga may complete twice; the second time changes nothing.
            AccountStatus::Active | AccountStatus::PendingIdentityReview => {}
            _ => return Err(AccountError::NotRegistering),
        }
        Ok(())
    }

    pub(super) async fn abandon_registration(
        &mut self,
        reason: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        match self.require_status()? {
            AccountStatus::Registering => {
                sink.write(AccountEvent::RegistrationAbandoned { reason }, self)
                    .await;
            }
            AccountStatus::Abandoned => {}
            _ => return Err(AccountError::NotRegistering),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn registration_starts_once() {
        framework()
            .given_no_previous_events()
            .when(AccountCommand::StartRegistration {
                details: Box::new(details("x$pw")),
                language: Language::Zh,
            })
            .then_expect_events(vec![AccountEvent::RegistrationStarted(details("x$pw"))]);
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::StartRegistration {
                details: Box::new(details("x$pw")),
                language: Language::Zh,
            })
            .then_expect_error(AccountError::AlreadyExists);
    }

    #[test]
    fn completing_twice_is_harmless_but_an_abandoned_saga_cannot_complete() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_events(vec![]);
        framework()
            .given(vec![
                AccountEvent::RegistrationStarted(details("x$pw")),
                AccountEvent::RegistrationAbandoned {
                    reason: "phone_taken".into(),
                },
            ])
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_error(AccountError::NotRegistering);
    }

    #[test]
    fn completing_a_registration_with_an_email_requests_its_verification() {
        framework()
            .given(vec![AccountEvent::RegistrationStarted(details("x$pw"))])
            .when(AccountCommand::CompleteRegistration {
                pending_identity_review: false,
            })
            .then_expect_events(vec![
                AccountEvent::Registered {
                    status: AccountStatus::Active,
                },
                AccountEvent::EmailVerificationRequested {
                    email: "zhangsan@example.com".into(),
                    expires_at: NOW.plus_seconds(EMAIL_VERIFICATION_TTL_SECONDS),
                },
            ]);
    }
}
