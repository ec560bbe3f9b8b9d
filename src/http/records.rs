//! Student records: the student's record archive (学信档案), binding a missing record,
//! check conclusions; a school's import, photos and unchecked list; the provincial
//! authority's corrections.

use super::error::{invalid_fields, ProblemDocument};
use super::extract::{ApiJson, Authenticated, RequestContext, WaitFor};
use super::names::{CheckTypeName, ConclusionName, RecordKindName, ReportFormat};
use crate::application::archive::{unchecked_csv, RecordView};
use crate::application::import::{import_file, ImportError, ImportReport, Phase};
use crate::application::records::{parse_conclusion, Decision, Records, RecordsError};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::sessions::Session;
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::record::{CheckType, PhotoKind, RecordError};
use xuexin_domain::roles::StaffRole;
use xuexin_domain::Timestamp;
use xuexin_projections::records::{self, Change};

/// The most a school may upload in one import.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(my_records))
        .routes(routes!(bind_by_certificate))
        .routes(routes!(record_conclusion))
        .routes(routes!(get_record))
        .routes(routes!(record_history))
        .routes(routes!(record_photo))
        .routes(routes!(import_records))
        .routes(routes!(upload_photo))
        .routes(routes!(unchecked_list))
        .routes(routes!(pending_corrections))
        .routes(routes!(approve_correction))
        .routes(routes!(reject_correction))
}

impl FromRef<SharedState> for Records {
    fn from_ref(state: &SharedState) -> Self {
        state.records.clone()
    }
}

/// The record use cases' refusals as the API answers them.
pub fn records_problem(error: RecordsError) -> Problem {
    match error {
        RecordsError::NotAPerson | RecordsError::Forbidden => {
            Problem::new(ProblemKind::Forbidden, "forbidden")
        }
        RecordsError::NotFound => Problem::new(ProblemKind::NotFound, "record_not_found"),
        RecordsError::NoPhoto => Problem::new(ProblemKind::NotFound, "not_found"),
        RecordsError::DetailsMismatch => Problem::validation(vec![FieldError::new(
            "certificate_number",
            "record_details_mismatch",
        )]),
        RecordsError::ReasonRequired => {
            Problem::validation(vec![FieldError::new("reason", "reason_required")])
        }
        RecordsError::CorrectionRequired => {
            Problem::validation(vec![FieldError::new("value", "correction_value_required")])
        }
        RecordsError::Refused(error) => record_problem(error),
        RecordsError::Internal(error) => Problem::internal(error),
    }
}

fn record_problem(error: ExecuteError<RecordError>) -> Problem {
    match error {
        ExecuteError::Domain(RecordError::NotFound) => {
            Problem::new(ProblemKind::NotFound, "record_not_found")
        }
        ExecuteError::Domain(RecordError::NotYours) => {
            Problem::new(ProblemKind::Forbidden, "record_not_yours")
        }
        ExecuteError::Domain(RecordError::BoundToAnother) => {
            Problem::new(ProblemKind::Conflict, "record_bound_to_another")
        }
        ExecuteError::Domain(RecordError::NoSuchCorrection) => {
            Problem::new(ProblemKind::NotFound, "correction_not_found")
        }
        ExecuteError::Domain(RecordError::Mismatch) => {
            Problem::new(ProblemKind::Conflict, "record_not_found")
        }
        ExecuteError::Domain(
            error @ (RecordError::NoCorrectionRequest | RecordError::NothingCorrected),
        ) => Problem::new(ProblemKind::Conflict, error.code()),
        ExecuteError::Contention => Problem::overloaded(std::time::Duration::from_secs(1)),
        ExecuteError::Store(error) => Problem::internal(error),
    }
}

#[derive(Serialize, ToSchema)]
pub struct FieldDocument {
    pub key: String,
    /// The column header as schools and the record archive write it (姓名, 证件号码, …).
    pub label: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckDocument {
    #[schema(value_type = CheckTypeName)]
    pub check_type: String,
    /// 学籍信息核对, 第二学年学年注册, 第三学年学年注册, 图像采集/学历注册
    pub label: String,
    /// `correct`, `wrong`, or null when not yet checked.
    #[schema(value_type = Option<ConclusionName>)]
    pub conclusion: Option<String>,
    pub correction: Option<String>,
    pub checked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PhotoDocument {
    pub url: String,
    pub sha256: String,
    pub content_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeDocument {
    pub sequence: i64,
    pub at: String,
    pub actor: String,
    /// `registered`, `corrected`, `correction_requested`, `correction_rejected`, `bound`,
    /// `unbound`, `checked`, `photo_attached`.
    pub change_type: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Serialize, ToSchema)]
pub struct RecordDocument {
    pub record_id: String,
    /// `enrolment` (学籍) or `degree` (学历).
    #[schema(value_type = RecordKindName)]
    pub kind: String,
    pub kind_label: String,
    /// 层次-学校名称-专业, as the record archive titles a record.
    pub title: String,
    pub school_code: String,
    /// Every field, in the order schools report them; the ID number masked.
    pub fields: Vec<FieldDocument>,
    /// 录取照片 (`admission`) and 学历照片 (`degree`).
    pub photos: std::collections::BTreeMap<String, PhotoDocument>,
    pub checks: Vec<CheckDocument>,
    /// 学籍信息变更记录: every change with the values before and after.
    pub changes: Vec<ChangeDocument>,
    #[schema(value_type = Object)]
    pub pending_corrections: Value,
    pub bound_to_account: bool,
    pub version: i64,
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339()
}

fn change_document(c: Change) -> ChangeDocument {
    ChangeDocument {
        sequence: c.sequence,
        at: time(Timestamp::from_millis(c.at)),
        actor: c.actor,
        change_type: c.change_type,
        details: c.details,
    }
}

fn record_document(view: RecordView) -> RecordDocument {
    let record_id = view.record_id;
    RecordDocument {
        photos: view
            .photos
            .into_iter()
            .map(|(kind, photo)| {
                let url = format!("/api/v1/records/{record_id}/photos/{kind}");
                (
                    kind,
                    PhotoDocument {
                        url,
                        sha256: photo.sha256,
                        content_type: photo.content_type,
                    },
                )
            })
            .collect(),
        record_id,
        title: view.title,
        kind: view.kind.as_str().to_string(),
        kind_label: view.kind_label.to_string(),
        school_code: view.school_code,
        fields: view
            .fields
            .into_iter()
            .map(|f| FieldDocument {
                key: f.key.to_string(),
                label: f.label.to_string(),
                value: f.value,
            })
            .collect(),
        checks: view
            .checks
            .into_iter()
            .map(|c| CheckDocument {
                check_type: c.check_type.as_str().to_string(),
                label: c.label.to_string(),
                conclusion: c.conclusion,
                correction: c.correction,
                checked_at: c.checked_at.map(time),
            })
            .collect(),
        changes: view.changes.into_iter().map(change_document).collect(),
        pending_corrections: view.pending_corrections,
        bound_to_account: view.bound_to_account,
        version: view.version,
    }
}

#[derive(Serialize, ToSchema)]
pub struct ArchiveResponse {
    /// 您一共有 N 个学籍
    pub enrolment_count: usize,
    pub degree_count: usize,
    pub records: Vec<RecordDocument>,
}

/// My record archive (学信档案): every record bound to my account, with every field, photos,
/// check conclusions and change history.
#[utoipa::path(
    get,
    path = "/api/v1/me/records",
    tag = "records",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archive", body = ArchiveResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Staff accounts have no records", body = ProblemDocument),
        (status = 503, description = "The views have not reached `position` yet", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn my_records(
    State(state): State<SharedState>,
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<ArchiveResponse>, Problem> {
    session.require_person()?;
    wait.wait_in_session(&state, &session, &[records::NAME])
        .await?;
    let archive = records.archive(&session).await.map_err(records_problem)?;
    let documents: Vec<RecordDocument> = archive.into_iter().map(record_document).collect();
    Ok(Json(ArchiveResponse {
        enrolment_count: documents.iter().filter(|d| d.kind == "enrolment").count(),
        degree_count: documents.iter().filter(|d| d.kind == "degree").count(),
        records: documents,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct BindRequest {
    /// 证书编号
    #[schema(required = true, nullable = false)]
    pub certificate_number: Option<String>,
    /// 毕业年份, e.g. 2024
    #[schema(required = true, nullable = false)]
    pub graduation_year: Option<i64>,
    /// 姓名, as on the certificate
    #[schema(required = true, nullable = false)]
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CommandResponse {
    pub record_id: String,
    /// Log position; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

/// A degree is missing: bind it by certificate number + graduation year + name
/// (我还有学历没显示出来). The name must be the account's real name.
#[utoipa::path(
    post,
    path = "/api/v1/me/records/bind",
    tag = "records",
    request_body = BindRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Bound", body = CommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 404, description = "No degree with that certificate number", body = ProblemDocument),
        (status = 409, description = "The degree belongs to another account", body = ProblemDocument),
        (status = 422, description = "Year or name does not match", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn bind_by_certificate(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<BindRequest>,
) -> Result<(StatusCode, Json<CommandResponse>), Problem> {
    session.require_person()?;
    let (record_id, position) = records
        .bind_by_certificate(
            &session,
            body.certificate_number.as_deref().unwrap_or(""),
            body.graduation_year,
            body.name.as_deref().unwrap_or(""),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(records_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(CommandResponse {
            record_id,
            position,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ConclusionRequest {
    /// `enrolment_check`, `annual_registration_2`, `annual_registration_3`,
    /// `image_verification`.
    #[schema(value_type = CheckTypeName, required = true)]
    pub check_type: Option<String>,
    /// `correct` (正确无误) or `wrong` (有误).
    #[schema(value_type = ConclusionName, required = true)]
    pub conclusion: Option<String>,
    /// With `wrong`: what the correct information is (正确的应为…).
    pub correction: Option<String>,
}

/// Record my check conclusion for one of my records (核对结论).
#[utoipa::path(
    post,
    path = "/api/v1/me/records/{record_id}/checks",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id")),
    request_body = ConclusionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = CommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not my record", body = ProblemDocument),
        (status = 404, description = "No such record", body = ProblemDocument),
        (status = 422, description = "Bad check type or conclusion", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn record_conclusion(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(record_id): ApiPath<String>,
    ApiJson(body): ApiJson<ConclusionRequest>,
) -> Result<(StatusCode, Json<CommandResponse>), Problem> {
    session.require_person()?;
    let (check_type, conclusion) = parse_conclusion(
        body.check_type.as_deref().unwrap_or(""),
        body.conclusion.as_deref().unwrap_or(""),
        body.correction.as_deref().unwrap_or(""),
    )
    .map_err(invalid_fields)?;
    let position = records
        .record_conclusion(
            &session,
            &record_id,
            check_type,
            conclusion,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(records_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(CommandResponse {
            record_id,
            position,
        }),
    ))
}

/// One record, with every field, photos, checks and history.
#[utoipa::path(
    get,
    path = "/api/v1/records/{record_id}",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id"), WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = RecordDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Another school's record", body = ProblemDocument),
        (status = 404, description = "No such record (or not yours)", body = ProblemDocument),
    )
)]
pub async fn get_record(
    State(state): State<SharedState>,
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiPath(record_id): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<RecordDocument>, Problem> {
    wait.wait_in_session(&state, &session, &[records::NAME])
        .await?;
    let view = records
        .read(&session, &record_id)
        .await
        .map_err(records_problem)?;
    Ok(Json(record_document(view)))
}

/// A record's change history (学籍信息变更记录), values before and after.
#[utoipa::path(
    get,
    path = "/api/v1/records/{record_id}/history",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id"), WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changes, oldest first", body = Vec<ChangeDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Another school's record", body = ProblemDocument),
        (status = 404, description = "No such record (or not yours)", body = ProblemDocument),
    )
)]
pub async fn record_history(
    State(state): State<SharedState>,
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiPath(record_id): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<ChangeDocument>>, Problem> {
    wait.wait_in_session(&state, &session, &[records::NAME])
        .await?;
    let view = records
        .read(&session, &record_id)
        .await
        .map_err(records_problem)?;
    Ok(Json(
        view.changes.into_iter().map(change_document).collect(),
    ))
}

/// A record's photo (录取照片 `admission`, 学历照片 `degree`).
#[utoipa::path(
    get,
    path = "/api/v1/records/{record_id}/photos/{kind}",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id"), ("kind" = String, Path, description = "`admission` or `degree`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg"),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Another school's record", body = ProblemDocument),
        (status = 404, description = "No such record or photo", body = ProblemDocument),
    )
)]
pub async fn record_photo(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiPath((record_id, kind)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    let (content_type, bytes) = records
        .photo(&session, &record_id, &kind)
        .await
        .map_err(records_problem)?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// The registrar of this school (or 403).
fn registrar_of(session: &Session, code: &str) -> Result<(), Problem> {
    match session.require_role(&[StaffRole::Registrar])? {
        Some(school) if school == code => Ok(()),
        _ => Err(Problem::new(ProblemKind::Forbidden, "forbidden")),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Import the valid rows even if some rows are bad (they are reported and skipped).
    pub skip_invalid: Option<bool>,
}

/// Import a CSV of enrolment (学籍) or degree (学历) records, UTF-8 or GB18030, with the
/// Chinese headers schools use. Every row is checked first; if any is bad, nothing is written
/// (422, each bad row named by line) unless `skip_invalid=true`. Re-importing the same file
/// writes nothing; a changed enrolment row is a correction keeping the old values; a changed
/// degree row becomes a correction request for the provincial authority.
#[utoipa::path(
    post,
    path = "/api/v1/schools/{school_code}/record-imports",
    tag = "records",
    params(("school_code" = String, Path, description = "School code"), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Imported", body = ImportReport),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not this school's registrar", body = ProblemDocument),
        (status = 422, description = "Bad rows (nothing written) or a file that cannot be read", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all, fields(school = %school_code))]
pub async fn import_records(
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(school_code): ApiPath<String>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    body: Body,
) -> Result<Json<ImportReport>, Problem> {
    registrar_of(&session, &school_code)?;
    // Stream the upload to a temporary file: memory does not grow with its size.
    let file = tempfile::NamedTempFile::new().map_err(|e| Problem::internal(anyhow::anyhow!(e)))?;
    let mut writer = std::io::BufWriter::new(
        file.reopen()
            .map_err(|e| Problem::internal(anyhow::anyhow!(e)))?,
    );
    let mut stream = body.into_data_stream();
    let mut size = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes =
            chunk.map_err(|_| Problem::new(ProblemKind::BadRequest, "import_file_invalid"))?;
        size += chunk.len();
        if size > MAX_IMPORT_BYTES {
            return Err(Problem::new(
                ProblemKind::PayloadTooLarge,
                "payload_too_large",
            ));
        }
        writer
            .write_all(&chunk)
            .map_err(|e| Problem::internal(anyhow::anyhow!(e)))?;
    }
    writer
        .flush()
        .map_err(|e| Problem::internal(anyhow::anyhow!(e)))?;
    drop(writer);
    let report = import_file(
        &state.records,
        file.path(),
        &school_code,
        query.skip_invalid.unwrap_or(false),
        &context.metadata(session.actor()),
        &|_: Phase, _: u64| {},
    )
    .await;
    match report {
        Ok(report) if report.written => Ok(Json(report)),
        Ok(report) => Err(Problem::new(ProblemKind::Validation, "import_rows_invalid")
            .with_message(crate::messages::format(
                "import_rows_invalid_count",
                &[("count", &report.invalid.to_string())],
            ))
            .with_extra("report", &report)),
        Err(ImportError::File(reason)) => {
            Err(
                Problem::new(ProblemKind::Validation, "import_file_invalid").with_message(
                    crate::messages::format("import_file_invalid_reason", &[("reason", &reason)]),
                ),
            )
        }
        Err(ImportError::Internal(error)) => Err(Problem::internal(error)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PhotoResponse {
    pub sha256: String,
    pub position: Option<i64>,
}

/// Upload a record's photo (JPEG or PNG, at most 2 MB; the type is read from the bytes).
#[utoipa::path(
    post,
    path = "/api/v1/schools/{school_code}/records/{record_id}/photos/{kind}",
    tag = "records",
    params(
        ("school_code" = String, Path, description = "School code"),
        ("record_id" = String, Path, description = "Record id"),
        ("kind" = String, Path, description = "`admission` (录取照片) or `degree` (学历照片)"),
    ),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = PhotoResponse),
        (status = 400, description = "Empty, too large, or not JPEG/PNG", body = ProblemDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not this school's registrar or record", body = ProblemDocument),
        (status = 404, description = "No such record", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn upload_photo(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath((school_code, record_id, kind)): ApiPath<(String, String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<PhotoResponse>), Problem> {
    registrar_of(&session, &school_code)?;
    let kind = PhotoKind::parse(&kind)
        .ok_or_else(|| Problem::new(ProblemKind::BadRequest, "photo_kind_invalid"))?;
    let bytes = crate::blobs::read_image(body).await?;
    let content_type = crate::blobs::check_image(&bytes)?;
    let (sha256, position) = records
        .attach_photo(
            &school_code,
            &record_id,
            kind,
            &bytes,
            content_type,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(records_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(PhotoResponse { sha256, position }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UncheckedQuery {
    /// Defaults to `enrolment_check`.
    #[param(value_type = Option<CheckTypeName>)]
    pub check_type: Option<String>,
    /// One class (班级), e.g. 教育213.
    pub class_name: Option<String>,
    /// One grade: the enrolment year, e.g. 2021.
    pub grade: Option<i64>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>)]
    pub format: Option<String>,
    /// Wait (boundedly) until this position is reflected; 503 `read_timeout` if not.
    pub position: Option<i64>,
    /// Wait (boundedly) until the command of this position has settled (see `WaitFor`).
    pub settled: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UncheckedStudentDocument {
    pub record_id: String,
    pub student_number: String,
    pub name: String,
    pub class_name: String,
    pub enrolment_year: i64,
    /// Whether the student has an account the record is bound to.
    pub has_account: bool,
}

/// Who has not yet recorded a conclusion for a check (未查名单), for a class or a grade.
#[utoipa::path(
    get,
    path = "/api/v1/schools/{school_code}/unchecked",
    tag = "records",
    params(("school_code" = String, Path, description = "School code"), UncheckedQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Students without a conclusion (JSON or CSV)", body = Vec<UncheckedStudentDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not this school's registrar", body = ProblemDocument),
        (status = 422, description = "Unknown check type", body = ProblemDocument),
    )
)]
pub async fn unchecked_list(
    State(state): State<SharedState>,
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiPath(school_code): ApiPath<String>,
    ApiQuery(query): ApiQuery<UncheckedQuery>,
) -> Result<Response, Problem> {
    registrar_of(&session, &school_code)?;
    let check_type = CheckType::parse(query.check_type.as_deref().unwrap_or("enrolment_check"))
        .ok_or_else(|| {
            Problem::validation(vec![FieldError::new("check_type", "check_type_invalid")])
        })?;
    WaitFor {
        position: query.position,
        settled: query.settled,
    }
    .wait(&state, &[records::NAME])
    .await?;
    let students = records
        .unchecked(
            &school_code,
            check_type,
            query.class_name.as_deref(),
            query.grade,
        )
        .await
        .map_err(records_problem)?;
    if query.format.as_deref() == Some("csv") {
        let csv = unchecked_csv(&students);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    let documents: Vec<UncheckedStudentDocument> = students
        .into_iter()
        .map(|s| UncheckedStudentDocument {
            record_id: s.record_id,
            student_number: s.student_number,
            name: s.name,
            class_name: s.class_name,
            enrolment_year: s.enrolment_year,
            has_account: s.has_account,
        })
        .collect();
    Ok(Json(documents).into_response())
}

/// Degree corrections waiting for this provincial authority (schools of its province).
#[utoipa::path(
    get,
    path = "/api/v1/corrections",
    tag = "records",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Records with pending corrections", body = Vec<RecordDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not a provincial authority", body = ProblemDocument),
    )
)]
pub async fn pending_corrections(
    State(state): State<SharedState>,
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<RecordDocument>>, Problem> {
    let province = session
        .require_role(&[StaffRole::ProvincialAuthority])?
        .unwrap_or_default()
        .to_string();
    wait.wait(&state, &[records::NAME]).await?;
    let waiting = records
        .pending_corrections(&province)
        .await
        .map_err(records_problem)?;
    Ok(Json(waiting.into_iter().map(record_document).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// Why (required).
    #[schema(required = true, nullable = false)]
    pub reason: Option<String>,
}

async fn decide(
    records: &Records,
    session: &Session,
    context: &RequestContext,
    record_id: String,
    correction_id: u32,
    decision: Decision,
    reason: Option<String>,
) -> Result<Json<CommandResponse>, Problem> {
    let province = session
        .require_role(&[StaffRole::ProvincialAuthority])?
        .unwrap_or_default()
        .to_string();
    let position = records
        .decide_correction(
            &province,
            &record_id,
            correction_id,
            decision,
            reason.as_deref(),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(records_problem)?;
    Ok(Json(CommandResponse {
        record_id,
        position,
    }))
}

/// Approve a degree correction, with a reason (provincial authority of the school's province).
#[utoipa::path(
    post,
    path = "/api/v1/records/{record_id}/corrections/{correction_id}/approve",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id"), ("correction_id" = u32, Path, description = "Correction id")),
    request_body = DecisionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied", body = CommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not the school's provincial authority", body = ProblemDocument),
        (status = 404, description = "No such record or pending correction", body = ProblemDocument),
        (status = 422, description = "No reason", body = ProblemDocument),
    )
)]
pub async fn approve_correction(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath((record_id, correction_id)): ApiPath<(String, u32)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<CommandResponse>, Problem> {
    decide(
        &records,
        &session,
        &context,
        record_id,
        correction_id,
        Decision::Approve,
        body.reason,
    )
    .await
}

/// Reject a degree correction, with a reason.
#[utoipa::path(
    post,
    path = "/api/v1/records/{record_id}/corrections/{correction_id}/reject",
    tag = "records",
    params(("record_id" = String, Path, description = "Record id"), ("correction_id" = u32, Path, description = "Correction id")),
    request_body = DecisionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = CommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not the school's provincial authority", body = ProblemDocument),
        (status = 404, description = "No such record or pending correction", body = ProblemDocument),
        (status = 422, description = "No reason", body = ProblemDocument),
    )
)]
pub async fn reject_correction(
    State(records): State<Records>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath((record_id, correction_id)): ApiPath<(String, u32)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<CommandResponse>, Problem> {
    decide(
        &records,
        &session,
        &context,
        record_id,
        correction_id,
        Decision::Reject,
        body.reason,
    )
    .await
}
