//! The Account aggregate, external logins (WeChat, Alipay): link, unlink, log in.

use super::*;

impl Account {
    pub(super) async fn link_external_login(
        &mut self,
        provider: String,
        subject: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        match self.external_logins.get(&provider) {
            Some(current) if *current == subject => {}
            Some(_) => return Err(AccountError::ExternalLoginAlreadyLinked),
            None => {
                sink.write(
                    AccountEvent::ExternalLoginLinked { provider, subject },
                    self,
                )
                .await;
            }
        }

        Ok(())
    }

    pub(super) async fn unlink_external_login(
        &mut self,
        provider: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let subject = self
            .external_logins
            .get(&provider)
            .cloned()
            .ok_or(AccountError::ExternalLoginNotLinked)?;
        sink.write(
            AccountEvent::ExternalLoginUnlinked { provider, subject },
            self,
        )
        .await;

        Ok(())
    }

    pub(super) async fn external_login(
        &mut self,
        provider: String,
        subject: String,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        // The login name may lag an unlink; the account's own links decide.
        if self.external_logins.get(&provider) != Some(&subject) {
            return Err(AccountError::ExternalLoginNotLinked);
        }
        let via = match provider.as_str() {
            "wechat" => crate::ids::LoginVia::WeChat,
            "alipay" => crate::ids::LoginVia::Alipay,
            _ => return Err(AccountError::ExternalLoginNotLinked),
        };
        self.pass_lock(services.clock.now(), sink).await?;
        sink.write(AccountEvent::LoginSucceeded { via }, self).await;

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn one_external_login_per_provider() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::ExternalLoginLinked {
            provider: "wechat".into(),
            subject: "u1".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::LinkExternalLogin {
                provider: "wechat".into(),
                subject: "u2".into(),
            })
            .then_expect_error(AccountError::ExternalLoginAlreadyLinked);
        framework()
            .given(given)
            .when(AccountCommand::UnlinkExternalLogin {
                provider: "wechat".into(),
            })
            .then_expect_events(vec![AccountEvent::ExternalLoginUnlinked {
                provider: "wechat".into(),
                subject: "u1".into(),
            }]);
    }

    #[test]
    fn an_external_login_needs_the_accounts_own_link() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::ExternalLoginLinked {
            provider: "alipay".into(),
            subject: "2088".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::ExternalLogin {
                provider: "alipay".into(),
                subject: "2088".into(),
            })
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Alipay,
            }]);
        // The same subject string from the other provider reaches nothing.
        framework()
            .given(given.clone())
            .when(AccountCommand::ExternalLogin {
                provider: "wechat".into(),
                subject: "2088".into(),
            })
            .then_expect_error(AccountError::ExternalLoginNotLinked);
        given.push(AccountEvent::ExternalLoginUnlinked {
            provider: "alipay".into(),
            subject: "2088".into(),
        });
        framework()
            .given(given)
            .when(AccountCommand::ExternalLogin {
                provider: "alipay".into(),
                subject: "2088".into(),
            })
            .then_expect_error(AccountError::ExternalLoginNotLinked);
    }
}
