//! 问题反馈 (seed 000): a person files a support ticket — the username it concerns, a
//! screenshot and a description — and follows it; an administrator answers it (the staff
//! console's queue is issue 16's); the person reads the answer and closes the ticket. Each
//! step is an event of the `SupportTicket` aggregate.

use super::FieldRefusal;
use crate::config::Limit;
use crate::ratelimit::RateLimiter;
use crate::sessions::Session;
use crate::store::{CommandMetadata, Db, EventStore, ExecuteError};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::support::{SupportCommand, SupportError, SupportTicket};
use xuexin_domain::{AccountId, Clock};
use xuexin_projections::support::{self, TicketRow};

/// Tickets one account may file a day.
pub const TICKETS_PER_DAY: Limit = Limit {
    max: 10,
    window: Duration::from_secs(24 * 3600),
};

/// What the support use cases use.
#[derive(Clone)]
pub struct Support {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Staff accounts file no tickets; only administrators answer.
    #[error("not allowed")]
    Forbidden,
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldRefusal>),
    /// No such ticket, or another person's.
    #[error("no such ticket")]
    NotFound,
    #[error("too many tickets today")]
    RateLimited { retry_after: Duration },
    #[error("the ticket refused: {0}")]
    Refused(ExecuteError<SupportError>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A screenshot as uploaded: its bytes and its type (already told from the bytes).
pub struct Screenshot<'a> {
    pub bytes: &'a [u8],
    pub content_type: &'static str,
}

/// A filed ticket: its id and the log position of its opening.
pub struct Filed {
    pub ticket_id: String,
    pub position: Option<i64>,
}

fn refused(error: ExecuteError<SupportError>) -> TicketError {
    match error {
        ExecuteError::Domain(SupportError::DescriptionInvalid) => {
            TicketError::Invalid(vec![FieldRefusal::new(
                "description",
                "ticket_description_invalid",
            )])
        }
        ExecuteError::Domain(SupportError::UsernameInvalid) => {
            TicketError::Invalid(vec![FieldRefusal::new(
                "username",
                "ticket_username_invalid",
            )])
        }
        ExecuteError::Domain(SupportError::AnswerInvalid) => {
            TicketError::Invalid(vec![FieldRefusal::new("answer", "ticket_answer_invalid")])
        }
        ExecuteError::Domain(SupportError::NotFound | SupportError::NotYours) => {
            TicketError::NotFound
        }
        other => TicketError::Refused(other),
    }
}

fn is_administrator(session: &Session) -> bool {
    session.role() == Some(StaffRole::Administrator)
}

impl Support {
    /// Files a ticket for the session's person. Limited per account a day, counted first.
    #[tracing::instrument(skip_all)]
    pub async fn open(
        &self,
        session: &Session,
        username: &str,
        description: &str,
        screenshot: Option<Screenshot<'_>>,
        metadata: &CommandMetadata,
    ) -> Result<Filed, TicketError> {
        if session.staff.is_some() {
            return Err(TicketError::Forbidden);
        }
        // A refused form neither counts against the day's tickets nor stores its screenshot.
        use xuexin_domain::support::{text, MAX_TEXT, MAX_USERNAME};
        if text(username, MAX_USERNAME).is_none() {
            return Err(refused(ExecuteError::Domain(SupportError::UsernameInvalid)));
        }
        if text(description, MAX_TEXT).is_none() {
            return Err(refused(ExecuteError::Domain(
                SupportError::DescriptionInvalid,
            )));
        }
        let bucket = format!("support-tickets:{}", session.account_id);
        if let Err(exceeded) = self.limiter.hit(&bucket, TICKETS_PER_DAY).await? {
            return Err(TicketError::RateLimited {
                retry_after: exceeded.retry_after,
            });
        }
        let screenshot = match screenshot {
            Some(shot) => Some(
                crate::blobs::put(&self.db, shot.bytes, shot.content_type, self.clock.now())
                    .await?,
            ),
            None => None,
        };
        let ticket_id = AccountId::new_random().to_string();
        let committed = self
            .store
            .execute::<SupportTicket>(
                &ticket_id,
                SupportCommand::Open {
                    account_id: session.account_id,
                    username: username.to_string(),
                    description: description.to_string(),
                    screenshot,
                },
                &(),
                metadata,
            )
            .await
            .map_err(refused)?;
        Ok(Filed {
            ticket_id,
            position: committed.position,
        })
    }

    /// The session's tickets, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn mine(&self, session: &Session) -> Result<Vec<TicketRow>, TicketError> {
        Ok(
            support::for_account(&self.db, &session.account_id.to_string())
                .await
                .map_err(anyhow::Error::from)?,
        )
    }

    /// One ticket, for the person who filed it or an administrator.
    #[tracing::instrument(skip_all)]
    pub async fn ticket(
        &self,
        session: &Session,
        ticket_id: &str,
    ) -> Result<TicketRow, TicketError> {
        let row = support::get(&self.db, ticket_id)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or(TicketError::NotFound)?;
        let mine = session.staff.is_none() && row.account_id == session.account_id.to_string();
        if mine || is_administrator(session) {
            Ok(row)
        } else {
            Err(TicketError::NotFound)
        }
    }

    /// A ticket's screenshot: (content type, bytes).
    #[tracing::instrument(skip_all)]
    pub async fn screenshot(
        &self,
        session: &Session,
        ticket_id: &str,
    ) -> Result<(String, Vec<u8>), TicketError> {
        let row = self.ticket(session, ticket_id).await?;
        let sha256 = row.screenshot_sha256.ok_or(TicketError::NotFound)?;
        crate::blobs::get(&self.db, &sha256)
            .await?
            .ok_or(TicketError::NotFound)
    }

    /// The tickets waiting for an answer, oldest first (administrators).
    #[tracing::instrument(skip_all)]
    pub async fn waiting(&self, session: &Session) -> Result<Vec<TicketRow>, TicketError> {
        if !is_administrator(session) {
            return Err(TicketError::Forbidden);
        }
        Ok(support::waiting(&self.db, 200)
            .await
            .map_err(anyhow::Error::from)?)
    }

    /// An administrator answers a ticket.
    #[tracing::instrument(skip_all)]
    pub async fn answer(
        &self,
        session: &Session,
        ticket_id: &str,
        answer: &str,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, TicketError> {
        if !is_administrator(session) {
            return Err(TicketError::Forbidden);
        }
        self.exists(ticket_id).await?;
        let committed = self
            .store
            .execute::<SupportTicket>(
                ticket_id,
                SupportCommand::Answer {
                    staff_id: session.account_id,
                    answer: answer.to_string(),
                },
                &(),
                metadata,
            )
            .await
            .map_err(refused)?;
        Ok(committed.position)
    }

    /// The person closes their ticket (solved).
    #[tracing::instrument(skip_all)]
    pub async fn close(
        &self,
        session: &Session,
        ticket_id: &str,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, TicketError> {
        if session.staff.is_some() {
            return Err(TicketError::Forbidden);
        }
        self.exists(ticket_id).await?;
        let committed = self
            .store
            .execute::<SupportTicket>(
                ticket_id,
                SupportCommand::Close {
                    account_id: session.account_id,
                },
                &(),
                metadata,
            )
            .await
            .map_err(refused)?;
        Ok(committed.position)
    }

    /// Not found unless the ticket was filed (so no command creates an empty one).
    async fn exists(&self, ticket_id: &str) -> Result<(), TicketError> {
        if AccountId::parse(ticket_id).is_none() {
            return Err(TicketError::NotFound);
        }
        let loaded = self.store.load::<SupportTicket>(ticket_id).await?;
        if loaded.aggregate.exists() {
            Ok(())
        } else {
            Err(TicketError::NotFound)
        }
    }
}
