//! Record views: the records themselves (for the student, the school, auditors), each
//! record's change history with values before and after, the students' check conclusions,
//! and the school registry.

use crate::db::{Db, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, on_tx, tx_execute};
use serde::Serialize;
use serde_json::{json, Value};
use xuexin_domain::record::fields::header_of;
use xuexin_domain::record::{Conclusion, RecordEvent, RecordFields};
use xuexin_domain::school::SchoolEvent;

pub const NAME: &str = "student_records_v1";

pub struct RecordViews;

fn year_of(date: &str) -> i64 {
    date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0)
}

fn conclusion_parts(conclusion: &Conclusion) -> (&'static str, Option<&str>) {
    match conclusion {
        Conclusion::Correct => ("correct", None),
        Conclusion::Wrong { correction } => ("wrong", Some(correction.as_str())),
    }
}

async fn record_history(
    tx: &mut Tx,
    event: &StoredEvent,
    change_type: &str,
    details: Value,
) -> Result<(), ProjectionError> {
    tx_execute!(
        tx,
        "INSERT INTO record_changes_v1 (record_id, sequence, at, actor, change_type, details)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (record_id, sequence) DO NOTHING",
        &event.aggregate_id,
        event.sequence,
        event.time().millis(),
        event.metadata_str("actor").unwrap_or("unknown"),
        change_type,
        details.to_string(),
    )?;
    Ok(())
}

async fn load_fields(tx: &mut Tx, record_id: &str) -> Result<RecordFields, ProjectionError> {
    let row: Option<(String,)> = on_tx!(tx, conn => {
        sqlx::query_as("SELECT fields FROM student_records_v1 WHERE record_id = $1")
            .bind(record_id)
            .fetch_optional(conn)
            .await?
    });
    Ok(row
        .and_then(|(text,)| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Writes the columns derived from the field map.
async fn store_fields(
    tx: &mut Tx,
    event: &StoredEvent,
    fields: &RecordFields,
) -> Result<(), ProjectionError> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    tx_execute!(
        tx,
        "UPDATE student_records_v1 SET name = $2, number_digest = $3, class_name = $4,
                enrolment_year = $5, student_number = $6, certificate_number = $7,
                graduation_year = $8, fields = $9, updated_at = $10, version = $11
         WHERE record_id = $1",
        &event.aggregate_id,
        get("name"),
        get("id_number_digest"),
        get("class_name"),
        year_of(&get("enrolment_date")),
        get("student_number"),
        get("certificate_number"),
        year_of(&get("graduation_date")),
        serde_json::to_string(fields).unwrap_or_default(),
        event.time().millis(),
        event.sequence,
    )?;
    Ok(())
}

async fn bump_version(tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
    tx_execute!(
        tx,
        "UPDATE student_records_v1 SET updated_at = $2, version = $3 WHERE record_id = $1",
        &event.aggregate_id,
        event.time().millis(),
        event.sequence,
    )?;
    Ok(())
}

async fn touch(
    tx: &mut Tx,
    event: &StoredEvent,
    set: &str,
    value: Option<String>,
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE student_records_v1 SET {set} = $2, updated_at = $3, version = $4 WHERE record_id = $1"
    );
    tx_execute!(
        tx,
        sql.as_str(),
        &event.aggregate_id,
        value,
        event.time().millis(),
        event.sequence,
    )?;
    Ok(())
}

fn changes_json(changes: &[xuexin_domain::record::FieldChange]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| {
                json!({"field": c.field, "header": header_of(&c.field), "before": c.before, "after": c.after})
            })
            .collect(),
    )
}

#[async_trait::async_trait]
impl Projection for RecordViews {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "student_records_v1",
            "record_changes_v1",
            "record_checks_v1",
            "schools_v1",
        ]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["School", "StudentRecord"])
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if !matches!(event.aggregate_type.as_str(), "School" | "StudentRecord") {
            return Ok(());
        }
        let at = event.time().millis();
        match decode(event)? {
            DomainEventKind::School(SchoolEvent::SchoolRegistered {
                code,
                name,
                province,
            }) => {
                tx_execute!(
                    tx,
                    "INSERT INTO schools_v1 (code, name, province) VALUES ($1, $2, $3)
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name, province = excluded.province",
                    &code,
                    &name,
                    &province,
                )?;
            }
            DomainEventKind::School(SchoolEvent::SchoolRenamed { name, province }) => {
                tx_execute!(
                    tx,
                    "UPDATE schools_v1 SET name = $2, province = $3 WHERE code = $1",
                    &event.aggregate_id,
                    &name,
                    &province,
                )?;
            }
            DomainEventKind::Record(record_event) => {
                self.apply_record(tx, event, record_event, at).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl RecordViews {
    async fn apply_record(
        &self,
        tx: &mut Tx,
        event: &StoredEvent,
        record_event: RecordEvent,
        at: i64,
    ) -> Result<(), ProjectionError> {
        let id = event.aggregate_id.as_str();
        match record_event {
            RecordEvent::RecordRegistered {
                kind,
                school_code,
                fields,
            } => {
                tx_execute!(
                    tx,
                    "INSERT INTO student_records_v1 (record_id, kind, school_code, name, number_digest,
                        class_name, enrolment_year, student_number, certificate_number, graduation_year,
                        fields, photos, pending_corrections, created_at, updated_at, version)
                     VALUES ($1, $2, $3, '', '', '', 0, '', '', 0, '{}', '{}', '[]', $4, $4, $5)
                     ON CONFLICT (record_id) DO NOTHING",
                    id,
                    kind.as_str(),
                    &school_code,
                    at,
                    event.sequence,
                )?;
                store_fields(tx, event, &fields).await?;
                record_history(
                    tx,
                    event,
                    "registered",
                    json!({"kind": kind.as_str(), "school_code": school_code}),
                )
                .await?;
            }
            RecordEvent::RecordCorrected {
                changes,
                approved_correction,
                reason,
            } => {
                let mut fields = load_fields(tx, id).await?;
                for change in &changes {
                    fields.insert(change.field.clone(), change.after.clone());
                }
                store_fields(tx, event, &fields).await?;
                if let Some(correction_id) = approved_correction {
                    self.set_pending(tx, event, |pending| {
                        pending.retain(|p| p["correction_id"] != json!(correction_id))
                    })
                    .await?;
                }
                record_history(
                    tx,
                    event,
                    "corrected",
                    json!({"changes": changes_json(&changes), "approved_correction": approved_correction, "reason": reason}),
                )
                .await?;
            }
            RecordEvent::DegreeCorrectionRequested {
                correction_id,
                changes,
            } => {
                let entry = json!({"correction_id": correction_id, "changes": changes_json(&changes), "requested_at": at});
                self.set_pending(tx, event, |pending| pending.push(entry.clone()))
                    .await?;
                record_history(
                    tx,
                    event,
                    "correction_requested",
                    json!({"correction_id": correction_id, "changes": changes_json(&changes)}),
                )
                .await?;
            }
            RecordEvent::DegreeCorrectionRejected {
                correction_id,
                reason,
            } => {
                self.set_pending(tx, event, |pending| {
                    pending.retain(|p| p["correction_id"] != json!(correction_id))
                })
                .await?;
                record_history(
                    tx,
                    event,
                    "correction_rejected",
                    json!({"correction_id": correction_id, "reason": reason}),
                )
                .await?;
            }
            RecordEvent::RecordBound {
                account_id, method, ..
            } => {
                touch(tx, event, "account_id", Some(account_id.to_string())).await?;
                record_history(
                    tx,
                    event,
                    "bound",
                    json!({"account_id": account_id, "method": method}),
                )
                .await?;
            }
            RecordEvent::RecordUnbound { account_id, reason } => {
                touch(tx, event, "account_id", None).await?;
                record_history(
                    tx,
                    event,
                    "unbound",
                    json!({"account_id": account_id, "reason": reason}),
                )
                .await?;
            }
            RecordEvent::RecordChecked {
                account_id,
                check_type,
                conclusion,
            } => {
                let (result, correction) = conclusion_parts(&conclusion);
                tx_execute!(
                    tx,
                    "INSERT INTO record_checks_v1 (record_id, check_type, conclusion, correction, account_id, checked_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (record_id, check_type) DO UPDATE SET conclusion = excluded.conclusion,
                        correction = excluded.correction, account_id = excluded.account_id,
                        checked_at = excluded.checked_at, answer = NULL, answer_accepted = NULL,
                        answered_at = NULL",
                    id,
                    check_type.as_str(),
                    result,
                    correction,
                    account_id.to_string(),
                    at,
                )?;
                bump_version(tx, event).await?;
                record_history(
                    tx,
                    event,
                    "checked",
                    json!({"check_type": check_type.as_str(), "conclusion": result, "correction": correction}),
                )
                .await?;
            }
            RecordEvent::CorrectionRequestAnswered {
                check_type,
                accepted,
                reason,
            } => {
                tx_execute!(
                    tx,
                    "UPDATE record_checks_v1 SET answer = $3, answer_accepted = $4, answered_at = $5
                     WHERE record_id = $1 AND check_type = $2",
                    id,
                    check_type.as_str(),
                    reason.clone(),
                    i64::from(accepted),
                    at,
                )?;
                bump_version(tx, event).await?;
                record_history(
                    tx,
                    event,
                    "answered",
                    json!({"check_type": check_type.as_str(), "accepted": accepted, "reason": reason}),
                )
                .await?;
            }
            RecordEvent::RecordPhotoAttached { kind, photo } => {
                let row: Option<(String,)> = on_tx!(tx, conn => {
                    sqlx::query_as("SELECT photos FROM student_records_v1 WHERE record_id = $1")
                        .bind(id)
                        .fetch_optional(conn)
                        .await?
                });
                let mut photos: serde_json::Map<String, Value> = row
                    .and_then(|(text,)| serde_json::from_str(&text).ok())
                    .unwrap_or_default();
                photos.insert(
                    kind.as_str().into(),
                    json!({"sha256": photo.sha256, "content_type": photo.content_type, "size": photo.size}),
                );
                touch(tx, event, "photos", Some(Value::Object(photos).to_string())).await?;
                record_history(
                    tx,
                    event,
                    "photo_attached",
                    json!({"kind": kind.as_str(), "sha256": photo.sha256}),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn set_pending(
        &self,
        tx: &mut Tx,
        event: &StoredEvent,
        change: impl Fn(&mut Vec<Value>),
    ) -> Result<(), ProjectionError> {
        let row: Option<(String,)> = on_tx!(tx, conn => {
            sqlx::query_as("SELECT pending_corrections FROM student_records_v1 WHERE record_id = $1")
                .bind(&event.aggregate_id)
                .fetch_optional(conn)
                .await?
        });
        let mut pending: Vec<Value> = row
            .and_then(|(text,)| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        change(&mut pending);
        touch(
            tx,
            event,
            "pending_corrections",
            Some(Value::Array(pending).to_string()),
        )
        .await
    }
}

/// A record as the views hold it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    pub record_id: String,
    pub kind: String,
    pub school_code: String,
    pub account_id: Option<String>,
    pub fields: RecordFields,
    pub photos: Value,
    pub pending_corrections: Value,
    pub version: i64,
    pub updated_at: i64,
}

type RawRecord = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
    i64,
);

const RECORD_COLUMNS: &str = "record_id, kind, school_code, account_id, fields, photos, pending_corrections, version, updated_at";

fn into_row(raw: RawRecord) -> RecordRow {
    let (record_id, kind, school_code, account_id, fields, photos, pending, version, updated_at) =
        raw;
    RecordRow {
        record_id,
        kind,
        school_code,
        account_id,
        fields: serde_json::from_str(&fields).unwrap_or_default(),
        photos: serde_json::from_str(&photos).unwrap_or(Value::Null),
        pending_corrections: serde_json::from_str(&pending).unwrap_or(Value::Null),
        version,
        updated_at,
    }
}

pub async fn get(db: &Db, record_id: &str) -> sqlx::Result<Option<RecordRow>> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM student_records_v1 WHERE record_id = $1");
    let row: Option<RawRecord> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(record_id).fetch_optional(pool).await?
    });
    Ok(row.map(into_row))
}

pub async fn for_account(db: &Db, account_id: &str) -> sqlx::Result<Vec<RecordRow>> {
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM student_records_v1 WHERE account_id = $1 ORDER BY kind DESC, enrolment_year, record_id"
    );
    let rows: Vec<RawRecord> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(account_id).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(into_row).collect())
}

/// Every record reported under an ID number (its keyed digest).
pub async fn with_digest(db: &Db, number_digest: &str) -> sqlx::Result<Vec<RecordRow>> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM student_records_v1 WHERE number_digest = $1 ORDER BY record_id");
    let rows: Vec<RawRecord> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(number_digest).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(into_row).collect())
}

/// Records whose certificate number is the given one.
pub async fn by_certificate(db: &Db, certificate_number: &str) -> sqlx::Result<Option<RecordRow>> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM student_records_v1 WHERE certificate_number = $1 AND kind = 'degree'");
    let row: Option<RawRecord> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(certificate_number).fetch_optional(pool).await?
    });
    Ok(row.map(into_row))
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub sequence: i64,
    pub at: i64,
    pub actor: String,
    pub change_type: String,
    pub details: Value,
}

pub async fn history(db: &Db, record_id: &str) -> sqlx::Result<Vec<Change>> {
    let rows: Vec<(i64, i64, String, String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT sequence, at, actor, change_type, details FROM record_changes_v1
             WHERE record_id = $1 ORDER BY sequence",
        )
        .bind(record_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(sequence, at, actor, change_type, details)| Change {
            sequence,
            at,
            actor,
            change_type,
            details: serde_json::from_str(&details).unwrap_or(Value::Null),
        })
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub check_type: String,
    pub conclusion: String,
    pub correction: Option<String>,
    pub checked_at: i64,
    /// The school's answer to a 有误 conclusion: its reason and whether it was accepted.
    pub answer: Option<(String, bool)>,
}

pub async fn checks(db: &Db, record_id: &str) -> sqlx::Result<Vec<CheckRow>> {
    type Row = (
        String,
        String,
        Option<String>,
        i64,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT check_type, conclusion, correction, checked_at, answer, answer_accepted
             FROM record_checks_v1 WHERE record_id = $1 ORDER BY check_type",
        )
        .bind(record_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(check_type, conclusion, correction, checked_at, answer, accepted)| CheckRow {
                check_type,
                conclusion,
                correction,
                checked_at,
                answer: answer.map(|reason| (reason, accepted == Some(1))),
            },
        )
        .collect())
}

/// A student's 有误 conclusion waiting for the school's answer.
#[derive(Debug, Clone, Serialize)]
pub struct CorrectionRequestRow {
    pub record_id: String,
    pub kind: String,
    pub name: String,
    pub student_number: String,
    pub class_name: String,
    pub check_type: String,
    pub correction: String,
    pub checked_at: i64,
}

/// The school's students' correction requests (有误 conclusions) not answered yet, oldest first.
pub async fn correction_requests(
    db: &Db,
    school_code: &str,
) -> sqlx::Result<Vec<CorrectionRequestRow>> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT c.record_id, r.kind, r.name, r.student_number, r.class_name, c.check_type,
                    c.correction, c.checked_at
             FROM record_checks_v1 c JOIN student_records_v1 r ON r.record_id = c.record_id
             WHERE r.school_code = $1 AND c.conclusion = 'wrong' AND c.answered_at IS NULL
             ORDER BY c.checked_at LIMIT 500",
        )
        .bind(school_code)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(
                record_id,
                kind,
                name,
                student_number,
                class_name,
                check_type,
                correction,
                checked_at,
            )| {
                CorrectionRequestRow {
                    record_id,
                    kind,
                    name,
                    student_number,
                    class_name,
                    check_type,
                    correction: correction.unwrap_or_default(),
                    checked_at,
                }
            },
        )
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct UncheckedStudent {
    pub record_id: String,
    pub student_number: String,
    pub name: String,
    pub class_name: String,
    pub enrolment_year: i64,
    pub has_account: bool,
    /// 专业 (from the record's fields).
    pub major: String,
}

/// Enrolment records of a school (optionally one class or one grade) with no conclusion for
/// the check type: who has not checked yet (未查名单).
pub async fn unchecked(
    db: &Db,
    school_code: &str,
    check_type: &str,
    class_name: Option<&str>,
    grade: Option<i64>,
) -> sqlx::Result<Vec<UncheckedStudent>> {
    type Row = (String, String, String, String, i64, Option<String>, String);
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT r.record_id, r.student_number, r.name, r.class_name, r.enrolment_year, r.account_id, r.fields
             FROM student_records_v1 r
             WHERE r.school_code = $1 AND r.kind = 'enrolment'
               AND ($3 IS NULL OR r.class_name = $3)
               AND ($4 IS NULL OR r.enrolment_year = $4)
               AND NOT EXISTS (SELECT 1 FROM record_checks_v1 c
                               WHERE c.record_id = r.record_id AND c.check_type = $2)
             ORDER BY r.enrolment_year, r.class_name, r.student_number",
        )
        .bind(school_code)
        .bind(check_type)
        .bind(class_name)
        .bind(grade)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(record_id, student_number, name, class_name, enrolment_year, account, fields)| {
                let fields: serde_json::Value = serde_json::from_str(&fields).unwrap_or_default();
                UncheckedStudent {
                    record_id,
                    student_number,
                    name,
                    class_name,
                    enrolment_year,
                    has_account: account.is_some(),
                    major: fields["major"].as_str().unwrap_or_default().to_string(),
                }
            },
        )
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct SchoolRow {
    pub code: String,
    pub name: String,
    pub province: String,
}

pub async fn school(db: &Db, code: &str) -> sqlx::Result<Option<SchoolRow>> {
    let row: Option<(String, String, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT code, name, province FROM schools_v1 WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(code, name, province)| SchoolRow {
        code,
        name,
        province,
    }))
}

/// Every school, by code.
pub async fn schools(db: &Db) -> sqlx::Result<Vec<SchoolRow>> {
    let rows: Vec<(String, String, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT code, name, province FROM schools_v1 ORDER BY code")
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(code, name, province)| SchoolRow {
            code,
            name,
            province,
        })
        .collect())
}

/// Degree records with a pending correction, in the schools of a province.
pub async fn pending_corrections(db: &Db, province: &str) -> sqlx::Result<Vec<RecordRow>> {
    pending_where(db, "s.province = $1", province).await
}

/// Degree records of one school with a correction waiting for its province.
pub async fn school_pending_corrections(
    db: &Db,
    school_code: &str,
) -> sqlx::Result<Vec<RecordRow>> {
    pending_where(db, "r.school_code = $1", school_code).await
}

async fn pending_where(db: &Db, condition: &str, value: &str) -> sqlx::Result<Vec<RecordRow>> {
    let sql = format!(
        "SELECT {} FROM student_records_v1 r JOIN schools_v1 s ON s.code = r.school_code
         WHERE {condition} AND r.pending_corrections <> '[]' ORDER BY r.updated_at",
        RECORD_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows: Vec<RawRecord> = on_db!(db, pool => {
        sqlx::query_as(&sql).bind(value).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(into_row).collect())
}
