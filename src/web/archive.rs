//! 学信档案 in the browser: the records bound to the account with every field of seed 001's
//! sheet and the admission and degree photos, the check table and its form (学籍信息已核对，
//! 正确无误 / 学籍信息中…有误，正确的应为…), 学籍信息变更记录, 尝试绑定学籍 by certificate number,
//! and a print style sheet that lays 个人学信档案 out on A4. Same use cases as
//! `/api/v1/me/records`.

use super::page::{browser_session, form_session, page_session, read_failed, render, Chrome, Csrf};
use crate::application::archive::RecordView;
use crate::application::records::{parse_conclusion, Records, RecordsError};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::sessions::Session;
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::{Form, Path, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xuexin_domain::record::RecordKind;
use xuexin_projections::records as record_views;

type FieldErrors = BTreeMap<&'static str, &'static str>;

#[derive(Serialize)]
struct Field {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Photo {
    caption: &'static str,
    /// The image's address, or none: 暂无照片.
    src: Option<String>,
}

#[derive(Serialize)]
struct Check {
    label: &'static str,
    /// The conclusion as the sheet words it, or 未核对.
    conclusion: String,
    /// The school's answer to a 有误 conclusion (学校答复：…).
    answer: Option<String>,
    time: String,
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct Line {
    label: &'static str,
    before: String,
    after: String,
    time: String,
}

#[derive(Serialize)]
struct Record {
    id: String,
    title: String,
    kind_label: &'static str,
    fields: Vec<Field>,
    photos: Vec<Photo>,
    checks: Vec<Check>,
    /// The checks without a conclusion yet: the form offers them.
    open_checks: Vec<Choice>,
    corrections: Vec<Line>,
}

fn conclusion_text(conclusion: Option<&str>, correction: Option<&str>) -> String {
    match conclusion {
        Some("correct") => messages::text("web.archive.correct").to_string(),
        Some(_) => messages::format(
            "web.archive.wrong_as",
            &[("correction", correction.unwrap_or(""))],
        ),
        None => messages::text("web.archive.unchecked").to_string(),
    }
}

fn record(view: RecordView) -> Record {
    let time = |at| crate::messenger::beijing_time(at);
    let photo_kinds: &[(&str, &str)] = match view.kind {
        RecordKind::Enrolment => &[
            ("admission", "web.archive.admission_photo"),
            ("degree", "web.archive.degree_photo"),
        ],
        RecordKind::Degree => &[("degree", "web.archive.degree_photo")],
    };
    let photos = photo_kinds
        .iter()
        .map(|(kind, caption)| Photo {
            caption: messages::text(caption),
            src: view
                .photos
                .contains_key(*kind)
                .then(|| format!("/archive/photo/{}/{kind}", view.record_id)),
        })
        .collect();
    let corrections = view
        .correction_lines()
        .into_iter()
        .map(|line| Line {
            label: line.label,
            before: line.before,
            after: line.after,
            time: time(line.at),
        })
        .collect();
    Record {
        title: view.title,
        kind_label: view.kind_label,
        fields: view
            .fields
            .into_iter()
            .map(|f| Field {
                label: f.label,
                value: f.value,
            })
            .collect(),
        photos,
        open_checks: view
            .checks
            .iter()
            .filter(|c| c.conclusion.is_none())
            .map(|c| Choice {
                value: c.check_type.as_str(),
                label: c.label,
            })
            .collect(),
        checks: view
            .checks
            .into_iter()
            .map(|c| Check {
                label: c.label,
                conclusion: conclusion_text(c.conclusion.as_deref(), c.correction.as_deref()),
                answer: c.answer.map(|(reason, accepted)| {
                    messages::format(
                        if accepted {
                            "web.archive.answer_accepted"
                        } else {
                            "web.archive.answer_rejected"
                        },
                        &[("reason", &reason)],
                    )
                }),
                time: c.checked_at.map(time).unwrap_or_default(),
            })
            .collect(),
        corrections,
        id: view.record_id,
    }
}

#[derive(Serialize)]
struct ArchiveView {
    chrome: Chrome,
    summary: String,
    records: Vec<Record>,
    notice: Option<String>,
    alert: Option<&'static str>,
    /// The record whose check form the errors belong to.
    form_record: String,
    errors: FieldErrors,
    /// The account's username as the printed sheet names it (学信网帐号), masked.
    username: String,
}

struct Said {
    status: StatusCode,
    notice: Option<String>,
    alert: Option<&'static str>,
    form_record: String,
    errors: FieldErrors,
}

impl Said {
    fn nothing() -> Self {
        Self {
            status: StatusCode::OK,
            notice: None,
            alert: None,
            form_record: String::new(),
            errors: FieldErrors::new(),
        }
    }
}

/// Waits (bounded) until the record views have applied `position`.
async fn caught_up(state: &SharedState, position: Option<i64>) {
    super::page::reflect(state, &[record_views::NAME], position).await;
}

async fn archive_page(
    state: &SharedState,
    records: &Records,
    csrf: &Csrf,
    session: &Session,
    said: Said,
) -> Response {
    let archive = match records.archive(session).await {
        Ok(archive) => archive,
        Err(RecordsError::NotAPerson) => return Redirect::to("/account").into_response(),
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the record archive"),
    };
    let count = |kind| {
        archive
            .iter()
            .filter(|r| r.kind == kind)
            .count()
            .to_string()
    };
    let summary = messages::format(
        "web.archive.summary",
        &[
            ("enrolments", &count(RecordKind::Enrolment)),
            ("degrees", &count(RecordKind::Degree)),
        ],
    );
    let username = match state.account.profile(session).await {
        Ok(Some(profile)) => profile.phone.unwrap_or_default(),
        _ => String::new(),
    };
    let view = ArchiveView {
        chrome: Chrome::new("web.archive.title", "/archive", csrf, true),
        summary,
        records: archive.into_iter().map(record).collect(),
        notice: said.notice,
        alert: said.alert,
        form_record: said.form_record,
        errors: said.errors,
        username,
    };
    csrf.keep(state, render(said.status, "archive.html", view))
}

/// 学信档案.
#[tracing::instrument(skip_all)]
pub async fn archive(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
) -> Response {
    let (csrf, session) = match page_session(&state, &headers).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // Never older than the login that opened the session.
    caught_up(&state, Some(session.position)).await;
    archive_page(&state, &records, &csrf, &session, Said::nothing()).await
}

#[derive(Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    record: String,
    #[serde(default)]
    check_type: String,
    #[serde(default)]
    conclusion: String,
    #[serde(default)]
    correction: String,
}

/// A refusal of the records use cases: its status, and the text above the form.
pub(super) fn refusal(error: RecordsError) -> (StatusCode, &'static str) {
    match error {
        RecordsError::NotFound | RecordsError::NoPhoto => {
            (StatusCode::NOT_FOUND, messages::text("record_not_found"))
        }
        RecordsError::NotAPerson | RecordsError::Forbidden => {
            (StatusCode::FORBIDDEN, messages::text("forbidden"))
        }
        RecordsError::DetailsMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            messages::text("record_details_mismatch"),
        ),
        RecordsError::ReasonRequired => (
            StatusCode::UNPROCESSABLE_ENTITY,
            messages::text("reason_required"),
        ),
        RecordsError::CorrectionRequired => (
            StatusCode::UNPROCESSABLE_ENTITY,
            messages::text("correction_value_required"),
        ),
        RecordsError::Refused(ExecuteError::Domain(error)) => {
            (StatusCode::CONFLICT, messages::text(error.code()))
        }
        RecordsError::Refused(ExecuteError::Contention) => (
            StatusCode::SERVICE_UNAVAILABLE,
            messages::text("overloaded"),
        ),
        RecordsError::Refused(ExecuteError::Store(error)) | RecordsError::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "a records page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                messages::text("internal_error"),
            )
        }
    }
}

/// 提交核对结论 for one record.
#[tracing::instrument(skip_all)]
pub async fn check_submit(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<CheckForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/archive").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut said = Said::nothing();
    said.form_record = form.record.clone();
    match parse_conclusion(&form.check_type, &form.conclusion, &form.correction) {
        Err(refusals) => {
            said.status = StatusCode::UNPROCESSABLE_ENTITY;
            for refusal in refusals {
                let field = if refusal.field == "check_type" {
                    "check_type"
                } else {
                    "conclusion"
                };
                said.errors.insert(field, messages::text(refusal.code));
            }
        }
        Ok((check_type, conclusion)) => {
            let metadata = context.metadata(session.actor());
            match records
                .record_conclusion(&session, &form.record, check_type, conclusion, &metadata)
                .await
            {
                Ok(position) => {
                    caught_up(&state, position).await;
                    said.notice = Some(messages::text("web.archive.checked").to_string());
                }
                Err(error) => {
                    let (status, text) = refusal(error);
                    said.status = status;
                    said.alert = Some(text);
                }
            }
        }
    }
    archive_page(&state, &records, &csrf, &session, said).await
}

/// A photo of one of the account's records.
#[tracing::instrument(skip_all)]
pub async fn photo(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
    Path((record_id, kind)): Path<(String, String)>,
) -> Response {
    let Some(session) = browser_session(&state, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match records.photo(&session, &record_id, &kind).await {
        Ok((content_type, bytes)) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(error) => refusal(error).0.into_response(),
    }
}

#[derive(Default, Deserialize)]
pub struct BindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    certificate_number: String,
    #[serde(default)]
    graduation_year: String,
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct BindView<'a> {
    chrome: Chrome,
    form: &'a BindForm,
    errors: FieldErrors,
    alert: Option<&'static str>,
}

impl Serialize for BindForm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("BindForm", 3)?;
        out.serialize_field("certificate_number", self.certificate_number.trim())?;
        out.serialize_field("graduation_year", self.graduation_year.trim())?;
        out.serialize_field("name", self.name.trim())?;
        out.end()
    }
}

fn bind_page(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    form: &BindForm,
    errors: FieldErrors,
    alert: Option<&'static str>,
) -> Response {
    let view = BindView {
        chrome: Chrome::new("web.bind.title", "/archive/bind", csrf, true),
        form,
        errors,
        alert,
    };
    csrf.keep(state, render(status, "archive_bind.html", view))
}

/// 尝试绑定学籍: the form.
#[tracing::instrument(skip_all)]
pub async fn bind_form(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if browser_session(&state, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    let form = BindForm::default();
    bind_page(
        &state,
        &csrf,
        StatusCode::OK,
        &form,
        FieldErrors::new(),
        None,
    )
}

/// 尝试绑定学籍: a degree record by certificate number, graduation year and name; on success the
/// archive shows it.
#[tracing::instrument(skip_all)]
pub async fn bind_submit(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<BindForm>,
) -> Response {
    let (csrf, session) = match form_session(&state, &headers, &form.csrf, "/archive/bind").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut errors = FieldErrors::new();
    for (field, value) in [
        ("certificate_number", &form.certificate_number),
        ("graduation_year", &form.graduation_year),
        ("name", &form.name),
    ] {
        if value.trim().is_empty() {
            errors.insert(field, messages::text("required"));
        }
    }
    let year = form.graduation_year.trim().parse::<i64>().ok();
    if year.is_none() && !errors.contains_key("graduation_year") {
        errors.insert("graduation_year", messages::text("graduation_year_invalid"));
    }
    if !errors.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return bind_page(&state, &csrf, status, &form, errors, None);
    }
    let metadata = context.metadata(session.actor());
    let bound = records
        .bind_by_certificate(
            &session,
            &form.certificate_number,
            year,
            &form.name,
            &metadata,
        )
        .await;
    match bound {
        Ok((_, position)) => {
            caught_up(&state, position).await;
            let mut said = Said::nothing();
            said.notice = Some(messages::text("web.bind.done").to_string());
            archive_page(&state, &records, &csrf, &session, said).await
        }
        Err(RecordsError::DetailsMismatch) | Err(RecordsError::NotFound) => {
            let mut errors = FieldErrors::new();
            errors.insert(
                "certificate_number",
                messages::text("record_details_mismatch"),
            );
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            bind_page(&state, &csrf, status, &form, errors, None)
        }
        Err(error) => {
            let (status, text) = refusal(error);
            bind_page(&state, &csrf, status, &form, FieldErrors::new(), Some(text))
        }
    }
}
