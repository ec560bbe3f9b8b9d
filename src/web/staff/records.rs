//! The registrar's pages (scoped to the school): upload an enrolment or degree file (a
//! progress bar while it uploads, then the report with each bad row's line, column and
//! message, downloadable as CSV), and the unchecked list (未查名单) filtered by grade, class
//! and major, exported as CSV that Excel opens (UTF-8 with a BOM). The provincial
//! authority's page: degree corrections of its province's schools, before and after,
//! approved or rejected with a reason.

use super::gate::{staff_form, staff_page, Staff};
use crate::application::import::{
    import_file, keep_report, kept_report, ImportError, Phase, RowProblem,
};
use crate::application::records::{Decision, Records, RecordsError};
use crate::http::extract::RequestContext;
use crate::messages;
use crate::state::SharedState;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::io::Write;
use xuexin_domain::record::fields::columns;
use xuexin_domain::record::CheckType;
use xuexin_domain::record::RecordKind;
use xuexin_domain::roles::StaffRole;

use super::super::page::{read_failed, reflect, render, Chrome, Csrf};

const REGISTRAR: &[StaffRole] = &[StaffRole::Registrar];
const PROVINCE: &[StaffRole] = &[StaffRole::ProvincialAuthority];

/// The largest school file the page takes (as the API).
const MAX_FILE: usize = crate::http::records::MAX_IMPORT_BYTES;
/// The upload form's limit: the file and the form's other fields.
pub const IMPORT_LIMIT: usize = MAX_FILE + 64 * 1024;

fn school_of(staff: &Staff) -> String {
    staff.scope.clone().unwrap_or_default()
}

fn import_form(
    state: &SharedState,
    csrf: &Csrf,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let page = render(
        status,
        "staff_imports.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.imports.title", "/staff/imports", csrf, true),
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// 上传数据: the upload form.
#[tracing::instrument(skip_all)]
pub async fn import_page(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/imports", REGISTRAR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    import_form(&state, &csrf, StatusCode::OK, None)
}

/// A bad row's column: the header its first reason names (reasons start with it), if any.
fn column_of(reason: &str) -> &'static str {
    columns(RecordKind::Enrolment)
        .iter()
        .chain(columns(RecordKind::Degree))
        .map(|c| c.header)
        .filter(|header| reason.starts_with(header))
        .max_by_key(|header| header.len())
        .unwrap_or("")
}

#[derive(Serialize)]
struct ProblemLine {
    line: u64,
    column: &'static str,
    message: String,
}

fn problem_lines(problems: &[RowProblem]) -> Vec<ProblemLine> {
    problems
        .iter()
        .flat_map(|p| {
            p.reasons.iter().map(move |reason| ProblemLine {
                line: p.line,
                column: column_of(reason),
                message: reason.clone(),
            })
        })
        .collect()
}

/// Receives the file (multipart: `file`, `skip_invalid`), imports it, keeps the report and
/// shows it (303 to the report's page).
#[tracing::instrument(skip_all)]
pub async fn import_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    context: RequestContext,
    mut multipart: Multipart,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let mut token = String::new();
    let mut skip_invalid = false;
    let mut file: Option<tempfile::NamedTempFile> = None;
    let mut size = 0usize;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => {
                return import_form(
                    &state,
                    &csrf,
                    StatusCode::BAD_REQUEST,
                    Some(messages::text("import_file_invalid").to_string()),
                )
            }
        };
        match field.name().unwrap_or("") {
            "csrf" => token = field.text().await.unwrap_or_default(),
            "skip_invalid" => skip_invalid = true,
            "file" => {
                // Nothing of the file is kept before the CSRF token (sent first) is checked.
                if !csrf.accepts(&token) {
                    return super::super::page::refused(&state, &csrf, "/staff/imports");
                }
                let Ok(temp) = tempfile::NamedTempFile::new() else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let Ok(mut writer) = temp.reopen() else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            size += chunk.len();
                            if size > MAX_FILE {
                                return import_form(
                                    &state,
                                    &csrf,
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    Some(messages::text("payload_too_large").to_string()),
                                );
                            }
                            if writer.write_all(&chunk).is_err() {
                                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            return import_form(
                                &state,
                                &csrf,
                                StatusCode::BAD_REQUEST,
                                Some(messages::text("import_file_invalid").to_string()),
                            )
                        }
                    }
                }
                file = Some(temp);
            }
            _ => {}
        }
    }
    let (csrf, staff) =
        match staff_form(&state, &headers, &token, "/staff/imports", REGISTRAR).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let Some(file) = file.filter(|_| size > 0) else {
        return import_form(
            &state,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(messages::text("web.staff.imports.no_file").to_string()),
        );
    };
    let school = school_of(&staff);
    let actor = staff.session.actor();
    let report = import_file(
        &state.records,
        file.path(),
        &school,
        skip_invalid,
        &context.metadata(actor.clone()),
        &|_: Phase, _: u64| {},
    )
    .await;
    let report = match report {
        Ok(report) => report,
        Err(ImportError::File(reason)) => {
            return import_form(
                &state,
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(messages::format(
                    "import_file_invalid_reason",
                    &[("reason", &reason)],
                )),
            )
        }
        Err(ImportError::Internal(error)) => return read_failed(error, "an import"),
    };
    let report_id = match keep_report(&state.records, &school, &actor.to_metadata(), &report).await
    {
        Ok(id) => id,
        Err(error) => return read_failed(error, "keeping an import report"),
    };
    reflect(
        &state,
        &[xuexin_projections::records::NAME],
        report.position,
    )
    .await;
    Redirect::to(&format!("/staff/imports/{report_id}")).into_response()
}

#[derive(Deserialize)]
pub struct ReportQuery {
    format: Option<String>,
}

/// An import's report (its school's registrars only); `?format=csv`: its bad rows as CSV.
#[tracing::instrument(skip_all)]
pub async fn import_errors(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(report_id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff/imports", REGISTRAR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let kept = match kept_report(&state.records, &school_of(&staff), &report_id).await {
        Ok(Some(kept)) => kept,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => return read_failed(error, "an import report"),
    };
    let (school, created_at, actor, report) =
        (kept.school_code, kept.created_at, kept.actor, kept.report);
    let mut problems = problem_lines(&report.problems);
    problems.extend(problem_lines(&report.refused));
    if query.format.as_deref() == Some("csv") {
        let mut csv = format!("\u{feff}{}\r\n", messages::text("csv.import_errors_header"));
        for p in &problems {
            csv.push_str(&format!(
                "{},{},{}\r\n",
                p.line,
                csv_cell(p.column),
                csv_cell(&p.message)
            ));
        }
        return csv_download(csv, &format!("import-{school}-errors.csv"));
    }
    let page = render(
        StatusCode::OK,
        "staff_import_report.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.imports.report_title", "/staff/imports", &csrf, true),
            report => report,
            problems => problems,
            by => actor,
            at => crate::messenger::beijing_time(created_at),
            csv => format!("/staff/imports/{report_id}?format=csv"),
        },
    );
    csrf.keep(&state, page)
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break; a leading `= + - @`
/// is defused so that a spreadsheet does not run it as a formula.
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub fn csv_download(body: String, filename: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct UncheckedQuery {
    #[serde(default)]
    grade: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    major: String,
}

async fn unchecked_students(
    state: &SharedState,
    school: &str,
    query: &UncheckedQuery,
) -> Result<Vec<xuexin_projections::records::UncheckedStudent>, Response> {
    let class = Some(query.class.trim()).filter(|c| !c.is_empty());
    let grade = query.grade.trim().parse::<i64>().ok();
    let major = query.major.trim();
    match state
        .records
        .unchecked(school, CheckType::EnrolmentCheck, class, grade)
        .await
    {
        Ok(students) => Ok(students
            .into_iter()
            .filter(|s| major.is_empty() || s.major == major)
            .collect()),
        Err(error) => Err(read_failed(
            anyhow::anyhow!("{error:#}"),
            "the unchecked list",
        )),
    }
}

#[derive(Serialize)]
struct StudentLine {
    number: String,
    name: String,
    class: String,
    major: String,
    grade: i64,
    has_account: &'static str,
}

/// 未查名单: the school's students who have not checked their enrolment record yet.
#[tracing::instrument(skip_all)]
pub async fn unchecked(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<UncheckedQuery>,
) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, "/staff/unchecked", REGISTRAR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let students = match unchecked_students(&state, &school_of(&staff), &query).await {
        Ok(students) => students,
        Err(answer) => return answer,
    };
    let lines: Vec<StudentLine> = students
        .into_iter()
        .map(|s| StudentLine {
            number: s.student_number,
            name: s.name,
            class: s.class_name,
            major: s.major,
            grade: s.enrolment_year,
            has_account: messages::text(if s.has_account {
                "label.yes"
            } else {
                "label.no"
            }),
        })
        .collect();
    let export: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("grade", query.grade.trim())
        .append_pair("class", query.class.trim())
        .append_pair("major", query.major.trim())
        .finish();
    let page = render(
        StatusCode::OK,
        "staff_unchecked.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.unchecked.title", "/staff/unchecked", &csrf, true),
            school => school_of(&staff),
            students => lines,
            grade => query.grade.trim(),
            class => query.class.trim(),
            major => query.major.trim(),
            export => format!("/staff/unchecked.csv?{export}"),
        },
    );
    csrf.keep(&state, page)
}

/// The unchecked list as CSV (UTF-8 with a BOM: Excel shows the Chinese).
#[tracing::instrument(skip_all)]
pub async fn unchecked_csv(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<UncheckedQuery>,
) -> Response {
    let (_, staff) = match staff_page(&state, &headers, "/staff/unchecked.csv", REGISTRAR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let school = school_of(&staff);
    match unchecked_students(&state, &school, &query).await {
        Ok(students) => csv_download(
            crate::application::archive::unchecked_csv(&students),
            &format!("unchecked-{school}.csv"),
        ),
        Err(answer) => answer,
    }
}

#[derive(Serialize)]
struct ChangeLine {
    label: &'static str,
    before: String,
    after: String,
}

#[derive(Serialize)]
struct CorrectionView {
    record: String,
    school: String,
    title: String,
    name: String,
    correction_id: u64,
    changes: Vec<ChangeLine>,
}

/// Each pending degree correction of `views`, field by field, before and after.
fn correction_views(views: Vec<crate::application::archive::RecordView>) -> Vec<CorrectionView> {
    let mut corrections = Vec::new();
    for view in views {
        let name = view
            .fields
            .iter()
            .find(|f| f.key == "name")
            .map(|f| f.value.clone())
            .unwrap_or_default();
        for pending in view.pending_corrections.as_array().into_iter().flatten() {
            corrections.push(CorrectionView {
                record: view.record_id.clone(),
                school: view.school_code.clone(),
                title: view.title.clone(),
                name: name.clone(),
                correction_id: pending["correction_id"].as_u64().unwrap_or_default(),
                changes: pending["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| ChangeLine {
                        label: crate::application::archive::field_label(
                            c["field"].as_str().unwrap_or(""),
                        ),
                        before: c["before"].as_str().unwrap_or("").to_string(),
                        after: c["after"].as_str().unwrap_or("").to_string(),
                    })
                    .collect(),
            });
        }
    }
    corrections
}

async fn corrections_page(
    state: &SharedState,
    records: &Records,
    csrf: &Csrf,
    province: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let views = match records.pending_corrections(province).await {
        Ok(views) => views,
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the corrections"),
    };
    let corrections = correction_views(views);
    let page = render(
        status,
        "staff_corrections.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.corrections.title", "/staff/degree-corrections", csrf, true),
            province => province,
            corrections => corrections,
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// 学历更正审批: degree corrections waiting for the province's decision.
#[tracing::instrument(skip_all)]
pub async fn corrections(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
) -> Response {
    let (csrf, staff) =
        match staff_page(&state, &headers, "/staff/degree-corrections", PROVINCE).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let province = staff.scope.clone().unwrap_or_default();
    corrections_page(&state, &records, &csrf, &province, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    record: String,
    #[serde(default)]
    correction: u32,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

#[tracing::instrument(skip_all)]
pub async fn decide_correction(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<CorrectionForm>,
) -> Response {
    let (csrf, staff) = match staff_form(
        &state,
        &headers,
        &form.csrf,
        "/staff/degree-corrections",
        PROVINCE,
    )
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let province = staff.scope.clone().unwrap_or_default();
    let decision = if form.decision == "approve" {
        Decision::Approve
    } else {
        Decision::Reject
    };
    let result = records
        .decide_correction(
            &province,
            &form.record,
            form.correction,
            decision,
            Some(&form.reason),
            &context.metadata(staff.session.actor()),
        )
        .await;
    let refusal = match result {
        Ok(position) => {
            reflect(&state, &[xuexin_projections::records::NAME], position).await;
            return Redirect::to("/staff/degree-corrections").into_response();
        }
        Err(RecordsError::ReasonRequired) => (StatusCode::UNPROCESSABLE_ENTITY, "reason_required"),
        Err(RecordsError::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
        Err(RecordsError::NotFound) => (StatusCode::NOT_FOUND, "record_not_found"),
        Err(RecordsError::Refused(crate::store::ExecuteError::Domain(error))) => {
            (StatusCode::CONFLICT, error.code())
        }
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "a correction decision"),
    };
    corrections_page(
        &state,
        &records,
        &csrf,
        &province,
        refusal.0,
        Some(messages::text(refusal.1)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("姓名"), "姓名");
    }

    #[test]
    fn a_reason_names_its_column() {
        assert_eq!(column_of("层次“大专班”不是有效的层次"), "层次");
        assert_eq!(column_of("第 3 列有控制字符"), "");
    }
}

const REQUESTS_PATH: &str = "/staff/correction-requests";

#[derive(Serialize)]
struct RequestView {
    record: String,
    kind: &'static str,
    name: String,
    student_number: String,
    class_name: String,
    check_type: String,
    check_label: &'static str,
    correction: String,
    checked_at: String,
    /// The record's fields a correction may change: `(key, label)`.
    fields: Vec<(&'static str, &'static str)>,
}

async fn requests_page(
    state: &SharedState,
    csrf: &Csrf,
    school: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let rows = match xuexin_projections::records::correction_requests(&state.db, school).await {
        Ok(rows) => rows,
        Err(error) => return read_failed(error.into(), "the correction requests"),
    };
    let submitted = match state.records.school_pending_corrections(school).await {
        Ok(views) => correction_views(views),
        Err(error) => return read_failed(anyhow::anyhow!("{error:#}"), "the school's corrections"),
    };
    let requests: Vec<RequestView> = rows
        .into_iter()
        .map(|r| {
            let kind = if r.kind == "degree" {
                RecordKind::Degree
            } else {
                RecordKind::Enrolment
            };
            RequestView {
                kind: messages::text(if kind == RecordKind::Degree {
                    "record_kind.degree"
                } else {
                    "record_kind.enrolment"
                }),
                check_label: CheckType::parse(&r.check_type)
                    .map_or("", crate::application::archive::check_label),
                checked_at: crate::messenger::beijing_time(xuexin_domain::Timestamp::from_millis(
                    r.checked_at,
                )),
                fields: columns(kind)
                    .iter()
                    .filter(|c| c.key != "id_number" && c.key != "school_name")
                    .map(|c| (c.key, crate::application::archive::field_label(c.key)))
                    .collect(),
                record: r.record_id,
                name: r.name,
                student_number: r.student_number,
                class_name: r.class_name,
                check_type: r.check_type,
                correction: r.correction,
            }
        })
        .collect();
    let page = render(
        status,
        "staff_correction_requests.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.requests.title", REQUESTS_PATH, csrf, true),
            requests => requests,
            submitted => submitted,
            error => error,
        },
    );
    csrf.keep(state, page)
}

/// 更正申请: the school's students' 有误 conclusions waiting for an answer.
#[tracing::instrument(skip_all)]
pub async fn correction_requests(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, staff) = match staff_page(&state, &headers, REQUESTS_PATH, REGISTRAR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    requests_page(&state, &csrf, &school_of(&staff), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    record: String,
    #[serde(default)]
    check_type: String,
    /// `accept` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
}

/// 更正 (the record's field becomes the value typed) or 不予更正 (with a reason).
#[tracing::instrument(skip_all)]
pub async fn answer_correction_request(
    State(state): State<SharedState>,
    State(records): State<Records>,
    headers: HeaderMap,
    context: RequestContext,
    Form(form): Form<RequestForm>,
) -> Response {
    let (csrf, staff) =
        match staff_form(&state, &headers, &form.csrf, REQUESTS_PATH, REGISTRAR).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let school = school_of(&staff);
    let Some(check_type) = CheckType::parse(&form.check_type) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let accepted = form.decision == "accept";
    let result = records
        .answer_correction_request(
            &school,
            &form.record,
            check_type,
            accepted,
            &form.reason,
            Some((form.field.as_str(), form.value.as_str())),
            &context.metadata(staff.session.actor()),
        )
        .await;
    match result {
        Ok(position) => {
            reflect(&state, &[xuexin_projections::records::NAME], position).await;
            Redirect::to(REQUESTS_PATH).into_response()
        }
        Err(error) => {
            let (status, text) = super::super::archive::refusal(error);
            requests_page(&state, &csrf, &school, status, Some(text)).await
        }
    }
}
