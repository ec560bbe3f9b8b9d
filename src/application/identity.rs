//! Real-name identity: the duplicate-ID claim of an account that re-registered ("我要重新注册")
//! and its proofs: the claim as the claimant sees it, the proof by enrolment or degree
//! information, the invitation of a classmate, the photo for manual review and the real-person
//! check, the classmate's answer and the reviewers' decisions.

use crate::config::Limit;
use crate::gateways::liveness::{self, LivenessProvider};
use crate::ratelimit::RateLimiter;
use crate::sessions::Session;
use crate::store::{CommandMetadata, Committed, Db, EventStore, ExecuteError};
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::account::{Account, AccountStatus};
use xuexin_domain::identity::{
    ClaimStatus, Identity, IdentityCommand, IdentityError, IdentityEvent,
};
use xuexin_domain::ids::{identity_id, login_name_id, LoginNameKind};
use xuexin_domain::login_name::LoginName;
use xuexin_domain::values::{mask_phone, Phone};
use xuexin_domain::{AccountId, Actor, Clock, Timestamp};
use xuexin_projections::{db_execute, on_db};
use xuexin_projections::{identity_claims, records};

/// Wrong proofs by enrolment or degree information, per claimant.
pub const RECORD_PROOF_FAILURES: Limit = Limit {
    max: 5,
    window: Duration::from_secs(3600),
};

/// What the identity claims use.
#[derive(Clone)]
pub struct IdentityClaims {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
    /// The real-person check provider, when configured.
    pub liveness: Option<Arc<LivenessProvider>>,
    /// Where the provider sends its results back to.
    pub public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Staff accounts have no identity to claim.
    #[error("not a person's account")]
    NotAPerson,
    /// The account has no document, so no claim.
    #[error("no claim")]
    NoClaim,
    #[error("too many wrong proofs")]
    RateLimited { retry_after: Duration },
    /// The enrolment or degree information matched no record of this ID number.
    #[error("the information does not match")]
    ProofMismatch,
    /// No verified classmate of this name and phone in the same class.
    #[error("no such classmate")]
    ClassmateNotFound,
    /// The claim is not open (approved, closed, withdrawn, or never made).
    #[error("no open claim")]
    NotOpen,
    /// Three real-person checks failed: only manual review is left.
    #[error("the real-person checks are used up")]
    LivenessExhausted,
    /// No provider is configured, or it failed.
    #[error("the real-person check is unavailable")]
    LivenessUnavailable(#[source] Option<anyhow::Error>),
    /// A callback whose signature is wrong or stale.
    #[error("the callback's signature is invalid")]
    BadSignature,
    /// No such classmate-assistance request, or no such claim to review.
    #[error("not found")]
    NotFound,
    /// A signed callback whose body is not the JSON the provider sends.
    #[error("the callback's body is malformed")]
    MalformedCallback,
    /// A callback for no session of ours, or one that already has its result.
    #[error("unknown liveness session")]
    UnknownSession,
    /// The identity refused the command (no open claim, limits of the proofs, …).
    #[error("the identity refused: {0}")]
    Refused(ExecuteError<IdentityError>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The identity an account claims (or holds): from its Account, the truth.
pub struct MyIdentity {
    pub identity_id: String,
    pub identity: Identity,
    pub number_digest: String,
}

/// A proof by enrolment (在校生) or degree (毕业生) information, as typed.
pub enum RecordsProof {
    Enrolment {
        school_name: String,
        student_number: String,
        enrolment_year: Option<i64>,
        level: String,
    },
    Degree {
        certificate_number: String,
        graduation_year: Option<i64>,
    },
    /// Neither kind was named: it matches nothing.
    Unknown,
}

impl RecordsProof {
    /// The proof a form names: `enrolment` (在校生) or `degree` (毕业生), with that kind's
    /// fields; anything else matches nothing.
    pub fn new(
        kind: &str,
        school_name: &str,
        student_number: &str,
        enrolment_year: Option<i64>,
        level: &str,
        certificate_number: &str,
        graduation_year: Option<i64>,
    ) -> Self {
        match kind.trim() {
            "enrolment" => Self::Enrolment {
                school_name: school_name.trim().to_string(),
                student_number: student_number.trim().to_string(),
                enrolment_year,
                level: level.trim().to_string(),
            },
            "degree" => Self::Degree {
                certificate_number: certificate_number.trim().to_string(),
                graduation_year,
            },
            _ => Self::Unknown,
        }
    }
}

/// A step of the claim: its log position and whether it approved the claim.
pub struct ClaimStep {
    pub position: Option<i64>,
    pub approved: bool,
}

fn step(committed: &Committed<Identity>) -> ClaimStep {
    ClaimStep {
        position: committed.position,
        approved: committed
            .events
            .iter()
            .any(|e| matches!(e, IdentityEvent::IdentityTransferred { .. })),
    }
}

/// A classmate-assistance request as the claimant sees it.
pub struct AssistStatus {
    pub request_id: String,
    /// `pending`, `confirmed` or `declined`.
    pub status: &'static str,
    pub day: String,
}

/// The duplicate-ID claim as its claimant sees it (证件号码重复: status and proofs tried).
pub struct ClaimView {
    /// `open` (证件重复，待核验), `approved`, `closed` (another claim won), `withdrawn`, or
    /// `none` (this account holds its identity and claims nothing).
    pub status: &'static str,
    /// The document number, masked.
    pub document_number: String,
    /// How many approvals by enrolment or degree information are left for this ID number.
    pub record_proofs_left: u32,
    /// Manual review: `pending`, `rejected` (upload again) or `approved`.
    pub manual_review: Option<&'static str>,
    pub manual_review_reason: Option<String>,
    pub liveness_failures: u32,
    /// After three failed real-person checks, only manual review is left.
    pub manual_review_required: bool,
    pub classmate_requests: Vec<AssistStatus>,
}

impl IdentityClaims {
    /// The claim of the session's account, as its claimant sees it.
    pub async fn claim_view(&self, session: &Session) -> Result<ClaimView, ClaimError> {
        use xuexin_domain::identity::{ReviewStatus, MAX_RECORD_PROOF_APPROVALS};
        let mine = self.my_identity(session).await?;
        let claim = mine.identity.claim(session.account_id);
        let (manual_review, manual_review_reason) = match claim.and_then(|c| c.review.clone()) {
            Some((ReviewStatus::Pending, _)) => (Some("pending"), None),
            Some((ReviewStatus::Rejected, reason)) => (Some("rejected"), reason),
            Some((ReviewStatus::Approved, _)) => (Some("approved"), None),
            None => (None, None),
        };
        Ok(ClaimView {
            status: match claim.map(|c| c.status) {
                None => "none",
                Some(ClaimStatus::Open) => "open",
                Some(ClaimStatus::Approved) => "approved",
                Some(ClaimStatus::Closed) => "closed",
                Some(ClaimStatus::Withdrawn) => "withdrawn",
            },
            document_number: mine
                .identity
                .document()
                .map(|d| d.masked.clone())
                .unwrap_or_default(),
            record_proofs_left: MAX_RECORD_PROOF_APPROVALS
                .saturating_sub(mine.identity.record_proof_approvals()),
            manual_review,
            manual_review_reason,
            liveness_failures: claim.map_or(0, |c| c.liveness_failures),
            manual_review_required: claim.is_some_and(|c| c.manual_review_required),
            classmate_requests: claim
                .map(|c| {
                    c.assist_requests
                        .iter()
                        .map(|r| AssistStatus {
                            request_id: r.request_id.clone(),
                            status: match r.confirmed {
                                None => "pending",
                                Some(true) => "confirmed",
                                Some(false) => "declined",
                            },
                            day: r.day.iso(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The identity of the session's account.
    pub async fn my_identity(&self, session: &Session) -> Result<MyIdentity, ClaimError> {
        if session.staff.is_some() {
            return Err(ClaimError::NotAPerson);
        }
        let account = self
            .store
            .load::<Account>(&session.account_id.to_string())
            .await?
            .aggregate;
        let document = account.document().cloned().ok_or(ClaimError::NoClaim)?;
        let identity_id = identity_id(document.kind, &document.number_digest).to_string();
        let identity = self.store.load::<Identity>(&identity_id).await?.aggregate;
        Ok(MyIdentity {
            identity_id,
            identity,
            number_digest: document.number_digest,
        })
    }

    async fn execute(
        &self,
        identity_id: &str,
        command: IdentityCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed<Identity>, ClaimError> {
        self.store
            .execute::<Identity>(identity_id, command, &(), metadata)
            .await
            .map_err(ClaimError::Refused)
    }

    /// 提供学籍或者学历信息: the information must match a school's record of this ID number.
    /// At most 3 approvals this way per ID number (the identity decides); wrong answers are
    /// limited per claimant, counted before the comparison and given back when it matches.
    #[tracing::instrument(skip_all)]
    pub async fn prove_by_records(
        &self,
        session: &Session,
        proof: &RecordsProof,
        metadata: &CommandMetadata,
    ) -> Result<ClaimStep, ClaimError> {
        let mine = self.my_identity(session).await?;
        let bucket = format!("record-proof:{}", session.account_id);
        if let Err(exceeded) = self.limiter.hit(&bucket, RECORD_PROOF_FAILURES).await? {
            return Err(ClaimError::RateLimited {
                retry_after: exceeded.retry_after,
            });
        }
        let candidates = records::with_digest(&self.db, &mine.number_digest)
            .await
            .map_err(|e| anyhow::anyhow!("failed to read records: {e}"))?;
        let matches = candidates.iter().any(|row| {
            let field = |k: &str| row.fields.get(k).map(String::as_str).unwrap_or("");
            match proof {
                RecordsProof::Enrolment {
                    school_name,
                    student_number,
                    enrolment_year,
                    level,
                } => {
                    row.kind == "enrolment"
                        && field("school_name") == school_name
                        && field("student_number") == student_number
                        && enrolment_year
                            .is_some_and(|y| field("enrolment_date").starts_with(&y.to_string()))
                        && field("level") == level
                }
                RecordsProof::Degree {
                    certificate_number,
                    graduation_year,
                } => {
                    row.kind == "degree"
                        && field("certificate_number") == certificate_number
                        && graduation_year
                            .is_some_and(|y| field("graduation_date").starts_with(&y.to_string()))
                }
                RecordsProof::Unknown => false,
            }
        });
        if !matches {
            let open = mine
                .identity
                .claim(session.account_id)
                .is_some_and(|c| c.status == ClaimStatus::Open);
            if open {
                self.execute(
                    &mine.identity_id,
                    IdentityCommand::RejectRecordsProof {
                        claimant: session.account_id,
                    },
                    metadata,
                )
                .await?;
            }
            return Err(ClaimError::ProofMismatch);
        }
        self.limiter.release(&bucket, RECORD_PROOF_FAILURES).await?;
        let committed = self
            .execute(
                &mine.identity_id,
                IdentityCommand::ApproveByRecords {
                    claimant: session.account_id,
                },
                metadata,
            )
            .await?;
        Ok(step(&committed))
    }

    /// 大学同班同学协助: a verified account of this name and phone whose enrolment record is at
    /// the same school and class as this ID number's. At most 5 invitations a day (the
    /// identity decides). Returns the request's id.
    #[tracing::instrument(skip_all)]
    pub async fn invite_classmate(
        &self,
        session: &Session,
        name: &str,
        phone: Option<&Phone>,
        metadata: &CommandMetadata,
    ) -> Result<(String, Option<i64>), ClaimError> {
        let mine = self.my_identity(session).await?;
        let phone = phone.ok_or(ClaimError::ClassmateNotFound)?;
        let holder = self
            .store
            .load::<LoginName>(&login_name_id(LoginNameKind::Phone, phone.as_str()).to_string())
            .await?
            .aggregate
            .holder()
            .ok_or(ClaimError::ClassmateNotFound)?;
        let classmate = self
            .store
            .load::<Account>(&holder.to_string())
            .await?
            .aggregate;
        let active = classmate.status() == Some(AccountStatus::Active);
        if holder == session.account_id || !active || classmate.name() != name.trim() {
            return Err(ClaimError::ClassmateNotFound);
        }
        let read = |e: sqlx::Error| anyhow::anyhow!("failed to read records: {e}");
        let claimed: Vec<(String, String)> = records::with_digest(&self.db, &mine.number_digest)
            .await
            .map_err(read)?
            .into_iter()
            .filter(|r| r.kind == "enrolment")
            .map(|r| {
                (
                    r.school_code,
                    r.fields.get("class_name").cloned().unwrap_or_default(),
                )
            })
            .collect();
        let same_class = records::for_account(&self.db, &holder.to_string())
            .await
            .map_err(read)?
            .into_iter()
            .any(|r| {
                let class = r.fields.get("class_name").cloned().unwrap_or_default();
                r.kind == "enrolment"
                    && !class.is_empty()
                    && claimed.contains(&(r.school_code, class))
            });
        if !same_class {
            return Err(ClaimError::ClassmateNotFound);
        }
        let request_id = format!("{}.{}", mine.identity_id, uuid::Uuid::new_v4().simple());
        let committed = self
            .execute(
                &mine.identity_id,
                IdentityCommand::RequestClassmateAssist {
                    claimant: session.account_id,
                    request_id: request_id.clone(),
                    classmate: holder,
                    today: self.clock.now().date(),
                },
                metadata,
            )
            .await?;
        Ok((request_id, committed.position))
    }

    /// 人工审核: a photo (already checked to be a JPEG or PNG of at most 2 MB) for a reviewer,
    /// while the claim is open.
    #[tracing::instrument(skip_all)]
    pub async fn request_manual_review(
        &self,
        session: &Session,
        bytes: &[u8],
        content_type: &'static str,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, ClaimError> {
        let mine = self.my_identity(session).await?;
        let open = mine
            .identity
            .claim(session.account_id)
            .is_some_and(|c| c.status == ClaimStatus::Open);
        if !open {
            return Err(ClaimError::NotOpen);
        }
        let photo = crate::blobs::put(&self.db, bytes, content_type, self.clock.now()).await?;
        let committed = self
            .execute(
                &mine.identity_id,
                IdentityCommand::RequestManualReview {
                    claimant: session.account_id,
                    photo,
                },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }

    /// 实人验证: a session with the provider, while the claim is open and fewer than three
    /// checks have failed. Returns the session's id and where the person does the check.
    #[tracing::instrument(skip_all)]
    pub async fn start_liveness(
        &self,
        session: &Session,
        metadata: &CommandMetadata,
    ) -> Result<(String, String), ClaimError> {
        let mine = self.my_identity(session).await?;
        let claim = mine
            .identity
            .claim(session.account_id)
            .filter(|c| c.status == ClaimStatus::Open)
            .ok_or(ClaimError::NotOpen)?;
        if claim.manual_review_required {
            return Err(ClaimError::LivenessExhausted);
        }
        let provider = self
            .liveness
            .as_ref()
            .ok_or(ClaimError::LivenessUnavailable(None))?;
        let callback = format!("{}/api/v1/identity/liveness/callback", self.public_url);
        let now_seconds = self.clock.now().millis() / 1000;
        let started = provider
            .start(&mine.identity_id, &callback, now_seconds)
            .await
            .map_err(|error| ClaimError::LivenessUnavailable(Some(error)))?;
        db_execute!(
            &self.db,
            "INSERT INTO liveness_sessions (session_id, identity_id, claimant, created_at) VALUES ($1, $2, $3, $4)",
            &started.session_id,
            &mine.identity_id,
            session.account_id.to_string(),
            self.clock.now().millis(),
        )
        .map_err(|e| anyhow::anyhow!("failed to store a liveness session: {e}"))?;
        self.execute(
            &mine.identity_id,
            IdentityCommand::StartLivenessCheck {
                claimant: session.account_id,
                session_id: started.session_id.clone(),
            },
            metadata,
        )
        .await?;
        Ok((started.session_id, started.verify_url))
    }

    /// The provider's signed result of a check (HMAC-SHA256 of `"{timestamp}.{body}"`, at most
    /// five minutes old): `{"session_id", "result": "pass" | "fail"}`, read only once the
    /// signature holds. A session takes one result, so a replay changes nothing.
    #[tracing::instrument(skip_all)]
    pub async fn record_liveness_result(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        request: &CommandMetadata,
    ) -> Result<(), ClaimError> {
        #[derive(serde::Deserialize)]
        struct Callback {
            session_id: String,
            result: String,
        }
        let provider = self.liveness.as_ref().ok_or(ClaimError::BadSignature)?;
        let now_seconds = self.clock.now().millis() / 1000;
        if !liveness::verify(provider.secret(), timestamp, signature, body, now_seconds) {
            return Err(ClaimError::BadSignature);
        }
        let callback: Callback =
            serde_json::from_slice(body).map_err(|_| ClaimError::MalformedCallback)?;
        let row: Option<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT identity_id FROM liveness_sessions WHERE session_id = $1")
                .bind(&callback.session_id)
                .fetch_optional(pool)
                .await
                .map_err(|e| anyhow::anyhow!("failed to read a liveness session: {e}"))?
        });
        let (identity_id,) = row.ok_or(ClaimError::UnknownSession)?;
        let metadata = CommandMetadata {
            actor: Actor::System("liveness-provider".into()),
            ..request.clone()
        };
        self.execute(
            &identity_id,
            IdentityCommand::RecordLivenessResult {
                session_id: callback.session_id,
                passed: callback.result == "pass",
            },
            &metadata,
        )
        .await?;
        Ok(())
    }

    /// The classmate's answer to a request for help (是 / 否). The request's id starts with the
    /// identity it belongs to; the identity checks that this account was asked.
    #[tracing::instrument(skip_all)]
    pub async fn answer_assist(
        &self,
        classmate: &Session,
        request_id: String,
        confirm: bool,
        metadata: &CommandMetadata,
    ) -> Result<ClaimStep, ClaimError> {
        if classmate.staff.is_some() {
            return Err(ClaimError::NotAPerson);
        }
        let identity_id = request_id
            .split_once('.')
            .map(|(id, _)| id.to_string())
            .ok_or(ClaimError::NotFound)?;
        let committed = self
            .execute(
                &identity_id,
                IdentityCommand::AnswerClassmateAssist {
                    request_id,
                    classmate: classmate.account_id,
                    confirm,
                },
                metadata,
            )
            .await?;
        Ok(step(&committed))
    }

    /// A reviewer's decision on a claim under manual review: approved (the identity moves to
    /// the claimant), or rejected with the reason the claimant reads (`Some(reason)`).
    #[tracing::instrument(skip_all)]
    pub async fn decide_review(
        &self,
        identity_id: &str,
        claimant: &str,
        rejection: Option<String>,
        metadata: &CommandMetadata,
    ) -> Result<ClaimStep, ClaimError> {
        let claimant = AccountId::parse(claimant).ok_or(ClaimError::NotFound)?;
        let command = match rejection {
            None => IdentityCommand::ApproveManualReview { claimant },
            Some(reason) => IdentityCommand::RejectManualReview { claimant, reason },
        };
        let committed = self.execute(identity_id, command, metadata).await?;
        Ok(step(&committed))
    }
}

/// A classmate-assistance request in the classmate's inbox (收件箱).
pub struct AssistRequestView {
    pub request_id: String,
    pub from_name: String,
    /// Masked.
    pub from_phone: Option<String>,
    /// `pending`, `confirmed` or `declined`.
    pub status: String,
    pub created_at: Timestamp,
}

/// A claim waiting for (or under) manual review, as a reviewer sees it.
pub struct ClaimUnderReview {
    pub identity_id: String,
    pub claimant: String,
    pub document_type: String,
    /// Masked.
    pub document_number: String,
    pub claimant_name: String,
    /// Masked.
    pub claimant_phone: Option<String>,
    pub requested_at: Option<Timestamp>,
}

/// The reviewers' queue shows this many claims at most.
pub const REVIEW_QUEUE_LIMIT: i64 = 200;

impl IdentityClaims {
    /// My inbox of classmate-assistance requests, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn assist_inbox(
        &self,
        session: &Session,
    ) -> Result<Vec<AssistRequestView>, ClaimError> {
        let rows = identity_claims::inbox(&self.db, &session.account_id.to_string())
            .await
            .map_err(anyhow::Error::from)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let claimant = self.store.load::<Account>(&row.claimant).await?.aggregate;
            items.push(AssistRequestView {
                request_id: row.request_id,
                from_name: claimant.name().to_string(),
                from_phone: claimant.phone().map(mask_phone),
                status: row.status,
                created_at: Timestamp::from_millis(row.created_at),
            });
        }
        Ok(items)
    }

    async fn under_review(
        &self,
        row: identity_claims::ClaimRow,
    ) -> Result<ClaimUnderReview, ClaimError> {
        let claimant = self.store.load::<Account>(&row.claimant).await?.aggregate;
        Ok(ClaimUnderReview {
            identity_id: row.identity_id,
            claimant: row.claimant,
            document_type: row.document_type,
            document_number: row.document_masked,
            claimant_name: claimant.name().to_string(),
            claimant_phone: claimant.phone().map(mask_phone),
            requested_at: row.review_requested_at.map(Timestamp::from_millis),
        })
    }

    /// The manual-review queue, oldest request first.
    #[tracing::instrument(skip_all)]
    pub async fn review_queue(&self) -> Result<Vec<ClaimUnderReview>, ClaimError> {
        let rows = identity_claims::review_queue(&self.db, REVIEW_QUEUE_LIMIT)
            .await
            .map_err(anyhow::Error::from)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(self.under_review(row).await?);
        }
        Ok(items)
    }

    /// One claim, for its reviewer; `NotFound` when there is no such claim.
    #[tracing::instrument(skip_all)]
    pub async fn claim_under_review(
        &self,
        identity_id: &str,
        claimant: &str,
    ) -> Result<ClaimUnderReview, ClaimError> {
        let row = identity_claims::claim(&self.db, identity_id, claimant)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or(ClaimError::NotFound)?;
        self.under_review(row).await
    }

    /// The photo a claim was submitted with: (content type, bytes); `NotFound` without one.
    #[tracing::instrument(skip_all)]
    pub async fn claim_photo(
        &self,
        identity_id: &str,
        claimant: AccountId,
    ) -> Result<(String, Vec<u8>), ClaimError> {
        let identity = self.store.load::<Identity>(identity_id).await?.aggregate;
        let sha256 = identity
            .claim(claimant)
            .and_then(|c| c.photo.as_ref())
            .map(|p| p.sha256.clone())
            .ok_or(ClaimError::NotFound)?;
        crate::blobs::get(&self.db, &sha256)
            .await?
            .ok_or(ClaimError::NotFound)
    }
}
