//! Duplicate-ID claims as claimants and reviewers read them: each claim's status, the manual
//! review queue (oldest first), and the classmate-assistance inbox.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, tx_execute};
use serde::Serialize;
use xuexin_domain::identity::IdentityEvent;

pub const NAME: &str = "identity_claims_v1";

pub struct IdentityClaims;

/// Sets `assignments` (which may use `$3`, the event time) on one claim.
async fn update(
    tx: &mut Tx,
    event: &StoredEvent,
    claimant: &str,
    assignments: &str,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE identity_claims_v1 SET {assignments}, updated_at = $3 WHERE identity_id = $1 AND claimant = $2"
    );
    tx_execute!(
        tx,
        sql.as_str(),
        &event.aggregate_id,
        claimant,
        event.time().millis()
    )?;
    Ok(())
}

#[async_trait::async_trait]
impl Projection for IdentityClaims {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["identity_claims_v1", "assist_requests_v1"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Identity"])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Identity" {
            return Ok(());
        }
        let DomainEventKind::Identity(identity_event) = decode(event)? else {
            return Ok(());
        };
        let at = event.time().millis();
        match identity_event {
            IdentityEvent::DuplicateIdClaimed {
                claimant,
                holder,
                document,
            } => {
                tx_execute!(
                    tx,
                    "INSERT INTO identity_claims_v1 (identity_id, claimant, holder, document_type,
                        document_masked, status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 'open', $6, $6)
                     ON CONFLICT (identity_id, claimant) DO UPDATE SET status = 'open',
                        holder = excluded.holder, updated_at = excluded.updated_at",
                    &event.aggregate_id,
                    claimant.to_string(),
                    holder.to_string(),
                    document.kind.as_str(),
                    &document.masked,
                    at,
                )?;
            }
            IdentityEvent::DuplicateIdClaimWithdrawn { claimant } => {
                update(tx, event, &claimant.to_string(), "status = 'withdrawn'").await?;
            }
            IdentityEvent::ManualReviewRequested { claimant, photo } => {
                tx_execute!(
                    tx,
                    "UPDATE identity_claims_v1 SET review_status = 'pending', review_reason = NULL,
                        photo_sha256 = $3, review_requested_at = $4, updated_at = $4
                     WHERE identity_id = $1 AND claimant = $2",
                    &event.aggregate_id,
                    claimant.to_string(),
                    &photo.sha256,
                    at,
                )?;
            }
            IdentityEvent::ManualReviewApproved { claimant } => {
                update(
                    tx,
                    event,
                    &claimant.to_string(),
                    "review_status = 'approved'",
                )
                .await?;
            }
            IdentityEvent::ManualReviewRejected { claimant, reason } => {
                tx_execute!(
                    tx,
                    "UPDATE identity_claims_v1 SET review_status = 'rejected', review_reason = $3, updated_at = $4
                     WHERE identity_id = $1 AND claimant = $2",
                    &event.aggregate_id,
                    claimant.to_string(),
                    &reason,
                    at,
                )?;
            }
            IdentityEvent::LivenessCheckFailed {
                claimant,
                failures,
                manual_review_required,
                ..
            } => {
                tx_execute!(
                    tx,
                    "UPDATE identity_claims_v1 SET liveness_failures = $3, manual_review_required = $4, updated_at = $5
                     WHERE identity_id = $1 AND claimant = $2",
                    &event.aggregate_id,
                    claimant.to_string(),
                    i64::from(failures),
                    i64::from(manual_review_required),
                    at,
                )?;
            }
            IdentityEvent::IdentityTransferred { to, method, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE identity_claims_v1 SET status = 'approved', approved_by = $3, updated_at = $4
                     WHERE identity_id = $1 AND claimant = $2",
                    &event.aggregate_id,
                    to.to_string(),
                    method.as_str(),
                    at,
                )?;
            }
            IdentityEvent::DuplicateIdClaimClosed { claimant, .. } => {
                update(
                    tx,
                    event,
                    &claimant.to_string(),
                    "status = 'closed', review_status = CASE WHEN review_status = 'pending' THEN 'closed' ELSE review_status END",
                )
                .await?;
            }
            IdentityEvent::ClassmateAssistRequested {
                claimant,
                request_id,
                classmate,
                ..
            } => {
                tx_execute!(
                    tx,
                    "INSERT INTO assist_requests_v1 (request_id, identity_id, claimant, classmate, status, created_at)
                     VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (request_id) DO NOTHING",
                    &request_id,
                    &event.aggregate_id,
                    claimant.to_string(),
                    classmate.to_string(),
                    at,
                )?;
            }
            IdentityEvent::ClassmateAssistConfirmed { request_id, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE assist_requests_v1 SET status = 'confirmed', answered_at = $2 WHERE request_id = $1",
                    &request_id,
                    at,
                )?;
            }
            IdentityEvent::ClassmateAssistDeclined { request_id, .. } => {
                tx_execute!(
                    tx,
                    "UPDATE assist_requests_v1 SET status = 'declined', answered_at = $2 WHERE request_id = $1",
                    &request_id,
                    at,
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    pub identity_id: String,
    pub claimant: String,
    pub holder: String,
    pub document_type: String,
    pub document_masked: String,
    pub status: String,
    pub review_status: Option<String>,
    pub review_reason: Option<String>,
    pub review_requested_at: Option<i64>,
    pub photo_sha256: Option<String>,
    pub created_at: i64,
}

type RawClaim = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

const COLUMNS: &str = "identity_id, claimant, holder, document_type, document_masked, status, review_status, review_reason, review_requested_at, photo_sha256, created_at";

fn into_claim(r: RawClaim) -> ClaimRow {
    ClaimRow {
        identity_id: r.0,
        claimant: r.1,
        holder: r.2,
        document_type: r.3,
        document_masked: r.4,
        status: r.5,
        review_status: r.6,
        review_reason: r.7,
        review_requested_at: r.8,
        photo_sha256: r.9,
        created_at: r.10,
    }
}

/// Claims waiting for a reviewer, oldest request first.
pub async fn review_queue(db: &Db, limit: i64) -> sqlx::Result<Vec<ClaimRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM identity_claims_v1 WHERE review_status = 'pending' AND status = 'open'
         ORDER BY review_requested_at LIMIT $1"
    );
    let rows: Vec<RawClaim> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(into_claim).collect())
}

pub async fn claim(db: &Db, identity_id: &str, claimant: &str) -> sqlx::Result<Option<ClaimRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM identity_claims_v1 WHERE identity_id = $1 AND claimant = $2"
    );
    let row: Option<RawClaim> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(identity_id).bind(claimant).fetch_optional(pool).await?
    });
    Ok(row.map(into_claim))
}

#[derive(Debug, Clone, Serialize)]
pub struct AssistRow {
    pub request_id: String,
    pub identity_id: String,
    pub claimant: String,
    pub status: String,
    pub created_at: i64,
}

/// A classmate's inbox, newest first.
pub async fn inbox(db: &Db, classmate: &str) -> sqlx::Result<Vec<AssistRow>> {
    let rows: Vec<(String, String, String, String, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT request_id, identity_id, claimant, status, created_at FROM assist_requests_v1
             WHERE classmate = $1 ORDER BY created_at DESC",
        )
        .bind(classmate)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(request_id, identity_id, claimant, status, created_at)| AssistRow {
                request_id,
                identity_id,
                claimant,
                status,
                created_at,
            },
        )
        .collect())
}
