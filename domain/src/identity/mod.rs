//! The Identity aggregate: which account holds a real-name identity (document type + number).
//! Keyed by a UUIDv5 of the type and the keyed digest of the number, so that two accounts
//! racing for one identity meet on one event stream and the store's concurrency check picks
//! exactly one.

use crate::ids::AccountId;
use crate::values::DocumentSummary;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
pub enum IdentityCommand {
    Bind {
        account_id: AccountId,
        document: DocumentSummary,
    },
    /// Compensation: a registration that could not finish gives the identity back.
    Release { account_id: AccountId },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IdentityEvent {
    IdentityBound {
        account_id: AccountId,
        document: DocumentSummary,
    },
    IdentityReleased {
        account_id: AccountId,
        document: DocumentSummary,
    },
}

impl DomainEvent for IdentityEvent {
    fn event_type(&self) -> String {
        match self {
            Self::IdentityBound { .. } => "IdentityBound",
            Self::IdentityReleased { .. } => "IdentityReleased",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("identity is held by another account")]
    AlreadyBound { holder: AccountId },
}

impl IdentityError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyBound { .. } => "id_number_taken",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    document: Option<DocumentSummary>,
    holder: Option<AccountId>,
}

impl Identity {
    pub fn holder(&self) -> Option<AccountId> {
        self.holder
    }
}

impl Aggregate for Identity {
    const TYPE: &'static str = "Identity";
    type Command = IdentityCommand;
    type Event = IdentityEvent;
    type Error = IdentityError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            IdentityCommand::Bind {
                account_id,
                document,
            } => match self.holder {
                Some(holder) if holder == account_id => {}
                Some(holder) => return Err(IdentityError::AlreadyBound { holder }),
                None => {
                    sink.write(
                        IdentityEvent::IdentityBound {
                            account_id,
                            document,
                        },
                        self,
                    )
                    .await;
                }
            },
            IdentityCommand::Release { account_id } => {
                if let (Some(holder), Some(document)) = (self.holder, self.document.clone()) {
                    if holder == account_id {
                        sink.write(
                            IdentityEvent::IdentityReleased {
                                account_id,
                                document,
                            },
                            self,
                        )
                        .await;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            IdentityEvent::IdentityBound {
                account_id,
                document,
            } => {
                self.holder = Some(account_id);
                self.document = Some(document);
            }
            IdentityEvent::IdentityReleased { .. } => {
                self.holder = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::DocumentType;
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    fn doc() -> DocumentSummary {
        DocumentSummary {
            kind: DocumentType::ResidentIdCard,
            number_digest: "abc".into(),
            masked: "51**************1X".into(),
        }
    }

    fn account(n: u128) -> AccountId {
        AccountId(Uuid::from_u128(n))
    }

    fn bound_to(n: u128) -> Vec<IdentityEvent> {
        vec![IdentityEvent::IdentityBound {
            account_id: account(n),
            document: doc(),
        }]
    }

    #[test]
    fn a_free_identity_binds() {
        TestFramework::<Identity>::with(())
            .given_no_previous_events()
            .when(IdentityCommand::Bind {
                account_id: account(1),
                document: doc(),
            })
            .then_expect_events(bound_to(1));
    }

    #[test]
    fn a_held_identity_refuses_another_account_and_names_the_holder() {
        TestFramework::<Identity>::with(())
            .given(bound_to(1))
            .when(IdentityCommand::Bind {
                account_id: account(2),
                document: doc(),
            })
            .then_expect_error(IdentityError::AlreadyBound { holder: account(1) });
    }

    #[test]
    fn binding_again_to_the_holder_is_a_no_op() {
        TestFramework::<Identity>::with(())
            .given(bound_to(1))
            .when(IdentityCommand::Bind {
                account_id: account(1),
                document: doc(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn only_the_holder_can_release() {
        TestFramework::<Identity>::with(())
            .given(bound_to(1))
            .when(IdentityCommand::Release {
                account_id: account(2),
            })
            .then_expect_events(vec![]);
        TestFramework::<Identity>::with(())
            .given(bound_to(1))
            .when(IdentityCommand::Release {
                account_id: account(1),
            })
            .then_expect_events(vec![IdentityEvent::IdentityReleased {
                account_id: account(1),
                document: doc(),
            }]);
    }
}
