//! The LoginName aggregate: which account may log in with a phone number, an e-mail address or
//! an external login. Keyed by a UUIDv5 of kind + normalized value, so that a race for one
//! name is decided by the store's concurrency check on a single stream.

use crate::holding::Holding;
use crate::ids::{AccountId, LoginNameKind};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
pub enum LoginNameCommand {
    Claim {
        account_id: AccountId,
        kind: LoginNameKind,
        value: String,
    },
    Release {
        account_id: AccountId,
        reason: String,
    },
    /// 继续注册: take the name over from whoever holds it.
    TakeOver {
        account_id: AccountId,
        kind: LoginNameKind,
        value: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum LoginNameEvent {
    LoginNameClaimed {
        account_id: AccountId,
        kind: LoginNameKind,
        value: String,
    },
    LoginNameReleased {
        account_id: AccountId,
        kind: LoginNameKind,
        value: String,
        /// Why: `registration_abandoned`, `changed`, …
        reason: String,
    },
    LoginNameTakenOver {
        account_id: AccountId,
        previous: AccountId,
        kind: LoginNameKind,
        value: String,
    },
}

impl DomainEvent for LoginNameEvent {
    fn event_type(&self) -> String {
        match self {
            Self::LoginNameClaimed { .. } => "LoginNameClaimed",
            Self::LoginNameReleased { .. } => "LoginNameReleased",
            Self::LoginNameTakenOver { .. } => "LoginNameTakenOver",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginNameError {
    #[error("login name is held by another account")]
    Taken { holder: AccountId },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginName {
    kind: Option<LoginNameKind>,
    value: Option<String>,
    holder: Option<AccountId>,
    previous: Option<AccountId>,
}

impl LoginName {
    pub fn holder(&self) -> Option<AccountId> {
        self.holder
    }

    /// Who held the name before the last take-over.
    pub fn previous_holder(&self) -> Option<AccountId> {
        self.previous
    }
}

impl Aggregate for LoginName {
    const TYPE: &'static str = "LoginName";
    type Command = LoginNameCommand;
    type Event = LoginNameEvent;
    type Error = LoginNameError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            LoginNameCommand::Claim {
                account_id,
                kind,
                value,
            } => match Holding::of(self.holder, account_id) {
                Holding::Mine => {}
                Holding::Other(holder) => return Err(LoginNameError::Taken { holder }),
                Holding::Free => {
                    sink.write(
                        LoginNameEvent::LoginNameClaimed {
                            account_id,
                            kind,
                            value,
                        },
                        self,
                    )
                    .await;
                }
            },
            LoginNameCommand::TakeOver {
                account_id,
                kind,
                value,
            } => match Holding::of(self.holder, account_id) {
                Holding::Mine => {}
                Holding::Other(previous) => {
                    sink.write(
                        LoginNameEvent::LoginNameTakenOver {
                            account_id,
                            previous,
                            kind,
                            value,
                        },
                        self,
                    )
                    .await;
                }
                Holding::Free => {
                    sink.write(
                        LoginNameEvent::LoginNameClaimed {
                            account_id,
                            kind,
                            value,
                        },
                        self,
                    )
                    .await;
                }
            },
            LoginNameCommand::Release { account_id, reason } => {
                if let (Holding::Mine, Some(kind), Some(value)) = (
                    Holding::of(self.holder, account_id),
                    self.kind,
                    self.value.clone(),
                ) {
                    sink.write(
                        LoginNameEvent::LoginNameReleased {
                            account_id,
                            kind,
                            value,
                            reason,
                        },
                        self,
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            LoginNameEvent::LoginNameClaimed {
                account_id,
                kind,
                value,
            } => {
                self.holder = Some(account_id);
                self.kind = Some(kind);
                self.value = Some(value);
            }
            LoginNameEvent::LoginNameReleased { .. } => {
                self.holder = None;
            }
            LoginNameEvent::LoginNameTakenOver {
                account_id,
                previous,
                kind,
                value,
            } => {
                self.previous = Some(previous);
                self.holder = Some(account_id);
                self.kind = Some(kind);
                self.value = Some(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    fn account(n: u128) -> AccountId {
        AccountId(Uuid::from_u128(n))
    }

    fn claim(n: u128) -> LoginNameCommand {
        LoginNameCommand::Claim {
            account_id: account(n),
            kind: LoginNameKind::Phone,
            value: "+8613800138000".into(),
        }
    }

    fn claimed(n: u128) -> LoginNameEvent {
        LoginNameEvent::LoginNameClaimed {
            account_id: account(n),
            kind: LoginNameKind::Phone,
            value: "+8613800138000".into(),
        }
    }

    #[test]
    fn a_free_name_is_claimed() {
        TestFramework::<LoginName>::with(())
            .given_no_previous_events()
            .when(claim(1))
            .then_expect_events(vec![claimed(1)]);
    }

    #[test]
    fn a_taken_name_names_its_holder() {
        TestFramework::<LoginName>::with(())
            .given(vec![claimed(1)])
            .when(claim(2))
            .then_expect_error(LoginNameError::Taken { holder: account(1) });
    }

    #[test]
    fn a_released_name_can_be_claimed_by_someone_else() {
        TestFramework::<LoginName>::with(())
            .given(vec![
                claimed(1),
                LoginNameEvent::LoginNameReleased {
                    account_id: account(1),
                    kind: LoginNameKind::Phone,
                    value: "+8613800138000".into(),
                    reason: "registration_abandoned".into(),
                },
            ])
            .when(claim(2))
            .then_expect_events(vec![claimed(2)]);
    }

    #[test]
    fn continue_registration_takes_a_held_name_over_and_remembers_the_previous_holder() {
        let take_over = LoginNameCommand::TakeOver {
            account_id: account(2),
            kind: LoginNameKind::Phone,
            value: "+8613800138000".into(),
        };
        TestFramework::<LoginName>::with(())
            .given(vec![claimed(1)])
            .when(take_over.clone())
            .then_expect_events(vec![LoginNameEvent::LoginNameTakenOver {
                account_id: account(2),
                previous: account(1),
                kind: LoginNameKind::Phone,
                value: "+8613800138000".into(),
            }]);
        TestFramework::<LoginName>::with(())
            .given_no_previous_events()
            .when(take_over)
            .then_expect_events(vec![claimed(2)]);
    }

    #[test]
    fn releasing_someone_elses_name_does_nothing() {
        TestFramework::<LoginName>::with(())
            .given(vec![claimed(1)])
            .when(LoginNameCommand::Release {
                account_id: account(2),
                reason: "registration_abandoned".into(),
            })
            .then_expect_events(vec![]);
    }
}
