//! The Account aggregate and the partner platforms (issue 17): consent given and withdrawn,
//! and sign-ins. Only a person's active account signs in to a platform: not staff, not an
//! account waiting for identity review, not a deactivated one.

use super::*;

impl Account {
    /// The scopes the holder consented to for `client_id`, if any.
    pub fn platform_grant(&self, client_id: &str) -> Option<&[String]> {
        self.platform_grants
            .get(client_id)
            .map(|(_, scopes)| scopes.as_slice())
    }

    /// client_id → (platform name, scopes), for 账号管理.
    pub fn platform_grants(&self) -> &std::collections::BTreeMap<String, (String, Vec<String>)> {
        &self.platform_grants
    }

    /// Whether the account may sign in to partner platforms.
    pub fn can_use_platforms(&self) -> bool {
        self.status == Some(AccountStatus::Active) && self.staff.is_none()
    }

    fn require_platform_user(&self) -> Result<(), AccountError> {
        self.require_status()?;
        if self.can_use_platforms() {
            Ok(())
        } else {
            Err(AccountError::CannotLogIn)
        }
    }

    pub(super) async fn grant_platform_access(
        &mut self,
        client_id: String,
        platform: String,
        scopes: Vec<String>,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_platform_user()?;
        // A new consent widens the old one: the scopes are the union, in a stable order.
        let mut all: Vec<String> = self
            .platform_grant(&client_id)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        for scope in scopes {
            if !all.contains(&scope) {
                all.push(scope);
            }
        }
        all.sort();
        if self.platform_grants.get(&client_id) == Some(&(platform.clone(), all.clone())) {
            return Ok(());
        }
        sink.write(
            AccountEvent::PlatformAccessGranted {
                client_id,
                platform,
                scopes: all,
            },
            self,
        )
        .await;
        Ok(())
    }

    pub(super) async fn revoke_platform_access(
        &mut self,
        client_id: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_status()?;
        let (platform, _) = self
            .platform_grants
            .get(&client_id)
            .cloned()
            .ok_or(AccountError::NoPlatformAccess)?;
        sink.write(
            AccountEvent::PlatformAccessRevoked {
                client_id,
                platform,
                reason: "holder".into(),
            },
            self,
        )
        .await;
        Ok(())
    }

    pub(super) async fn sign_in_to_platform(
        &mut self,
        client_id: String,
        platform: String,
        scopes: Vec<String>,
        consented: bool,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_platform_user()?;
        let covered = self
            .platform_grant(&client_id)
            .is_some_and(|granted| scopes.iter().all(|s| granted.contains(s)));
        if !covered && !consented {
            return Err(AccountError::ConsentNeeded);
        }
        sink.write(
            AccountEvent::SignedInToPlatform {
                client_id,
                platform,
                scopes,
            },
            self,
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn grant(scopes: &[&str]) -> AccountCommand {
        AccountCommand::GrantPlatformAccess {
            client_id: "yz".into(),
            platform: "研招网".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn consent_widens_and_repeating_it_writes_nothing() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::PlatformAccessGranted {
            client_id: "yz".into(),
            platform: "研招网".into(),
            scopes: vec!["openid".into(), "profile".into()],
        });
        framework()
            .given(given.clone())
            .when(grant(&["profile", "openid"]))
            .then_expect_events(vec![]);
        framework()
            .given(given)
            .when(grant(&["records", "openid"]))
            .then_expect_events(vec![AccountEvent::PlatformAccessGranted {
                client_id: "yz".into(),
                platform: "研招网".into(),
                scopes: vec!["openid".into(), "profile".into(), "records".into()],
            }]);
    }

    #[test]
    fn only_a_grant_can_be_revoked_and_deactivation_ends_every_grant() {
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::RevokePlatformAccess {
                client_id: "yz".into(),
            })
            .then_expect_error(AccountError::NoPlatformAccess);
        let mut given = registered("x$pw");
        given.push(AccountEvent::PlatformAccessGranted {
            client_id: "yz".into(),
            platform: "研招网".into(),
            scopes: vec!["openid".into()],
        });
        given.push(AccountEvent::OldAccountDeactivated {
            new_account: crate::ids::AccountId::new_random(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::RevokePlatformAccess {
                client_id: "yz".into(),
            })
            .then_expect_error(AccountError::NoPlatformAccess);
        framework()
            .given(given)
            .when(AccountCommand::SignInToPlatform {
                client_id: "yz".into(),
                platform: "研招网".into(),
                scopes: vec!["openid".into()],
                consented: true,
            })
            .then_expect_error(AccountError::CannotLogIn);
    }

    #[test]
    fn a_sign_in_needs_a_consent_that_covers_its_scopes() {
        let sign_in = |scopes: &[&str], consented| AccountCommand::SignInToPlatform {
            client_id: "yz".into(),
            platform: "研招网".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            consented,
        };
        framework()
            .given(registered("x$pw"))
            .when(sign_in(&["openid"], false))
            .then_expect_error(AccountError::ConsentNeeded);
        let mut given = registered("x$pw");
        given.push(AccountEvent::PlatformAccessGranted {
            client_id: "yz".into(),
            platform: "研招网".into(),
            scopes: vec!["openid".into(), "profile".into()],
        });
        framework()
            .given(given.clone())
            .when(sign_in(&["openid", "records"], false))
            .then_expect_error(AccountError::ConsentNeeded);
        framework()
            .given(given)
            .when(sign_in(&["profile", "openid"], false))
            .then_expect_events(vec![AccountEvent::SignedInToPlatform {
                client_id: "yz".into(),
                platform: "研招网".into(),
                scopes: vec!["profile".into(), "openid".into()],
            }]);
    }
}
