//! 证件号码重复 in the browser (seeds 001, 002, 004): the claim's status table (证件号码 / 创建日期
//! / 日志状态 / 审核失败原因), the ways to prove the identity, and 提供学籍或者学历信息 with its
//! 在校生 and 毕业生 forms. Same use cases as `/api/v1/identity/claim…`.

use super::page::{browser_session, form_session, page_session, read_failed, render, Chrome, Csrf};
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
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
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
            // The account turns Active through the identity transfers' tasks: the page waits
            // for them (?settled= in the API's words).
            if let (true, Some(position)) = (step.approved, step.position) {
                let views = [xuexin_projections::account_view::NAME];
                if let Err(error) = state.reads.settle(&views, position).await {
                    tracing::warn!(error = %error, "an approval's consequences lag");
                }
            }
            let notice = step
                .approved
                .then(|| messages::text("web.identity.approved"));
            show_claim(&state, &claims, &csrf, &session, notice).await
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

/// A claim refusal as a page shows it: status, and the text (at `field` when it has one).
fn claim_refusal(error: ClaimError) -> (StatusCode, Option<&'static str>, &'static str) {
    match error {
        ClaimError::ClassmateNotFound => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("phone"),
            messages::text("classmate_not_found"),
        ),
        ClaimError::ProofMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
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
        ClaimError::Refused(ExecuteError::Contention) => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            messages::text("overloaded"),
        ),
        ClaimError::NotOpen | ClaimError::NoClaim => {
            (StatusCode::CONFLICT, None, messages::text("claim_not_open"))
        }
        ClaimError::LivenessExhausted => (
            StatusCode::CONFLICT,
            None,
            messages::text("liveness_exhausted"),
        ),
        ClaimError::LivenessUnavailable(source) => {
            if let Some(source) = source {
                tracing::warn!(
                    error = format!("{source:#}"),
                    "the real-person check failed"
                );
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                messages::text("liveness_unavailable"),
            )
        }
        ClaimError::NotFound => (StatusCode::NOT_FOUND, None, messages::text("not_found")),
        ClaimError::NotAPerson => (StatusCode::FORBIDDEN, None, messages::text("forbidden")),
        other => {
            tracing::error!(error = format!("{other:#}"), "an identity page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                messages::text("internal_error"),
            )
        }
    }
}

#[derive(Serialize)]
struct Invitation {
    day: String,
    status: &'static str,
}

#[derive(Serialize)]
struct ProofPage<'a> {
    chrome: Chrome,
    /// `classmates`, `photo` or `liveness`.
    proof: &'a str,
    name: &'a str,
    phone: &'a str,
    invitations: Vec<Invitation>,
    /// Manual review: 待审核 / 审核失败 (with the reason) / 审核通过, if a photo was sent.
    review: Option<&'static str>,
    review_reason: Option<String>,
    manual_review_required: bool,
    errors: FieldErrors,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

fn assist_label(status: &str) -> &'static str {
    messages::text(match status {
        "confirmed" => "web.identity.assist_confirmed",
        "declined" => "web.identity.assist_declined",
        _ => "web.identity.assist_pending",
    })
}

struct Shown<'a> {
    status: StatusCode,
    name: &'a str,
    phone: &'a str,
    errors: FieldErrors,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

impl Shown<'_> {
    fn plain() -> Self {
        Self {
            status: StatusCode::OK,
            name: "",
            phone: "",
            errors: FieldErrors::new(),
            notice: None,
            alert: None,
        }
    }
}

async fn proof_page(
    state: &SharedState,
    claims: &IdentityClaims,
    csrf: &Csrf,
    session: &Session,
    proof: &'static str,
    shown: Shown<'_>,
) -> Response {
    let view = match claims.claim_view(session).await {
        Ok(view) => view,
        Err(ClaimError::NotAPerson | ClaimError::NoClaim) => {
            return Redirect::to("/account").into_response()
        }
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the claim"),
    };
    let page = ProofPage {
        chrome: Chrome::new(
            &format!("web.identity.{proof}_title"),
            &format!("/identity/{proof}"),
            csrf,
            true,
        ),
        proof,
        name: shown.name,
        phone: shown.phone,
        invitations: view
            .classmate_requests
            .iter()
            .map(|r| Invitation {
                day: r.day.clone(),
                status: assist_label(r.status),
            })
            .collect(),
        review: view.manual_review.map(|r| status_label("open", Some(r))),
        review_reason: view.manual_review_reason,
        manual_review_required: view.manual_review_required,
        errors: shown.errors,
        notice: shown.notice,
        alert: shown.alert,
    };
    csrf.keep(state, render(shown.status, "identity_proof.html", page))
}

async fn proof_form(
    state: SharedState,
    claims: IdentityClaims,
    headers: HeaderMap,
    proof: &'static str,
) -> Response {
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    proof_page(&state, &claims, &csrf, &session, proof, Shown::plain()).await
}

/// 大学同班同学协助: the invitation form and the invitations sent.
#[tracing::instrument(skip_all)]
pub async fn classmates_form(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    proof_form(state, claims, headers, "classmates").await
}

/// 人工审核: the sample, the requirements, the upload and its state.
#[tracing::instrument(skip_all)]
pub async fn photo_form(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    proof_form(state, claims, headers, "photo").await
}

/// 实人验证: the way to the provider's check.
#[tracing::instrument(skip_all)]
pub async fn liveness_form(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    proof_form(state, claims, headers, "liveness").await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

/// 大学同班同学协助: invite a verified classmate by name and phone (5 a day).
#[tracing::instrument(skip_all)]
pub async fn invite_submit(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<InviteForm>,
) -> Response {
    let (csrf, session) =
        match form_session(&state, &headers, &form.csrf, "/identity/classmates").await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let mut shown = Shown::plain();
    shown.name = form.name.trim();
    shown.phone = form.phone.trim();
    if shown.name.is_empty() {
        shown.errors.insert("name", messages::text("required"));
    }
    let phone = xuexin_domain::values::Phone::parse(&form.phone).ok();
    if phone.is_none() {
        shown.errors.insert("phone", messages::text("phone_format"));
    }
    if shown.errors.is_empty() {
        let metadata = context.metadata(session.actor());
        match claims
            .invite_classmate(&session, shown.name, phone.as_ref(), &metadata)
            .await
        {
            Ok(_) => shown.notice = Some(messages::text("web.identity.invited")),
            Err(error) => {
                let (status, field, text) = claim_refusal(error);
                shown.status = status;
                match field {
                    Some(field) => {
                        shown.errors.insert(field, text);
                    }
                    None => shown.alert = Some(text),
                }
            }
        }
    } else {
        shown.status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    proof_page(&state, &claims, &csrf, &session, "classmates", shown).await
}

/// 人工审核: the photo holding the ID document, uploaded (multipart) with the form's token.
#[tracing::instrument(skip_all)]
pub async fn photo_submit(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let mut token = String::new();
    let mut bytes = Vec::new();
    let mut too_large = false;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("csrf") => token = field.text().await.unwrap_or_default(),
            Some("photo") => match field.bytes().await {
                Ok(read) => bytes = read.to_vec(),
                Err(_) => too_large = true,
            },
            _ => {}
        }
    }
    let (csrf, session) = match form_session(&state, &headers, &token, "/identity/photo").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut shown = Shown::plain();
    let checked = if too_large {
        Err("image_too_large")
    } else {
        crate::blobs::image_type(&bytes)
    };
    match checked {
        Err(code) => {
            shown.status = StatusCode::UNPROCESSABLE_ENTITY;
            shown.errors.insert("photo", messages::text(code));
        }
        Ok(content_type) => {
            let metadata = context.metadata(session.actor());
            match claims
                .request_manual_review(&session, &bytes, content_type, &metadata)
                .await
            {
                Ok(position) => {
                    super::page::reflect(
                        &state,
                        &[xuexin_projections::identity_claims::NAME],
                        position,
                    )
                    .await;
                    shown.notice = Some(messages::text("web.identity.photo_sent"));
                }
                Err(error) => {
                    let (status, _, text) = claim_refusal(error);
                    shown.status = status;
                    shown.alert = Some(text);
                }
            }
        }
    }
    proof_page(&state, &claims, &csrf, &session, "photo", shown).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// 实人验证: starts a check with the provider and sends the person there.
#[tracing::instrument(skip_all)]
pub async fn liveness_submit(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<TokenForm>,
) -> Response {
    let (csrf, session) =
        match form_session(&state, &headers, &form.csrf, "/identity/liveness").await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let metadata = context.metadata(session.actor());
    match claims.start_liveness(&session, &metadata).await {
        Ok((_, verify_url)) => {
            let message = messages::text("web.identity.liveness_going").to_string();
            super::external::go_to(&state, &csrf, &verify_url, message)
        }
        Err(error) => {
            let (status, _, text) = claim_refusal(error);
            let mut shown = Shown::plain();
            shown.status = status;
            shown.alert = Some(text);
            proof_page(&state, &claims, &csrf, &session, "liveness", shown).await
        }
    }
}

#[derive(Serialize)]
struct InboxRow {
    id: String,
    from_name: String,
    from_phone: String,
    time: String,
    status: &'static str,
    pending: bool,
}

#[derive(Serialize)]
struct InboxPage {
    chrome: Chrome,
    requests: Vec<InboxRow>,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
}

async fn inbox_page(
    state: &SharedState,
    claims: &IdentityClaims,
    csrf: &Csrf,
    session: &Session,
    status: StatusCode,
    notice: Option<&'static str>,
    alert: Option<&'static str>,
) -> Response {
    let requests = match claims.assist_inbox(session).await {
        Ok(requests) => requests,
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the inbox"),
    };
    let page = InboxPage {
        chrome: Chrome::new("web.inbox.title", "/inbox", csrf, true),
        requests: requests
            .into_iter()
            .map(|r| InboxRow {
                pending: r.status == "pending",
                status: assist_label(&r.status),
                id: r.request_id,
                from_name: r.from_name,
                from_phone: r.from_phone.unwrap_or_default(),
                time: crate::messenger::beijing_time(r.created_at),
            })
            .collect(),
        notice,
        alert,
    };
    csrf.keep(state, render(status, "inbox.html", page))
}

/// 收件箱: the classmates' requests to confirm them.
#[tracing::instrument(skip_all)]
pub async fn inbox(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
) -> Response {
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    inbox_page(&state, &claims, &csrf, &session, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request: String,
    /// `yes` (是) or `no` (否).
    #[serde(default)]
    answer: String,
}

/// 是 / 否 to a classmate's request.
#[tracing::instrument(skip_all)]
pub async fn inbox_answer(
    State(state): State<SharedState>,
    State(claims): State<IdentityClaims>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<AnswerForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/inbox").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let confirm = match form.answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => {
            let text = messages::text("validation_failed");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return inbox_page(&state, &claims, &csrf, &session, status, None, Some(text)).await;
        }
    };
    let metadata = context.metadata(session.actor());
    match claims
        .answer_assist(&session, form.request.clone(), confirm, &metadata)
        .await
    {
        Ok(step) => {
            super::page::reflect(
                &state,
                &[xuexin_projections::identity_claims::NAME],
                step.position,
            )
            .await;
            let notice = messages::text("web.inbox.answered");
            inbox_page(
                &state,
                &claims,
                &csrf,
                &session,
                StatusCode::OK,
                Some(notice),
                None,
            )
            .await
        }
        Err(error) => {
            let (status, _, text) = claim_refusal(error);
            inbox_page(&state, &claims, &csrf, &session, status, None, Some(text)).await
        }
    }
}
