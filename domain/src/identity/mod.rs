//! The Identity aggregate: which account holds a real-name identity (document type + number),
//! and the duplicate claims of people who say the identity is theirs ("我要重新注册").
//! Keyed by a UUIDv5 of the type and the keyed digest of the number, so everything about one
//! identity — binding races, proofs, approvals — meets on one event stream and the store's
//! concurrency check decides: exactly one account binds it, exactly one claim is approved.
//!
//! A claim is approved by one of four proofs (seeds 001, 002, 004): enrolment or degree
//! information (at most 3 approvals of this kind per identity, ever), a verified classmate's
//! confirmation (at most 5 invitations per claimant per day), a manual review of a photo
//! holding the document, or a real-person check (after 3 failures, manual review). An approval
//! transfers the identity (`IdentityTransferred`) and closes every other open claim.

use crate::holding::Holding;
use crate::ids::AccountId;
use crate::record::PhotoRef;
use crate::time::CivilDate;
use crate::values::DocumentSummary;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_RECORD_PROOF_APPROVALS: u32 = 3;
pub const MAX_CLASSMATE_INVITATIONS_PER_DAY: usize = 5;
pub const MAX_LIVENESS_FAILURES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProofMethod {
    /// 提供学籍或者学历信息
    Records,
    /// 大学同班同学协助
    Classmate,
    /// 人工审核 (photo holding the document)
    ManualReview,
    /// 实人验证 (through the identity-verification provider)
    Liveness,
}

impl ProofMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Records => "records",
            Self::Classmate => "classmate",
            Self::ManualReview => "manual_review",
            Self::Liveness => "liveness",
        }
    }
}

#[derive(Clone, Debug)]
pub enum IdentityCommand {
    /// A registration binds the identity. `protected_by` names the conscription office that
    /// created the account (such identities cannot be claimed by re-registration, seed 001).
    Bind {
        account_id: AccountId,
        document: DocumentSummary,
        protected_by: Option<String>,
    },
    /// "I want to re-register": bind if free, else claim it from its holder.
    ClaimDuplicate {
        account_id: AccountId,
        document: DocumentSummary,
    },
    /// Compensation: a registration that could not finish gives back its binding or claim.
    Release {
        account_id: AccountId,
    },
    /// The claimant's enrolment or degree information matched a record of this identity.
    ApproveByRecords {
        claimant: AccountId,
    },
    /// The claimant's enrolment or degree information did not match.
    RejectRecordsProof {
        claimant: AccountId,
    },
    RequestClassmateAssist {
        claimant: AccountId,
        request_id: String,
        classmate: AccountId,
        today: CivilDate,
    },
    AnswerClassmateAssist {
        request_id: String,
        classmate: AccountId,
        confirm: bool,
    },
    RequestManualReview {
        claimant: AccountId,
        photo: PhotoRef,
    },
    ApproveManualReview {
        claimant: AccountId,
    },
    RejectManualReview {
        claimant: AccountId,
        reason: String,
    },
    StartLivenessCheck {
        claimant: AccountId,
        session_id: String,
    },
    RecordLivenessResult {
        session_id: String,
        passed: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum IdentityEvent {
    IdentityBound {
        account_id: AccountId,
        document: DocumentSummary,
        /// The conscription office that registered the identity, if one did. Since version 1.1;
        /// a 1.0 event is read (upcast) as `null`.
        protected_by: Option<String>,
    },
    IdentityReleased {
        account_id: AccountId,
        document: DocumentSummary,
    },
    DuplicateIdClaimed {
        claimant: AccountId,
        holder: AccountId,
        document: DocumentSummary,
    },
    DuplicateIdClaimWithdrawn {
        claimant: AccountId,
    },
    ClaimProofSubmitted {
        claimant: AccountId,
        method: ProofMethod,
    },
    ClaimProofRejected {
        claimant: AccountId,
        method: ProofMethod,
        reason: String,
    },
    ClassmateAssistRequested {
        claimant: AccountId,
        request_id: String,
        classmate: AccountId,
        day: CivilDate,
    },
    ClassmateAssistConfirmed {
        claimant: AccountId,
        request_id: String,
        classmate: AccountId,
    },
    ClassmateAssistDeclined {
        claimant: AccountId,
        request_id: String,
        classmate: AccountId,
    },
    ManualReviewRequested {
        claimant: AccountId,
        photo: PhotoRef,
    },
    ManualReviewApproved {
        claimant: AccountId,
    },
    ManualReviewRejected {
        claimant: AccountId,
        reason: String,
    },
    LivenessCheckStarted {
        claimant: AccountId,
        session_id: String,
    },
    LivenessCheckPassed {
        claimant: AccountId,
        session_id: String,
    },
    LivenessCheckFailed {
        claimant: AccountId,
        session_id: String,
        failures: u32,
        /// After the third failure the claim falls back to manual review.
        manual_review_required: bool,
    },
    /// The identity moves from its holder to the approved claimant.
    IdentityTransferred {
        from: AccountId,
        to: AccountId,
        method: ProofMethod,
        document: DocumentSummary,
    },
    /// Another claim was approved first.
    DuplicateIdClaimClosed {
        claimant: AccountId,
        reason: String,
    },
}

impl DomainEvent for IdentityEvent {
    fn event_type(&self) -> String {
        match self {
            Self::IdentityBound { .. } => "IdentityBound",
            Self::IdentityReleased { .. } => "IdentityReleased",
            Self::DuplicateIdClaimed { .. } => "DuplicateIdClaimed",
            Self::DuplicateIdClaimWithdrawn { .. } => "DuplicateIdClaimWithdrawn",
            Self::ClaimProofSubmitted { .. } => "ClaimProofSubmitted",
            Self::ClaimProofRejected { .. } => "ClaimProofRejected",
            Self::ClassmateAssistRequested { .. } => "ClassmateAssistRequested",
            Self::ClassmateAssistConfirmed { .. } => "ClassmateAssistConfirmed",
            Self::ClassmateAssistDeclined { .. } => "ClassmateAssistDeclined",
            Self::ManualReviewRequested { .. } => "ManualReviewRequested",
            Self::ManualReviewApproved { .. } => "ManualReviewApproved",
            Self::ManualReviewRejected { .. } => "ManualReviewRejected",
            Self::LivenessCheckStarted { .. } => "LivenessCheckStarted",
            Self::LivenessCheckPassed { .. } => "LivenessCheckPassed",
            Self::LivenessCheckFailed { .. } => "LivenessCheckFailed",
            Self::IdentityTransferred { .. } => "IdentityTransferred",
            Self::DuplicateIdClaimClosed { .. } => "DuplicateIdClaimClosed",
        }
        .to_string()
    }

    /// Bumped with an upcaster from the previous version (`crate::upcast`) whenever an
    /// event's stored shape changes.
    fn event_version(&self) -> String {
        match self {
            Self::IdentityBound { .. } => "1.1",
            _ => "1.0",
        }
        .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("identity is held by another account")]
    AlreadyBound { holder: AccountId },
    /// Used for conscription registration: re-registration is refused (seed 001).
    #[error("identity is protected by a conscription office")]
    Protected { holder: AccountId, office: String },
    #[error("no open claim by this account")]
    NoOpenClaim,
    #[error("at most 3 approvals by enrolment or degree information per identity")]
    RecordProofLimit,
    #[error("at most 5 classmate invitations a day")]
    InvitationLimit,
    #[error("no such classmate request for this account")]
    NoSuchAssistRequest,
    #[error("a manual review is already pending")]
    ReviewPending,
    #[error("no pending manual review")]
    NoPendingReview,
    #[error("the real-person check is no longer available; use manual review")]
    LivenessExhausted,
    #[error("no such real-person check session, or it already has a result")]
    NoSuchLivenessSession,
}

impl IdentityError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyBound { .. } => "id_number_taken",
            Self::Protected { .. } => "id_number_protected",
            Self::NoOpenClaim => "claim_not_open",
            Self::RecordProofLimit => "record_proof_limit",
            Self::InvitationLimit => "classmate_invitation_limit",
            Self::NoSuchAssistRequest => "assist_request_not_found",
            Self::ReviewPending => "manual_review_pending",
            Self::NoPendingReview => "manual_review_not_pending",
            Self::LivenessExhausted => "liveness_exhausted",
            Self::NoSuchLivenessSession => "liveness_session_invalid",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Open,
    Approved,
    Closed,
    Withdrawn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    Rejected,
    Approved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistRequest {
    pub request_id: String,
    pub classmate: AccountId,
    pub day: CivilDate,
    /// `None` until the classmate answers.
    pub confirmed: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub status: ClaimStatus,
    pub against: AccountId,
    pub review: Option<(ReviewStatus, Option<String>)>,
    pub photo: Option<PhotoRef>,
    pub liveness_sessions: BTreeMap<String, Option<bool>>,
    pub liveness_failures: u32,
    pub manual_review_required: bool,
    pub assist_requests: Vec<AssistRequest>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    document: Option<DocumentSummary>,
    holder: Option<AccountId>,
    protected_by: Option<String>,
    claims: BTreeMap<AccountId, Claim>,
    record_proof_approvals: u32,
}

impl Identity {
    pub fn holder(&self) -> Option<AccountId> {
        self.holder
    }

    pub fn document(&self) -> Option<&DocumentSummary> {
        self.document.as_ref()
    }

    pub fn protected_by(&self) -> Option<&str> {
        self.protected_by.as_deref()
    }

    pub fn claim(&self, claimant: AccountId) -> Option<&Claim> {
        self.claims.get(&claimant)
    }

    pub fn record_proof_approvals(&self) -> u32 {
        self.record_proof_approvals
    }

    fn open_claim(&self, claimant: AccountId) -> Result<&Claim, IdentityError> {
        self.claims
            .get(&claimant)
            .filter(|c| c.status == ClaimStatus::Open)
            .ok_or(IdentityError::NoOpenClaim)
    }

    /// Approves the claim: the identity moves to the claimant and other claims close.
    async fn approve(&mut self, claimant: AccountId, method: ProofMethod, sink: &EventSink<Self>) {
        let (Some(from), Some(document)) = (self.holder, self.document.clone()) else {
            return;
        };
        sink.write(
            IdentityEvent::IdentityTransferred {
                from,
                to: claimant,
                method,
                document,
            },
            self,
        )
        .await;
        let others: Vec<AccountId> = self
            .claims
            .iter()
            .filter(|(id, c)| **id != claimant && c.status == ClaimStatus::Open)
            .map(|(id, _)| *id)
            .collect();
        for other in others {
            sink.write(
                IdentityEvent::DuplicateIdClaimClosed {
                    claimant: other,
                    reason: "identity_transferred".into(),
                },
                self,
            )
            .await;
        }
    }

    fn claim_of_request(&self, request_id: &str, classmate: AccountId) -> Option<AccountId> {
        self.claims.iter().find_map(|(claimant, claim)| {
            claim
                .assist_requests
                .iter()
                .any(|r| {
                    r.request_id == request_id && r.classmate == classmate && r.confirmed.is_none()
                })
                .then_some(*claimant)
        })
    }

    fn answer_request(&mut self, claimant: AccountId, request_id: &str, confirmed: bool) {
        if let Some(claim) = self.claims.get_mut(&claimant) {
            for request in &mut claim.assist_requests {
                if request.request_id == request_id {
                    request.confirmed = Some(confirmed);
                }
            }
        }
    }

    fn claim_of_session(&self, session_id: &str) -> Option<AccountId> {
        self.claims.iter().find_map(|(claimant, claim)| {
            matches!(claim.liveness_sessions.get(session_id), Some(None)).then_some(*claimant)
        })
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
                protected_by,
            } => match Holding::of(self.holder, account_id) {
                Holding::Mine => {}
                Holding::Other(holder) => return Err(IdentityError::AlreadyBound { holder }),
                Holding::Free => {
                    sink.write(
                        IdentityEvent::IdentityBound {
                            account_id,
                            document,
                            protected_by,
                        },
                        self,
                    )
                    .await;
                }
            },
            IdentityCommand::ClaimDuplicate {
                account_id,
                document,
            } => match Holding::of(self.holder, account_id) {
                Holding::Free => {
                    sink.write(
                        IdentityEvent::IdentityBound {
                            account_id,
                            document,
                            protected_by: None,
                        },
                        self,
                    )
                    .await;
                }
                Holding::Mine => {}
                Holding::Other(holder) => {
                    if let Some(office) = self.protected_by.clone() {
                        return Err(IdentityError::Protected { holder, office });
                    }
                    let existing = self.claims.get(&account_id).map(|c| c.status);
                    if existing != Some(ClaimStatus::Open) {
                        sink.write(
                            IdentityEvent::DuplicateIdClaimed {
                                claimant: account_id,
                                holder,
                                document,
                            },
                            self,
                        )
                        .await;
                    }
                }
            },
            IdentityCommand::Release { account_id } => {
                if Holding::of(self.holder, account_id) == Holding::Mine {
                    if let Some(document) = self.document.clone() {
                        sink.write(
                            IdentityEvent::IdentityReleased {
                                account_id,
                                document,
                            },
                            self,
                        )
                        .await;
                    }
                } else if self
                    .claims
                    .get(&account_id)
                    .is_some_and(|c| c.status == ClaimStatus::Open)
                {
                    sink.write(
                        IdentityEvent::DuplicateIdClaimWithdrawn {
                            claimant: account_id,
                        },
                        self,
                    )
                    .await;
                }
            }
            IdentityCommand::ApproveByRecords { claimant } => {
                self.open_claim(claimant)?;
                if self.record_proof_approvals >= MAX_RECORD_PROOF_APPROVALS {
                    return Err(IdentityError::RecordProofLimit);
                }
                sink.write(
                    IdentityEvent::ClaimProofSubmitted {
                        claimant,
                        method: ProofMethod::Records,
                    },
                    self,
                )
                .await;
                self.approve(claimant, ProofMethod::Records, sink).await;
            }
            IdentityCommand::RejectRecordsProof { claimant } => {
                self.open_claim(claimant)?;
                sink.write(
                    IdentityEvent::ClaimProofRejected {
                        claimant,
                        method: ProofMethod::Records,
                        reason: "records_do_not_match".into(),
                    },
                    self,
                )
                .await;
            }
            IdentityCommand::RequestClassmateAssist {
                claimant,
                request_id,
                classmate,
                today,
            } => {
                let claim = self.open_claim(claimant)?;
                let today_count = claim
                    .assist_requests
                    .iter()
                    .filter(|r| r.day == today)
                    .count();
                if today_count >= MAX_CLASSMATE_INVITATIONS_PER_DAY {
                    return Err(IdentityError::InvitationLimit);
                }
                sink.write(
                    IdentityEvent::ClassmateAssistRequested {
                        claimant,
                        request_id,
                        classmate,
                        day: today,
                    },
                    self,
                )
                .await;
            }
            IdentityCommand::AnswerClassmateAssist {
                request_id,
                classmate,
                confirm,
            } => {
                let claimant = self
                    .claim_of_request(&request_id, classmate)
                    .ok_or(IdentityError::NoSuchAssistRequest)?;
                self.open_claim(claimant)?;
                if confirm {
                    sink.write(
                        IdentityEvent::ClassmateAssistConfirmed {
                            claimant,
                            request_id,
                            classmate,
                        },
                        self,
                    )
                    .await;
                    self.approve(claimant, ProofMethod::Classmate, sink).await;
                } else {
                    sink.write(
                        IdentityEvent::ClassmateAssistDeclined {
                            claimant,
                            request_id,
                            classmate,
                        },
                        self,
                    )
                    .await;
                }
            }
            IdentityCommand::RequestManualReview { claimant, photo } => {
                let claim = self.open_claim(claimant)?;
                if matches!(claim.review, Some((ReviewStatus::Pending, _))) {
                    return Err(IdentityError::ReviewPending);
                }
                sink.write(
                    IdentityEvent::ManualReviewRequested { claimant, photo },
                    self,
                )
                .await;
            }
            IdentityCommand::ApproveManualReview { claimant } => {
                let claim = self.open_claim(claimant)?;
                if !matches!(claim.review, Some((ReviewStatus::Pending, _))) {
                    return Err(IdentityError::NoPendingReview);
                }
                sink.write(IdentityEvent::ManualReviewApproved { claimant }, self)
                    .await;
                self.approve(claimant, ProofMethod::ManualReview, sink)
                    .await;
            }
            IdentityCommand::RejectManualReview { claimant, reason } => {
                let claim = self.open_claim(claimant)?;
                if !matches!(claim.review, Some((ReviewStatus::Pending, _))) {
                    return Err(IdentityError::NoPendingReview);
                }
                sink.write(
                    IdentityEvent::ManualReviewRejected { claimant, reason },
                    self,
                )
                .await;
            }
            IdentityCommand::StartLivenessCheck {
                claimant,
                session_id,
            } => {
                let claim = self.open_claim(claimant)?;
                if claim.manual_review_required {
                    return Err(IdentityError::LivenessExhausted);
                }
                sink.write(
                    IdentityEvent::LivenessCheckStarted {
                        claimant,
                        session_id,
                    },
                    self,
                )
                .await;
            }
            IdentityCommand::RecordLivenessResult { session_id, passed } => {
                let claimant = self
                    .claim_of_session(&session_id)
                    .ok_or(IdentityError::NoSuchLivenessSession)?;
                let claim = self.open_claim(claimant)?;
                if passed {
                    sink.write(
                        IdentityEvent::LivenessCheckPassed {
                            claimant,
                            session_id,
                        },
                        self,
                    )
                    .await;
                    self.approve(claimant, ProofMethod::Liveness, sink).await;
                } else {
                    let failures = claim.liveness_failures + 1;
                    sink.write(
                        IdentityEvent::LivenessCheckFailed {
                            claimant,
                            session_id,
                            failures,
                            manual_review_required: failures >= MAX_LIVENESS_FAILURES,
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
            IdentityEvent::IdentityBound {
                account_id,
                document,
                protected_by,
            } => {
                self.holder = Some(account_id);
                self.document = Some(document);
                self.protected_by = protected_by;
            }
            IdentityEvent::IdentityReleased { .. } => {
                self.holder = None;
                self.protected_by = None;
            }
            IdentityEvent::DuplicateIdClaimed {
                claimant,
                holder,
                document,
            } => {
                self.document.get_or_insert(document);
                self.claims.insert(
                    claimant,
                    Claim {
                        status: ClaimStatus::Open,
                        against: holder,
                        review: None,
                        photo: None,
                        liveness_sessions: BTreeMap::new(),
                        liveness_failures: 0,
                        manual_review_required: false,
                        assist_requests: Vec::new(),
                    },
                );
            }
            IdentityEvent::DuplicateIdClaimWithdrawn { claimant } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.status = ClaimStatus::Withdrawn;
                }
            }
            IdentityEvent::ClaimProofSubmitted { method, .. } => {
                if method == ProofMethod::Records {
                    self.record_proof_approvals += 1;
                }
            }
            IdentityEvent::ClaimProofRejected { .. } => {}
            IdentityEvent::ClassmateAssistRequested {
                claimant,
                request_id,
                classmate,
                day,
            } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.assist_requests.push(AssistRequest {
                        request_id,
                        classmate,
                        day,
                        confirmed: None,
                    });
                }
            }
            IdentityEvent::ClassmateAssistConfirmed {
                claimant,
                request_id,
                ..
            } => self.answer_request(claimant, &request_id, true),
            IdentityEvent::ClassmateAssistDeclined {
                claimant,
                request_id,
                ..
            } => self.answer_request(claimant, &request_id, false),
            IdentityEvent::ManualReviewRequested { claimant, photo } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.review = Some((ReviewStatus::Pending, None));
                    claim.photo = Some(photo);
                }
            }
            IdentityEvent::ManualReviewApproved { claimant } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.review = Some((ReviewStatus::Approved, None));
                }
            }
            IdentityEvent::ManualReviewRejected { claimant, reason } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.review = Some((ReviewStatus::Rejected, Some(reason)));
                }
            }
            IdentityEvent::LivenessCheckStarted {
                claimant,
                session_id,
            } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.liveness_sessions.insert(session_id, None);
                }
            }
            IdentityEvent::LivenessCheckPassed {
                claimant,
                session_id,
            } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.liveness_sessions.insert(session_id, Some(true));
                }
            }
            IdentityEvent::LivenessCheckFailed {
                claimant,
                session_id,
                failures,
                manual_review_required,
            } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.liveness_sessions.insert(session_id, Some(false));
                    claim.liveness_failures = failures;
                    claim.manual_review_required = manual_review_required;
                }
            }
            IdentityEvent::IdentityTransferred { to, .. } => {
                self.holder = Some(to);
                self.protected_by = None;
                if let Some(claim) = self.claims.get_mut(&to) {
                    claim.status = ClaimStatus::Approved;
                }
            }
            IdentityEvent::DuplicateIdClaimClosed { claimant, .. } => {
                if let Some(claim) = self.claims.get_mut(&claimant) {
                    claim.status = ClaimStatus::Closed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
