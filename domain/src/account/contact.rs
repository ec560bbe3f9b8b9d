//! The Account aggregate, contact: the phone and the security e-mail, its verification.

use super::*;
use crate::values::Email;

impl Account {
    pub(super) async fn request_email_verification(
        &mut self,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_status()?;
        let email = self.email.as_ref().ok_or(AccountError::NoEmail)?;
        if email.verified {
            return Err(AccountError::EmailAlreadyVerified);
        }
        let email = email.address.clone();
        self.write_verification_request(email, services, sink).await;

        Ok(())
    }

    /// Asks the messenger for a verification mail to `email`, whose link lives for the
    /// configured time (seed: 24 hours).
    pub(super) async fn write_verification_request(
        &mut self,
        email: String,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) {
        let expires_at = services
            .clock
            .now()
            .plus_seconds(services.email_verification_ttl_seconds);
        sink.write(
            AccountEvent::EmailVerificationRequested { email, expires_at },
            self,
        )
        .await;
    }

    pub(super) async fn verify_email(
        &mut self,
        email: Email,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_status()?;
        let current = self.email.as_ref().ok_or(AccountError::NoEmail)?;
        if current.address != email.as_str() {
            return Err(AccountError::EmailMismatch);
        }
        if current.verified {
            return Err(AccountError::EmailAlreadyVerified);
        }
        sink.write(
            AccountEvent::EmailVerified {
                email: email.as_str().to_string(),
            },
            self,
        )
        .await;

        Ok(())
    }

    pub(super) async fn unbind_phone(
        &mut self,
        phone: String,
        reason: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_status()?;
        if self.phone.as_deref() == Some(phone.as_str()) {
            sink.write(AccountEvent::PhoneUnbound { phone, reason }, self)
                .await;
        }

        Ok(())
    }

    pub(super) async fn change_phone(
        &mut self,
        new: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if self.phone.as_deref() != Some(new.as_str()) {
            let old = self.phone.clone();
            sink.write(AccountEvent::PhoneChanged { old, new }, self)
                .await;
        }

        Ok(())
    }

    pub(super) async fn change_email(
        &mut self,
        new: String,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if self.email.as_ref().map(|e| e.address.as_str()) != Some(new.as_str()) {
            let old = self.email.as_ref().map(|e| e.address.clone());
            sink.write(
                AccountEvent::EmailChanged {
                    old,
                    new: new.clone(),
                },
                self,
            )
            .await;
            self.write_verification_request(new, services, sink).await;
        }

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn a_phone_taken_over_is_unbound_once() {
        let unbind = AccountCommand::UnbindPhone {
            phone: "+8613800138000".into(),
            reason: "taken_over".into(),
        };
        framework()
            .given(registered("x$pw"))
            .when(unbind.clone())
            .then_expect_events(vec![AccountEvent::PhoneUnbound {
                phone: "+8613800138000".into(),
                reason: "taken_over".into(),
            }]);
        let mut unbound = registered("x$pw");
        unbound.push(AccountEvent::PhoneUnbound {
            phone: "+8613800138000".into(),
            reason: "taken_over".into(),
        });
        framework()
            .given(unbound)
            .when(unbind)
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_unverified_email_is_not_a_login_name() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::Login {
                password: Secret::new("pw"),
                via: LoginVia::Email,
            })
            .then_expect_error(AccountError::CannotLogIn);
        let mut verified = registered("x$pw");
        verified.push(AccountEvent::EmailVerified {
            email: "zhangsan@example.com".into(),
        });
        framework()
            .given(verified)
            .when(AccountCommand::Login {
                password: Secret::new("pw"),
                via: LoginVia::Email,
            })
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Email,
            }]);
    }

    #[test]
    fn email_verification_needs_the_current_address() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::VerifyEmail {
                email: Email::parse("other@example.com").unwrap(),
            })
            .then_expect_error(AccountError::EmailMismatch);
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::VerifyEmail {
                email: Email::parse("zhangsan@example.com").unwrap(),
            })
            .then_expect_events(vec![AccountEvent::EmailVerified {
                email: "zhangsan@example.com".into(),
            }]);
        let mut verified = registered("x$pw");
        verified.push(AccountEvent::EmailVerified {
            email: "zhangsan@example.com".into(),
        });
        framework()
            .given(verified)
            .when(AccountCommand::RequestEmailVerification)
            .then_expect_error(AccountError::EmailAlreadyVerified);
    }
}
