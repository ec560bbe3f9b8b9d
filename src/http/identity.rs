//! Real-name identity: the duplicate-ID claim of an account that re-registered ("我要重新注册")
//! and its four proofs — enrolment or degree information, a classmate's confirmation, a photo
//! for manual review, a real-person check — plus the classmate's inbox and the reviewers' queue.

use super::error::ProblemDocument;
use super::extract::{ApiJson, Authenticated, RequestContext, WaitFor};
use super::names::{
    AssistStatusName, ClaimStatusName, DocumentTypeName, LivenessResultName, RecordKindName,
    ReviewStatusName,
};
use crate::application::identity::{ClaimError, ClaimUnderReview, IdentityClaims, RecordsProof};
use crate::gateways::liveness::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::http::extract::{ApiBytes, ApiPath, ApiQuery};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::sessions::Session;
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::identity::IdentityError;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::values::Phone;
use xuexin_domain::AccountId;
use xuexin_projections::identity_claims;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(get_claim))
        .routes(routes!(prove_by_records))
        .routes(routes!(invite_classmate))
        .routes(routes!(request_manual_review))
        .routes(routes!(start_liveness))
        .routes(routes!(liveness_callback))
        .routes(routes!(assist_inbox))
        .routes(routes!(answer_assist))
        .routes(routes!(review_queue))
        .routes(routes!(review_detail))
        .routes(routes!(review_photo))
        .routes(routes!(approve_review))
        .routes(routes!(reject_review))
}

fn identity_problem(error: ExecuteError<IdentityError>) -> Problem {
    match error {
        ExecuteError::Domain(e) => {
            let kind = match e {
                IdentityError::InvitationLimit => ProblemKind::TooManyRequests,
                IdentityError::NoSuchAssistRequest => ProblemKind::NotFound,
                _ => ProblemKind::Conflict,
            };
            Problem::new(kind, e.code())
        }
        ExecuteError::Contention => Problem::overloaded(Duration::from_secs(1)),
        ExecuteError::Store(error) => Problem::internal(error),
    }
}

impl FromRef<SharedState> for IdentityClaims {
    fn from_ref(state: &SharedState) -> Self {
        state.identity.clone()
    }
}

/// The identity claims' refusals as the API answers them.
pub fn claim_problem(error: ClaimError) -> Problem {
    match error {
        ClaimError::NotAPerson => Problem::new(ProblemKind::Forbidden, "forbidden"),
        ClaimError::NoClaim => Problem::new(ProblemKind::NotFound, "claim_not_open"),
        ClaimError::RateLimited { retry_after } => {
            Problem::rate_limited("record_proof_rate_limited", retry_after)
        }
        ClaimError::ProofMismatch => {
            Problem::validation(vec![FieldError::new("kind", "record_proof_mismatch")])
        }
        ClaimError::ClassmateNotFound => {
            Problem::validation(vec![FieldError::new("phone", "classmate_not_found")])
        }
        ClaimError::NotOpen => Problem::new(ProblemKind::Conflict, "claim_not_open"),
        ClaimError::LivenessExhausted => Problem::new(ProblemKind::Conflict, "liveness_exhausted"),
        ClaimError::LivenessUnavailable(source) => {
            let mut problem = Problem::new(ProblemKind::Unavailable, "liveness_unavailable");
            problem.source = source;
            problem
        }
        ClaimError::BadSignature => {
            Problem::new(ProblemKind::Unauthorized, "liveness_signature_invalid")
        }
        ClaimError::MalformedCallback => Problem::new(ProblemKind::BadRequest, "invalid_json"),
        ClaimError::NotFound => Problem::new(ProblemKind::NotFound, "not_found"),
        ClaimError::UnknownSession => {
            Problem::new(ProblemKind::Conflict, "liveness_session_invalid")
        }
        ClaimError::Refused(error) => identity_problem(error),
        ClaimError::Internal(error) => Problem::internal(error),
    }
}

#[derive(Serialize, ToSchema)]
pub struct AssistRequestDocument {
    pub request_id: String,
    /// `pending`, `confirmed` or `declined`.
    #[schema(value_type = AssistStatusName)]
    pub status: String,
    pub day: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimDocument {
    /// `open` (证件重复，待核验), `approved`, `closed` (another claim won), `withdrawn`, or
    /// `none` (this account holds its identity and claims nothing).
    #[schema(value_type = ClaimStatusName)]
    pub status: String,
    pub document_number: String,
    /// All the claimant learns of the other account.
    pub holder_hint: String,
    /// How many approvals by enrolment or degree information are left for this ID number.
    pub record_proofs_left: u32,
    /// Manual review: `pending` (三个工作日内处理完毕), `rejected` (upload again) or `approved`.
    #[schema(value_type = Option<ReviewStatusName>)]
    pub manual_review: Option<String>,
    pub manual_review_reason: Option<String>,
    pub liveness_failures: u32,
    /// After three failed real-person checks, only manual review is left.
    pub manual_review_required: bool,
    pub classmate_requests: Vec<AssistRequestDocument>,
}

/// My duplicate-ID claim: its status and the proofs tried.
#[utoipa::path(
    get,
    path = "/api/v1/identity/claim",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claim", body = ClaimDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
    )
)]
pub async fn get_claim(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
) -> Result<Json<ClaimDocument>, Problem> {
    let view = claims.claim_view(&session).await.map_err(claim_problem)?;
    Ok(Json(ClaimDocument {
        status: view.status.to_string(),
        document_number: view.document_number,
        holder_hint: crate::messages::text("id_number_held").to_string(),
        record_proofs_left: view.record_proofs_left,
        manual_review: view.manual_review.map(str::to_string),
        manual_review_reason: view.manual_review_reason,
        liveness_failures: view.liveness_failures,
        manual_review_required: view.manual_review_required,
        classmate_requests: view
            .classmate_requests
            .into_iter()
            .map(|r| AssistRequestDocument {
                request_id: r.request_id,
                status: r.status.to_string(),
                day: r.day,
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RecordsProofRequest {
    /// `enrolment` (在校生) or `degree` (毕业生).
    #[schema(value_type = RecordKindName, required = true)]
    pub kind: Option<String>,
    /// 院校名称 (full name), for `enrolment`.
    pub school_name: Option<String>,
    /// 学号, for `enrolment`.
    pub student_number: Option<String>,
    /// 入学年份, for `enrolment`.
    pub enrolment_year: Option<i64>,
    /// 层次, for `enrolment`.
    pub level: Option<String>,
    /// 证书编号, for `degree`.
    pub certificate_number: Option<String>,
    /// 毕业年份, for `degree`.
    pub graduation_year: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimCommandResponse {
    /// Log position; pass it as `?position=` to read your write.
    pub position: Option<i64>,
    /// Whether this step approved the claim (the identity is now this account's).
    pub approved: bool,
}

/// Prove the identity with enrolment or degree information (提供学籍或者学历信息). The
/// information must match a school's record of this ID number. At most 3 approvals this way
/// per ID number; wrong answers are limited.
#[utoipa::path(
    post,
    path = "/api/v1/identity/claim/records",
    tag = "identity",
    request_body = RecordsProofRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = ClaimCommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 409, description = "No open claim, or the 3 approvals by records are used up", body = ProblemDocument),
        (status = 422, description = "The information does not match", body = ProblemDocument),
        (status = 429, description = "Too many wrong answers", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn prove_by_records(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<RecordsProofRequest>,
) -> Result<Json<ClaimCommandResponse>, Problem> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let proof = RecordsProof::new(
        &text(&body.kind),
        &text(&body.school_name),
        &text(&body.student_number),
        body.enrolment_year,
        &text(&body.level),
        &text(&body.certificate_number),
        body.graduation_year,
    );
    let step = claims
        .prove_by_records(&session, &proof, &context.metadata(session.actor()))
        .await
        .map_err(claim_problem)?;
    Ok(Json(ClaimCommandResponse {
        position: step.position,
        approved: step.approved,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    /// The classmate's name.
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
    /// The classmate's phone (their username).
    #[schema(required = true, nullable = false)]
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteResponse {
    pub request_id: String,
    pub position: Option<i64>,
}

/// Ask a classmate to confirm the identity (大学同班同学协助): a verified account whose record is
/// at the same school and class as this ID number's. At most 5 invitations a day.
#[utoipa::path(
    post,
    path = "/api/v1/identity/claim/classmates",
    tag = "identity",
    request_body = InviteRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invited", body = InviteResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 409, description = "No open claim", body = ProblemDocument),
        (status = 422, description = "No such classmate", body = ProblemDocument),
        (status = 429, description = "Five invitations today already", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn invite_classmate(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<InviteResponse>), Problem> {
    let phone = Phone::parse(body.phone.as_deref().unwrap_or("")).ok();
    let (request_id, position) = claims
        .invite_classmate(
            &session,
            body.name.as_deref().unwrap_or(""),
            phone.as_ref(),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(claim_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(InviteResponse {
            request_id,
            position,
        }),
    ))
}

/// Upload a photo holding the ID card or passport page for manual review (人工审核): JPEG or
/// PNG by its bytes, at most 2 MB. Reviewers answer within three working days; after a
/// rejection, upload again.
#[utoipa::path(
    post,
    path = "/api/v1/identity/claim/manual-review",
    tag = "identity",
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Waiting for review", body = ClaimCommandResponse),
        (status = 400, description = "Empty, too large, or not JPEG/PNG", body = ProblemDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 409, description = "No open claim, or a review is already pending", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn request_manual_review(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    body: Body,
) -> Result<(StatusCode, Json<ClaimCommandResponse>), Problem> {
    // The claimant first, so that nobody else's upload is read.
    claims.my_identity(&session).await.map_err(claim_problem)?;
    let bytes = crate::blobs::read_image(body).await?;
    let content_type = crate::blobs::check_image(&bytes)?;
    let position = claims
        .request_manual_review(
            &session,
            &bytes,
            content_type,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(claim_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(ClaimCommandResponse {
            position,
            approved: false,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct LivenessResponse {
    pub session_id: String,
    /// Where the person does the check (the provider's page or app link).
    pub verify_url: String,
}

/// Start a real-person check (实人验证) with the identity-verification provider. After three
/// failed checks only manual review is left.
#[utoipa::path(
    post,
    path = "/api/v1/identity/claim/liveness",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started", body = LivenessResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 409, description = "No open claim, or three checks failed already", body = ProblemDocument),
        (status = 503, description = "No provider is configured or it is unreachable", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn start_liveness(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
) -> Result<(StatusCode, Json<LivenessResponse>), Problem> {
    let (session_id, verify_url) = claims
        .start_liveness(&session, &context.metadata(session.actor()))
        .await
        .map_err(claim_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(LivenessResponse {
            session_id,
            verify_url,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct LivenessCallback {
    pub session_id: String,
    /// `pass` or `fail`.
    #[schema(value_type = LivenessResultName)]
    pub result: String,
}

/// The provider's result of a real-person check. Signed (HMAC-SHA256 of
/// `"{X-Xuexin-Timestamp}.{body}"` in `X-Xuexin-Signature`), at most five minutes old; a
/// session takes one result, so a replay changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/identity/liveness/callback",
    tag = "identity",
    request_body = LivenessCallback,
    responses(
        (status = 204, description = "Recorded"),
        (status = 401, description = "Bad or stale signature", body = ProblemDocument),
        (status = 409, description = "Unknown session, or it already has a result", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn liveness_callback(
    State(claims): State<IdentityClaims>,
    context: RequestContext,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<StatusCode, Problem> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    claims
        .record_liveness_result(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            &context.metadata(xuexin_domain::Actor::Anonymous),
        )
        .await
        .map_err(claim_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct InboxItem {
    pub request_id: String,
    /// The classmate asking: their name, and their phone masked.
    pub from_name: String,
    pub from_phone: Option<String>,
    /// `pending`, `confirmed` or `declined`.
    #[schema(value_type = AssistStatusName)]
    pub status: String,
    pub created_at: String,
}

/// My inbox of classmate-assistance requests (收件箱).
#[utoipa::path(
    get,
    path = "/api/v1/me/assist-requests",
    tag = "identity",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requests, newest first", body = Vec<InboxItem>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
    )
)]
pub async fn assist_inbox(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<InboxItem>>, Problem> {
    session.require_person()?;
    wait.wait(&state, &[identity_claims::NAME]).await?;
    let requests = claims.assist_inbox(&session).await.map_err(claim_problem)?;
    Ok(Json(
        requests
            .into_iter()
            .map(|r| InboxItem {
                request_id: r.request_id,
                from_name: r.from_name,
                from_phone: r.from_phone,
                status: r.status,
                created_at: r.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerRequest {
    /// true: 是 (this is my classmate); false: 否.
    #[schema(required = true, nullable = false)]
    pub confirm: Option<bool>,
}

/// Answer a classmate's request: yes approves their claim.
#[utoipa::path(
    post,
    path = "/api/v1/me/assist-requests/{request_id}/answer",
    tag = "identity",
    params(("request_id" = String, Path, description = "The request")),
    request_body = AnswerRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = ClaimCommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 404, description = "No such request for me, or already answered", body = ProblemDocument),
        (status = 409, description = "The claim is no longer open", body = ProblemDocument),
        (status = 422, description = "No answer", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn answer_assist(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(request_id): ApiPath<String>,
    ApiJson(body): ApiJson<AnswerRequest>,
) -> Result<Json<ClaimCommandResponse>, Problem> {
    session.require_person()?;
    let confirm = body
        .confirm
        .ok_or_else(|| Problem::validation(vec![FieldError::new("confirm", "required")]))?;
    let step = claims
        .answer_assist(
            &session,
            request_id,
            confirm,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(|error| match error {
            ClaimError::NotFound => Problem::new(ProblemKind::NotFound, "assist_request_not_found"),
            other => claim_problem(other),
        })?;
    Ok(Json(ClaimCommandResponse {
        position: step.position,
        approved: step.approved,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ReviewItem {
    pub identity_id: String,
    pub claimant: String,
    #[schema(value_type = DocumentTypeName)]
    pub document_type: String,
    pub document_number: String,
    pub claimant_name: String,
    pub claimant_phone: Option<String>,
    pub requested_at: Option<String>,
    pub photo_url: String,
}

fn review_item(claim: ClaimUnderReview) -> ReviewItem {
    ReviewItem {
        photo_url: format!(
            "/api/v1/reviews/{}/{}/photo",
            claim.identity_id, claim.claimant
        ),
        identity_id: claim.identity_id,
        claimant: claim.claimant,
        document_type: claim.document_type,
        document_number: claim.document_number,
        claimant_name: claim.claimant_name,
        claimant_phone: claim.claimant_phone,
        requested_at: claim.requested_at.map(|t| t.to_rfc3339()),
    }
}

/// The manual-review queue, oldest request first (reviewers).
#[utoipa::path(
    get,
    path = "/api/v1/reviews",
    tag = "identity",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Claims waiting for review", body = Vec<ReviewItem>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
    )
)]
pub async fn review_queue(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<ReviewItem>>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    wait.wait(&state, &[identity_claims::NAME]).await?;
    let queue = claims.review_queue().await.map_err(claim_problem)?;
    Ok(Json(queue.into_iter().map(review_item).collect()))
}

/// One claim under review, with its photo's URL.
#[utoipa::path(
    get,
    path = "/api/v1/reviews/{identity_id}/{claimant}",
    tag = "identity",
    params(("identity_id" = String, Path, description = "Identity"), ("claimant" = String, Path, description = "Claimant account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claim", body = ReviewItem),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 404, description = "No such claim", body = ProblemDocument),
    )
)]
pub async fn review_detail(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    ApiPath((identity_id, claimant)): ApiPath<(String, String)>,
) -> Result<Json<ReviewItem>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    let claim = claims
        .claim_under_review(&identity_id, &claimant)
        .await
        .map_err(claim_problem)?;
    Ok(Json(review_item(claim)))
}

/// The photo of a claim under review.
#[utoipa::path(
    get,
    path = "/api/v1/reviews/{identity_id}/{claimant}/photo",
    tag = "identity",
    params(("identity_id" = String, Path, description = "Identity"), ("claimant" = String, Path, description = "Claimant account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg"),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 404, description = "No such claim or photo", body = ProblemDocument),
    )
)]
pub async fn review_photo(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    ApiPath((identity_id, claimant)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    let claimant = AccountId::parse(&claimant)
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, "not_found"))?;
    let (content_type, bytes) = claims
        .claim_photo(&identity_id, claimant)
        .await
        .map_err(claim_problem)?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct ReviewDecision {
    /// Required to reject (the claimant sees it): e.g. 照片不清晰，请重新上传.
    pub reason: Option<String>,
}

async fn decide_review(
    claims: &IdentityClaims,
    session: &Session,
    context: &RequestContext,
    identity_id: &str,
    claimant: &str,
    rejection: Option<String>,
) -> Result<Json<ClaimCommandResponse>, Problem> {
    session.require_role(&[StaffRole::Reviewer])?;
    let step = claims
        .decide_review(
            identity_id,
            claimant,
            rejection,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(claim_problem)?;
    Ok(Json(ClaimCommandResponse {
        position: step.position,
        approved: step.approved,
    }))
}

/// Approve a claim under manual review: the identity moves to the claimant.
#[utoipa::path(
    post,
    path = "/api/v1/reviews/{identity_id}/{claimant}/approve",
    tag = "identity",
    params(("identity_id" = String, Path, description = "Identity"), ("claimant" = String, Path, description = "Claimant account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = ClaimCommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 404, description = "No such claim", body = ProblemDocument),
        (status = 409, description = "Nothing pending review, or the claim is closed", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn approve_review(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath((identity_id, claimant)): ApiPath<(String, String)>,
) -> Result<Json<ClaimCommandResponse>, Problem> {
    decide_review(&claims, &session, &context, &identity_id, &claimant, None).await
}

/// Reject a claim under manual review, with a reason; the claimant may upload again.
#[utoipa::path(
    post,
    path = "/api/v1/reviews/{identity_id}/{claimant}/reject",
    tag = "identity",
    params(("identity_id" = String, Path, description = "Identity"), ("claimant" = String, Path, description = "Claimant account")),
    request_body = ReviewDecision,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = ClaimCommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a reviewer", body = ProblemDocument),
        (status = 404, description = "No such claim", body = ProblemDocument),
        (status = 409, description = "Nothing pending review, or the claim is closed", body = ProblemDocument),
        (status = 422, description = "No reason", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn reject_review(
    State(claims): State<IdentityClaims>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath((identity_id, claimant)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ReviewDecision>,
) -> Result<Json<ClaimCommandResponse>, Problem> {
    let reason = body.reason.unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        session.require_role(&[StaffRole::Reviewer])?;
        return Err(Problem::validation(vec![FieldError::new(
            "reason",
            "reason_required",
        )]));
    }
    decide_review(
        &claims,
        &session,
        &context,
        &identity_id,
        &claimant,
        Some(reason),
    )
    .await
}
