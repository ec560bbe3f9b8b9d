//! 证件号码重复 in the browser (seeds 001, 002, 004): the claim's status table (证件号码 / 创建日期
//! / 日志状态 / 审核失败原因), the ways to prove the identity, and 提供学籍或者学历信息 with its
//! 在校生 and 毕业生 forms. Same use cases as `/api/v1/identity/claim…`.

use super::page::{browser_session, form_session, read_failed, render, Chrome, Csrf};
use crate::application::identity::{ClaimError, IdentityClaims, RecordsProof};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::sessions::Session;
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::{Form, Query, State};
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type FieldErrors = BTreeMap<&'static str, &'static str>;

#[derive(Serialize)]
struct ClaimPage {
    chrome: Chrome,
    status: &'static str,
    /// 日志状态, worded.
    status_label: &'static str,
    document_number: String,
    created_at: String,
    reason: Option<String>,
    /// （此证件号码还可使用 N 次）
    records_left: String,
    notice: Option<&'static str>,
}

fn status_label(status: &str, review: Option<&str>) -> &'static str {
    messages::text(match (status, review) {
        ("approved", _) => "web.identity.status_approved",
        ("closed" | "withdrawn", _) => "web.identity.status_closed",
        ("open", Some("rejected")) => "web.identity.status_rejected",
        ("open", Some("pending")) => "web.identity.status_pending",
        ("open", _) => "web.identity.status_open",
        _ => "web.identity.status_none",
    })
}

/// 证件号码重复: the claim and the ways to prove it.
#[tracing::instrument(skip_all)]
pub async fn claim_page(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = browser_session(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let csrf = Csrf::of(&state, &headers);
    show_claim(&state, &claims, &csrf, &session, None).await
}

async fn show_claim(
    state: &SharedState,
    claims: &IdentityClaims,
    csrf: &Csrf,
    session: &Session,
    notice: Option<&'static str>,
) -> Response {
    let view = match claims.claim_view(session).await {
        Ok(view) => view,
        Err(ClaimError::NotAPerson | ClaimError::NoClaim) => {
            return Redirect::to("/account").into_response()
        }
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the claim"),
    };
    let created_at = match state.account.profile(session).await {
        Ok(Some(profile)) => profile
            .registered_at
            .map(crate::messenger::beijing_time)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let page = ClaimPage {
        chrome: Chrome::new("web.identity.title", "/identity", csrf, true),
        status: view.status,
        status_label: status_label(view.status, view.manual_review),
        document_number: view.document_number,
        created_at,
        reason: view.manual_review_reason,
        records_left: messages::format(
            "web.identity.records_left",
            &[("count", &view.record_proofs_left.to_string())],
        ),
        notice,
    };
    csrf.keep(state, render(StatusCode::OK, "identity.html", page))
}

#[derive(Default, Deserialize, Serialize)]
pub struct RecordsForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    /// `enrolment` (在校生) or `degree` (毕业生).
    #[serde(default)]
    kind: String,
    #[serde(default)]
    school_name: String,
    #[serde(default)]
    student_number: String,
    #[serde(default)]
    enrolment_year: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    certificate_number: String,
    #[serde(default)]
    graduation_year: String,
}

#[derive(Serialize)]
struct RecordsPage<'a> {
    chrome: Chrome,
    form: &'a RecordsForm,
    /// The tab shown: `enrolment` or `degree`.
    tab: &'a str,
    levels: &'static [&'static str],
    errors: FieldErrors,
    alert: Option<&'static str>,
}

fn records_page(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    form: &RecordsForm,
    errors: FieldErrors,
    alert: Option<&'static str>,
) -> Response {
    let tab = if form.kind == "degree" {
        "degree"
    } else {
        "enrolment"
    };
    let page = RecordsPage {
        chrome: Chrome::new(
            "web.identity.records_title",
            "/identity/records",
            csrf,
            true,
        ),
        form,
        tab,
        levels: xuexin_domain::record::fields::LEVELS,
        errors,
        alert,
    };
    csrf.keep(state, render(status, "identity_records.html", page))
}

#[derive(Deserialize)]
pub struct Tab {
    kind: Option<String>,
}

/// 提供学籍或者学历信息: the 在校生 form, or the 毕业生 one with `?kind=degree`.
#[tracing::instrument(skip_all)]
pub async fn records_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(tab): Query<Tab>,
) -> Response {
    if browser_session(&state, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let form = RecordsForm {
        kind: tab.kind.unwrap_or_default(),
        ..RecordsForm::default()
    };
    records_page(
        &state,
        &csrf,
        StatusCode::OK,
        &form,
        FieldErrors::new(),
        None,
    )
}

fn year(raw: &str) -> Option<i64> {
    raw.trim()
        .parse()
        .ok()
        .filter(|y| (1900..=2100).contains(y))
}

/// The proof by enrolment or degree information: approved, the page says the identity is
/// this account's and the old account is closed; refused, the reason shows at the form.
#[tracing::instrument(skip_all)]
pub async fn records_submit(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<RecordsForm>,
) -> Response {
    let (csrf, session) =
        match form_session(&state, &headers, &form.csrf, "/identity/records").await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let degree = form.kind == "degree";
    let required: &[(&'static str, &String)] = if degree {
        &[
            ("certificate_number", &form.certificate_number),
            ("graduation_year", &form.graduation_year),
        ]
    } else {
        &[
            ("school_name", &form.school_name),
            ("student_number", &form.student_number),
            ("enrolment_year", &form.enrolment_year),
            ("level", &form.level),
        ]
    };
    let mut errors = FieldErrors::new();
    for (field, value) in required {
        if value.trim().is_empty() {
            errors.insert(field, messages::text("required"));
        } else if field.ends_with("_year") && year(value).is_none() {
            errors.insert(field, messages::text("year_invalid"));
        }
    }
    if !errors.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return records_page(&state, &csrf, status, &form, errors, None);
    }
    let proof = RecordsProof::new(
        if degree { "degree" } else { "enrolment" },
        &form.school_name,
        &form.student_number,
        year(&form.enrolment_year),
        &form.level,
        &form.certificate_number,
        year(&form.graduation_year),
    );
    let metadata = context.metadata(session.actor());
    match claims.prove_by_records(&session, &proof, &metadata).await {
        Ok(step) => {
            if step.approved {
                // The session's restriction ends with the claim (as the API's).
                if let Some(position) = step.position {
                    let _ = state
                        .reads
                        .wait(&[xuexin_projections::account_view::NAME], position)
                        .await;
                }
            }
            show_claim(
                &state,
                &claims,
                &csrf,
                &session,
                Some(messages::text("web.identity.approved")),
            )
            .await
        }
        Err(error) => {
            let (status, field, text) = match error {
                ClaimError::ProofMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(if degree {
                        "certificate_number"
                    } else {
                        "school_name"
                    }),
                    messages::text("record_proof_mismatch"),
                ),
                ClaimError::RateLimited { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    None,
                    messages::text("record_proof_rate_limited"),
                ),
                ClaimError::Refused(ExecuteError::Domain(error)) => {
                    (StatusCode::CONFLICT, None, messages::text(error.code()))
                }
                ClaimError::NotOpen | ClaimError::NoClaim => {
                    (StatusCode::CONFLICT, None, messages::text("claim_not_open"))
                }
                ClaimError::NotAPerson => {
                    (StatusCode::FORBIDDEN, None, messages::text("forbidden"))
                }
                other => {
                    tracing::error!(error = format!("{other:#}"), "a records proof failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        None,
                        messages::text("internal_error"),
                    )
                }
            };
            let mut errors = FieldErrors::new();
            let alert = match field {
                Some(field) => {
                    errors.insert(field, text);
                    None
                }
                None => Some(text),
            };
            records_page(&state, &csrf, status, &form, errors, alert)
        }
    }
}
