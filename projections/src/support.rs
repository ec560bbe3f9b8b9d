//! 问题反馈: support tickets as the person who filed them and the staff who answer them read
//! them. One row per ticket, its latest answer beside it.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, tx_execute};
use xuexin_domain::support::SupportEvent;

pub const NAME: &str = "support_tickets_v1";

pub struct SupportTickets;

#[async_trait::async_trait]
impl Projection for SupportTickets {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["support_tickets_v1"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["SupportTicket"])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "SupportTicket" {
            return Ok(());
        }
        let DomainEventKind::Support(support) = decode(event)? else {
            return Ok(());
        };
        let at = event.time().millis();
        match support {
            SupportEvent::TicketOpened {
                account_id,
                username,
                description,
                screenshot,
            } => {
                tx_execute!(
                    tx,
                    "INSERT INTO support_tickets_v1 (ticket_id, account_id, username, description,
                        screenshot_sha256, screenshot_type, status, opened_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7)
                     ON CONFLICT (ticket_id) DO NOTHING",
                    &event.aggregate_id,
                    account_id.to_string(),
                    username,
                    description,
                    screenshot.as_ref().map(|s| s.sha256.clone()),
                    screenshot.as_ref().map(|s| s.content_type.clone()),
                    at,
                )?;
            }
            SupportEvent::TicketAnswered { staff_id, answer } => {
                tx_execute!(
                    tx,
                    "UPDATE support_tickets_v1 SET status = 'answered', answer = $2,
                        answered_by = $3, answered_at = $4, updated_at = $4
                     WHERE ticket_id = $1",
                    &event.aggregate_id,
                    answer,
                    staff_id.to_string(),
                    at,
                )?;
            }
            SupportEvent::TicketClosed { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE support_tickets_v1 SET status = 'closed', updated_at = $2
                     WHERE ticket_id = $1",
                    &event.aggregate_id,
                    at,
                )?;
            }
        }
        Ok(())
    }
}

/// A ticket as the person and the staff read it.
#[derive(Clone, Debug)]
pub struct TicketRow {
    pub ticket_id: String,
    pub account_id: String,
    pub username: String,
    pub description: String,
    pub screenshot_sha256: Option<String>,
    pub screenshot_type: Option<String>,
    pub status: String,
    pub opened_at: i64,
    pub answer: Option<String>,
    pub answered_at: Option<i64>,
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "ticket_id, account_id, username, description, screenshot_sha256,
    screenshot_type, status, opened_at, answer, answered_at";

fn row(
    (
        ticket_id,
        account_id,
        username,
        description,
        screenshot_sha256,
        screenshot_type,
        status,
        opened_at,
        answer,
        answered_at,
    ): Row,
) -> TicketRow {
    TicketRow {
        ticket_id,
        account_id,
        username,
        description,
        screenshot_sha256,
        screenshot_type,
        status,
        opened_at,
        answer,
        answered_at,
    }
}

/// The tickets one person filed, newest first.
pub async fn for_account(db: &Db, account_id: &str) -> sqlx::Result<Vec<TicketRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets_v1 WHERE account_id = $1 ORDER BY opened_at DESC"
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sql.as_str()).bind(account_id).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(row).collect())
}

/// One ticket.
pub async fn get(db: &Db, ticket_id: &str) -> sqlx::Result<Option<TicketRow>> {
    let sql = format!("SELECT {COLUMNS} FROM support_tickets_v1 WHERE ticket_id = $1");
    let found: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(sql.as_str()).bind(ticket_id).fetch_optional(pool).await?
    });
    Ok(found.map(row))
}

/// The tickets waiting for an answer, oldest first (the staff's queue).
pub async fn waiting(db: &Db, limit: i64) -> sqlx::Result<Vec<TicketRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM support_tickets_v1 WHERE status = 'open' ORDER BY opened_at LIMIT $1"
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sql.as_str()).bind(limit).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(row).collect())
}
