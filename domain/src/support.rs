//! 问题反馈 (seed 000's 客服): a person reports a problem — the username it concerns, a
//! screenshot of the page and a description — and follows the ticket until staff answer it
//! (三个工作日内). Each step is an event of the `SupportTicket` aggregate (a random UUID).

use crate::record::PhotoRef;
use crate::AccountId;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest description or answer.
pub const MAX_TEXT: usize = 2000;
/// The longest username as typed.
pub const MAX_USERNAME: usize = 100;

#[derive(Clone, Debug)]
pub enum SupportCommand {
    /// The person files the ticket.
    Open {
        account_id: AccountId,
        username: String,
        description: String,
        screenshot: Option<PhotoRef>,
    },
    /// Staff answer; the person sees the answer and the ticket is answered.
    Answer { staff_id: AccountId, answer: String },
    /// The person closes the ticket (solved), or adds to it and it is open again.
    Close { account_id: AccountId },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SupportEvent {
    /// A problem report: who filed it, the username it concerns (as typed), the description
    /// and the screenshot (stored outside the log, named by its hash).
    TicketOpened {
        account_id: AccountId,
        username: String,
        description: String,
        screenshot: Option<PhotoRef>,
    },
    /// A staff member's answer, which the person reads.
    TicketAnswered { staff_id: AccountId, answer: String },
    /// The person closed the ticket.
    TicketClosed { account_id: AccountId },
}

impl DomainEvent for SupportEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TicketOpened { .. } => "TicketOpened",
            Self::TicketAnswered { .. } => "TicketAnswered",
            Self::TicketClosed { .. } => "TicketClosed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    #[error("the description is required (at most 2000 characters)")]
    DescriptionInvalid,
    #[error("the username is required (at most 100 characters)")]
    UsernameInvalid,
    #[error("the answer is required (at most 2000 characters)")]
    AnswerInvalid,
    #[error("no such ticket")]
    NotFound,
    #[error("the ticket is already open")]
    AlreadyOpen,
    #[error("the ticket is closed")]
    Closed,
    #[error("another person's ticket")]
    NotYours,
}

impl SupportError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::DescriptionInvalid => "ticket_description_invalid",
            Self::UsernameInvalid => "ticket_username_invalid",
            Self::AnswerInvalid => "ticket_answer_invalid",
            Self::NotFound => "ticket_not_found",
            Self::AlreadyOpen => "ticket_exists",
            Self::Closed => "ticket_closed",
            Self::NotYours => "ticket_not_found",
        }
    }
}

/// `open` (待处理), `answered` (已回复) or `closed` (已关闭).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketStatus {
    #[default]
    Open,
    Answered,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answered => "answered",
            Self::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportTicket {
    account: Option<AccountId>,
    status: TicketStatus,
    answers: u32,
}

impl SupportTicket {
    pub fn exists(&self) -> bool {
        self.account.is_some()
    }

    pub fn account(&self) -> Option<AccountId> {
        self.account
    }

    pub fn status(&self) -> TicketStatus {
        self.status
    }
}

/// A text trimmed, non-empty and at most `max` characters (the rule of every ticket text).
pub fn text(raw: &str, max: usize) -> Option<String> {
    let trimmed = raw.trim();
    (!trimmed.is_empty() && trimmed.chars().count() <= max).then(|| trimmed.to_string())
}

impl Aggregate for SupportTicket {
    const TYPE: &'static str = "SupportTicket";
    type Command = SupportCommand;
    type Event = SupportEvent;
    type Error = SupportError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            SupportCommand::Open {
                account_id,
                username,
                description,
                screenshot,
            } => {
                if self.exists() {
                    return Err(SupportError::AlreadyOpen);
                }
                SupportEvent::TicketOpened {
                    account_id,
                    username: text(&username, MAX_USERNAME).ok_or(SupportError::UsernameInvalid)?,
                    description: text(&description, MAX_TEXT)
                        .ok_or(SupportError::DescriptionInvalid)?,
                    screenshot,
                }
            }
            SupportCommand::Answer { staff_id, answer } => {
                match self.status {
                    _ if !self.exists() => return Err(SupportError::NotFound),
                    TicketStatus::Closed => return Err(SupportError::Closed),
                    _ => {}
                }
                SupportEvent::TicketAnswered {
                    staff_id,
                    answer: text(&answer, MAX_TEXT).ok_or(SupportError::AnswerInvalid)?,
                }
            }
            SupportCommand::Close { account_id } => {
                if self.account != Some(account_id) {
                    return Err(SupportError::NotYours);
                }
                if self.status == TicketStatus::Closed {
                    return Ok(());
                }
                SupportEvent::TicketClosed { account_id }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SupportEvent::TicketOpened { account_id, .. } => {
                self.account = Some(account_id);
                self.status = TicketStatus::Open;
            }
            SupportEvent::TicketAnswered { .. } => {
                self.status = TicketStatus::Answered;
                self.answers += 1;
            }
            SupportEvent::TicketClosed { .. } => self.status = TicketStatus::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<SupportTicket>;

    fn person() -> AccountId {
        AccountId::parse("6f1c1f3e-2b7a-4d8e-9a55-0d2a3b4c5d6e").unwrap()
    }

    fn opened() -> SupportEvent {
        SupportEvent::TicketOpened {
            account_id: person(),
            username: "13800138000".into(),
            description: "注册时提示手机号已被注册".into(),
            screenshot: None,
        }
    }

    #[test]
    fn a_ticket_opens_with_a_description_and_a_username() {
        Given::with(())
            .given_no_previous_events()
            .when(SupportCommand::Open {
                account_id: person(),
                username: " 13800138000 ".into(),
                description: "注册时提示手机号已被注册 ".into(),
                screenshot: None,
            })
            .then_expect_events(vec![opened()]);
    }

    #[test]
    fn an_empty_or_overlong_description_is_refused() {
        for description in ["  ".to_string(), "问".repeat(MAX_TEXT + 1)] {
            Given::with(())
                .given_no_previous_events()
                .when(SupportCommand::Open {
                    account_id: person(),
                    username: "13800138000".into(),
                    description,
                    screenshot: None,
                })
                .then_expect_error(SupportError::DescriptionInvalid);
        }
    }

    #[test]
    fn staff_answer_an_open_ticket_but_not_a_closed_one() {
        let staff = AccountId::new_random();
        Given::with(())
            .given(vec![opened()])
            .when(SupportCommand::Answer {
                staff_id: staff,
                answer: "已为您处理".into(),
            })
            .then_expect_events(vec![SupportEvent::TicketAnswered {
                staff_id: staff,
                answer: "已为您处理".into(),
            }]);
        Given::with(())
            .given(vec![
                opened(),
                SupportEvent::TicketClosed {
                    account_id: person(),
                },
            ])
            .when(SupportCommand::Answer {
                staff_id: staff,
                answer: "已为您处理".into(),
            })
            .then_expect_error(SupportError::Closed);
    }

    #[test]
    fn only_its_owner_closes_a_ticket() {
        Given::with(())
            .given(vec![opened()])
            .when(SupportCommand::Close {
                account_id: AccountId::new_random(),
            })
            .then_expect_error(SupportError::NotYours);
        Given::with(())
            .given(vec![opened()])
            .when(SupportCommand::Close {
                account_id: person(),
            })
            .then_expect_events(vec![SupportEvent::TicketClosed {
                account_id: person(),
            }]);
    }
}
