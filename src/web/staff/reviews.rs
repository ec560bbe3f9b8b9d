//! The reviewer's pages: the manual-review queue (人工审核) with each claim's photo, details
//! and masked ID number, approve or reject with a reason the person reads; the resident-ID
//! name-change queue; each entry's age in working days against the seeds' three-day promise.

use super::gate::{shown_time, staff_form, staff_page};
use crate::application::account::AccountManagement;
use crate::application::identity::{ClaimError, IdentityClaims};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use crate::workdays::PROMISE;
use axum::extract::{Form, Path, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::roles::StaffRole;
use xuexin_domain::{AccountId, Timestamp};

use super::super::page::{read_failed, reflect, render, Chrome};

const REVIEWER: &[StaffRole] = &[StaffRole::Reviewer];

/// The reasons a reviewer picks from (or types another); the person reads the text.
pub const REJECTION_REASONS: &[&str] = &[
    "web.staff.reason.unclear",
    "web.staff.reason.mismatch",
    "web.staff.reason.incomplete",
    "web.staff.reason.not_holder",
];

#[derive(Serialize)]
struct Age {
    days: i64,
    overdue: bool,
}

fn age(state: &SharedState, since: Option<Timestamp>) -> Age {
    let days = since.map_or(0, |since| {
        state
            .config
            .calendar
            .working_days_between(since.millis(), state.clock.now().millis())
    });
    Age {
        days,
        overdue: days > PROMISE,
    }
}

#[derive(Serialize)]
struct ClaimLine {
    href: String,
    name: String,
    document: String,
    phone: String,
    requested_at: String,
    age: Age,
}

fn document_label(kind: &str) -> &'static str {
    crate::application::profile::document_type_label(kind)
}

/// 人工审核: the claims waiting for a reviewer, oldest first.
#[tracing::instrument(skip_all)]
pub async fn queue(
    State(state): State<SharedState>,
    State(identity): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/reviews", REVIEWER).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let claims = match identity.review_queue().await {
        Ok(claims) => claims,
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the review queue"),
    };
    let lines: Vec<ClaimLine> = claims
        .into_iter()
        .map(|c| ClaimLine {
            href: format!("/staff/reviews/{}/{}", c.identity_id, c.claimant),
            name: c.claimant_name,
            document: format!("{} {}", document_label(&c.document_type), c.document_number),
            phone: c.claimant_phone.unwrap_or_default(),
            requested_at: c
                .requested_at
                .map(crate::messenger::beijing_time)
                .unwrap_or_default(),
            age: age(&state, c.requested_at),
        })
        .collect();
    let page = render(
        StatusCode::OK,
        "staff_reviews.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.reviews.title", "/staff/reviews", &csrf, true),
            claims => lines,
            promise => PROMISE,
        },
    );
    csrf.keep(&state, page)
}

#[derive(Serialize)]
struct Decision {
    time: String,
    actor: String,
    what: String,
}

/// One claim: the photo, the details, the decision forms, and what was decided before.
#[tracing::instrument(skip_all)]
pub async fn detail(
    State(state): State<SharedState>,
    State(identity): State<IdentityClaims>,
    headers: HeaderMap,
    Path((identity_id, claimant)): Path<(String, String)>,
) -> Response {
    let path = format!("/staff/reviews/{identity_id}/{claimant}");
    let (csrf, _) = match staff_page(&state, &headers, &path, REVIEWER).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    detail_page(
        &state,
        &identity,
        &csrf,
        &identity_id,
        &claimant,
        StatusCode::OK,
        None,
    )
    .await
}

async fn detail_page(
    state: &SharedState,
    identity: &IdentityClaims,
    csrf: &super::super::page::Csrf,
    identity_id: &str,
    claimant: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let claim = match identity.claim_under_review(identity_id, claimant).await {
        Ok(claim) => claim,
        Err(ClaimError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "a claim"),
    };
    // Who did what to this claim: the identity's events about this claimant.
    let history = match crate::audit::account_history(&state.db, claimant).await {
        Ok(events) => events,
        Err(error) => return read_failed(error, "a claim's history"),
    };
    let decisions: Vec<Decision> = history
        .into_iter()
        .filter(|e| e.aggregate_type == "Identity" && e.aggregate_id == identity_id)
        .map(|e| Decision {
            time: shown_time(e.time.as_deref()),
            actor: e.actor.unwrap_or_default(),
            what: e.event_type,
        })
        .collect();
    let reasons: Vec<&str> = REJECTION_REASONS
        .iter()
        .map(|c| messages::text(c))
        .collect();
    let page = render(
        status,
        "staff_review.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.review.title", "/staff/reviews", csrf, true),
            action => format!("/staff/reviews/{identity_id}/{claimant}/decide"),
            photo => format!("/staff/reviews/{identity_id}/{claimant}/photo"),
            name => claim.claimant_name,
            document => format!("{} {}", document_label(&claim.document_type), claim.document_number),
            phone => claim.claimant_phone.unwrap_or_default(),
            requested_at => claim.requested_at.map(crate::messenger::beijing_time).unwrap_or_default(),
            age => age(state, claim.requested_at),
            reasons => reasons,
            decisions => decisions,
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// The photo a claim was submitted with, for reviewers only.
#[tracing::instrument(skip_all)]
pub async fn photo(
    State(state): State<SharedState>,
    State(identity): State<IdentityClaims>,
    headers: HeaderMap,
    Path((identity_id, claimant)): Path<(String, String)>,
) -> Response {
    if let Err(answer) = staff_page(&state, &headers, "/staff/reviews", REVIEWER).await {
        return answer;
    }
    let Some(claimant) = AccountId::parse(&claimant) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match identity.claim_photo(&identity_id, claimant).await {
        Ok((content_type, bytes)) => super::gate::image(&content_type, bytes),
        Err(ClaimError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => read_failed(anyhow::anyhow!("{error:#}"), "a claim's photo"),
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    /// One of the listed reasons' texts, or empty.
    #[serde(default)]
    reason: String,
    /// A typed reason (used when given).
    #[serde(default)]
    other: String,
}

fn chosen_reason(form: &DecisionForm) -> Option<String> {
    let typed = form.other.trim();
    let picked = form.reason.trim();
    let reason = if typed.is_empty() { picked } else { typed };
    (!reason.is_empty()).then(|| reason.chars().take(500).collect())
}

/// 通过 or 不通过 (with a reason the person reads).
#[tracing::instrument(skip_all)]
pub async fn decide(
    State(state): State<SharedState>,
    State(identity): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    Path((identity_id, claimant)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let path = format!("/staff/reviews/{identity_id}/{claimant}");
    let (csrf, staff) = match staff_form(&state, &headers, &form.csrf, &path, REVIEWER).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let rejection = match form.decision.as_str() {
        "approve" => None,
        _ => match chosen_reason(&form) {
            Some(reason) => Some(reason),
            None => {
                return detail_page(
                    &state,
                    &identity,
                    &csrf,
                    &identity_id,
                    &claimant,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(messages::text("reason_required")),
                )
                .await
            }
        },
    };
    let metadata = context.metadata(staff.session.actor());
    match identity
        .decide_review(&identity_id, &claimant, rejection, &metadata)
        .await
    {
        Ok(step) => {
            reflect(
                &state,
                &[xuexin_projections::identity_claims::NAME],
                step.position,
            )
            .await;
            Redirect::to("/staff/reviews").into_response()
        }
        Err(ClaimError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(ClaimError::Refused(crate::store::ExecuteError::Domain(error))) => {
            detail_page(
                &state,
                &identity,
                &csrf,
                &identity_id,
                &claimant,
                StatusCode::CONFLICT,
                Some(messages::text(error.code())),
            )
            .await
        }
        Err(error) => read_failed(anyhow::anyhow!("{error:#}"), "a review decision"),
    }
}

#[derive(Serialize)]
struct NameLine {
    account: String,
    current: String,
    new: String,
    reason: String,
    document: String,
    requested_at: String,
    age: Age,
}

async fn name_page(
    state: &SharedState,
    account: &AccountManagement,
    csrf: &super::super::page::Csrf,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let queue = match account.name_change_queue().await {
        Ok(queue) => queue,
        Err(error) => return read_failed(error, "the name-change queue"),
    };
    let lines: Vec<NameLine> = queue
        .into_iter()
        .map(|r| NameLine {
            age: age(state, Some(Timestamp::from_millis(r.requested_at))),
            requested_at: crate::messenger::beijing_time(Timestamp::from_millis(r.requested_at)),
            account: r.account_id,
            current: r.current_name,
            new: r.new_name,
            reason: r.reason,
            document: r.document_masked,
        })
        .collect();
    let page = render(
        status,
        "staff_names.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.names.title", "/staff/name-changes", csrf, true),
            requests => lines,
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// 修改姓名 requests of resident-ID holders, oldest first.
#[tracing::instrument(skip_all)]
pub async fn name_changes(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/name-changes", REVIEWER).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    name_page(&state, &account, &csrf, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct NameDecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

#[tracing::instrument(skip_all)]
pub async fn decide_name_change(
    State(state): State<SharedState>,
    State(account): State<AccountManagement>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<NameDecisionForm>,
) -> Response {
    let (csrf, staff) = match staff_form(
        &state,
        &headers,
        &form.csrf,
        "/staff/name-changes",
        REVIEWER,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Some(account_id) = AccountId::parse(&form.account) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let metadata = context.metadata(staff.session.actor());
    let result = if form.decision == "approve" {
        account
            .approve_name_change(account_id, &metadata)
            .await
            .map(|(_, position)| position)
    } else {
        account
            .reject_name_change(account_id, Some(&form.reason), &metadata)
            .await
    };
    match result {
        Ok(position) => {
            reflect(&state, &[xuexin_projections::account_view::NAME], position).await;
            Redirect::to("/staff/name-changes").into_response()
        }
        Err(error) => {
            let code = match &error {
                crate::application::account::ManageError::Invalid(refusals) => {
                    refusals.first().map_or("validation_failed", |r| r.code)
                }
                crate::application::account::ManageError::Refused(
                    crate::store::ExecuteError::Domain(refusal),
                ) => refusal.code(),
                other => {
                    tracing::error!(error = %other, "a name-change decision failed");
                    "internal_error"
                }
            };
            name_page(
                &state,
                &account,
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(messages::text(code)),
            )
            .await
        }
    }
}
