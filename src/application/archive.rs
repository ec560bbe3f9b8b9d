//! 学信档案: reading records. Who may read one (the student it is bound to, the school's
//! registrars, the authority of its province, auditors), what a record shows (every field
//! under its column header, photos, the four check conclusions, its change history), the
//! archive of a student, the unchecked lists of a school and the corrections waiting for a
//! province. The JSON API and the web pages show the same.

use super::records::{Records, RecordsError};
use crate::messages;
use crate::sessions::Session;
use serde_json::Value;
use std::collections::BTreeMap;
use xuexin_domain::record::fields::columns;
use xuexin_domain::record::{CheckType, RecordKind};
use xuexin_domain::roles::StaffRole;
use xuexin_domain::Timestamp;
use xuexin_projections::records::{self, Change, RecordRow, UncheckedStudent};

pub struct FieldView {
    pub key: &'static str,
    /// The column header (姓名, 证件号码, …).
    pub label: &'static str,
    /// The document number masked.
    pub value: String,
}

pub struct PhotoView {
    pub sha256: String,
    pub content_type: String,
}

pub struct CheckView {
    pub check_type: CheckType,
    /// In the request's language.
    pub label: &'static str,
    /// `correct`, `wrong`, or `None` when not yet checked.
    pub conclusion: Option<String>,
    pub correction: Option<String>,
    pub checked_at: Option<Timestamp>,
    /// The school's answer to a 有误 conclusion: its reason, and whether it was accepted.
    pub answer: Option<(String, bool)>,
}

pub struct RecordView {
    pub record_id: String,
    pub school_code: String,
    pub kind: RecordKind,
    /// 学籍 / 学历 in the request's language.
    pub kind_label: &'static str,
    /// 层次-学校-专业, as the record archive titles a record.
    pub title: String,
    pub fields: Vec<FieldView>,
    /// By photo kind (`admission`, `degree`).
    pub photos: BTreeMap<String, PhotoView>,
    pub checks: Vec<CheckView>,
    /// Oldest first.
    pub changes: Vec<Change>,
    pub pending_corrections: Value,
    pub bound_to_account: bool,
    pub version: i64,
}

/// A record field's label in the request's language (`name` → 姓名 / Name).
pub fn field_label(key: &str) -> &'static str {
    let key = match key {
        "id_number_masked" | "id_number_digest" => "id_number",
        other => other,
    };
    let code = format!("record_field.{key}");
    if messages::has(&code) {
        messages::text(&code)
    } else {
        xuexin_domain::record::fields::header_of(key)
    }
}

/// One line of 学籍信息变更记录: a field a correction changed.
pub struct CorrectionLine {
    pub label: &'static str,
    pub before: String,
    pub after: String,
    pub at: Timestamp,
}

impl RecordView {
    /// 学籍信息变更记录: every field the record's corrections changed, oldest first.
    pub fn correction_lines(&self) -> Vec<CorrectionLine> {
        self.changes
            .iter()
            .filter(|change| change.change_type == "corrected")
            .flat_map(|change| {
                let at = Timestamp::from_millis(change.at);
                change.details["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |line| CorrectionLine {
                        label: field_label(line["field"].as_str().unwrap_or("")),
                        before: line["before"].as_str().unwrap_or("").to_string(),
                        after: line["after"].as_str().unwrap_or("").to_string(),
                        at,
                    })
            })
            .collect()
    }
}

pub fn check_label(check: CheckType) -> &'static str {
    messages::text(match check {
        CheckType::EnrolmentCheck => "check.enrolment_check",
        CheckType::AnnualRegistration2 => "check.annual_registration_2",
        CheckType::AnnualRegistration3 => "check.annual_registration_3",
        CheckType::ImageVerification => "check.image_verification",
    })
}

/// The unchecked list as a spreadsheet reads it: CSV with a BOM, so that the Chinese shows.
pub fn unchecked_csv(students: &[UncheckedStudent]) -> String {
    let mut csv = format!("\u{feff}{}\r\n", messages::text("csv.unchecked_header"));
    for s in students {
        csv.push_str(&format!(
            "{},{},{},{},{}\r\n",
            s.student_number,
            s.name,
            s.class_name,
            s.enrolment_year,
            messages::text(if s.has_account {
                "label.yes"
            } else {
                "label.no"
            })
        ));
    }
    csv
}

impl Records {
    async fn may_read(&self, session: &Session, row: &RecordRow) -> Result<(), RecordsError> {
        match &session.staff {
            None if row.account_id.as_deref() == Some(session.account_id.to_string().as_str()) => {
                Ok(())
            }
            // Whether a record exists is not told to people it does not belong to.
            None => Err(RecordsError::NotFound),
            Some((StaffRole::Auditor, _)) => Ok(()),
            Some((StaffRole::Registrar, Some(school))) if *school == row.school_code => Ok(()),
            Some((StaffRole::ProvincialAuthority, Some(province))) => {
                let school = records::school(&self.db, &row.school_code)
                    .await
                    .map_err(anyhow::Error::from)?;
                match school {
                    Some(s) if s.province == *province => Ok(()),
                    _ => Err(RecordsError::Forbidden),
                }
            }
            Some(_) => Err(RecordsError::Forbidden),
        }
    }

    /// A record the session may read: `NotFound` (also for a person's record that is not
    /// theirs) or `Forbidden`.
    async fn readable(
        &self,
        session: &Session,
        record_id: &str,
    ) -> Result<RecordRow, RecordsError> {
        let row = records::get(&self.db, record_id)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or(RecordsError::NotFound)?;
        self.may_read(session, &row).await?;
        Ok(row)
    }

    async fn view(&self, row: RecordRow) -> Result<RecordView, RecordsError> {
        let kind = if row.kind == "degree" {
            RecordKind::Degree
        } else {
            RecordKind::Enrolment
        };
        let field = |key: &str| row.fields.get(key).cloned().unwrap_or_default();
        let fields = columns(kind)
            .iter()
            .map(|column| FieldView {
                key: column.key,
                label: field_label(column.key),
                value: if column.key == "id_number" {
                    field("id_number_masked")
                } else {
                    field(column.key)
                },
            })
            .collect();
        let mut photos = BTreeMap::new();
        if let Some(map) = row.photos.as_object() {
            for (photo_kind, photo) in map {
                photos.insert(
                    photo_kind.clone(),
                    PhotoView {
                        sha256: photo["sha256"].as_str().unwrap_or("").to_string(),
                        content_type: photo["content_type"].as_str().unwrap_or("").to_string(),
                    },
                );
            }
        }
        let concluded = records::checks(&self.db, &row.record_id)
            .await
            .map_err(anyhow::Error::from)?;
        let checks = CheckType::ALL
            .iter()
            .map(|check| {
                let found = concluded.iter().find(|c| c.check_type == check.as_str());
                CheckView {
                    check_type: *check,
                    label: check_label(*check),
                    conclusion: found.map(|c| c.conclusion.clone()),
                    correction: found.and_then(|c| c.correction.clone()),
                    checked_at: found.map(|c| Timestamp::from_millis(c.checked_at)),
                    answer: found.and_then(|c| c.answer.clone()),
                }
            })
            .collect();
        let changes = records::history(&self.db, &row.record_id)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(RecordView {
            title: format!(
                "{}-{}-{}",
                field("level"),
                field("school_name"),
                field("major")
            ),
            kind,
            kind_label: messages::text(match kind {
                RecordKind::Enrolment => "record_kind.enrolment",
                RecordKind::Degree => "record_kind.degree",
            }),
            record_id: row.record_id,
            school_code: row.school_code,
            fields,
            photos,
            checks,
            changes,
            pending_corrections: row.pending_corrections,
            bound_to_account: row.account_id.is_some(),
            version: row.version,
        })
    }

    async fn views(&self, rows: Vec<RecordRow>) -> Result<Vec<RecordView>, RecordsError> {
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.view(row).await?);
        }
        Ok(views)
    }

    /// My record archive: every record bound to my account.
    #[tracing::instrument(skip_all)]
    pub async fn archive(&self, session: &Session) -> Result<Vec<RecordView>, RecordsError> {
        if session.staff.is_some() {
            return Err(RecordsError::NotAPerson);
        }
        let rows = records::for_account(&self.db, &session.account_id.to_string())
            .await
            .map_err(anyhow::Error::from)?;
        self.views(rows).await
    }

    /// One record, for whoever may read it.
    #[tracing::instrument(skip_all)]
    pub async fn read(
        &self,
        session: &Session,
        record_id: &str,
    ) -> Result<RecordView, RecordsError> {
        let row = self.readable(session, record_id).await?;
        self.view(row).await
    }

    /// A record's photo of `kind`: (content type, bytes).
    #[tracing::instrument(skip_all)]
    pub async fn photo(
        &self,
        session: &Session,
        record_id: &str,
        kind: &str,
    ) -> Result<(String, Vec<u8>), RecordsError> {
        let row = self.readable(session, record_id).await?;
        let sha256 = row.photos[kind]["sha256"]
            .as_str()
            .ok_or(RecordsError::NoPhoto)?
            .to_string();
        crate::blobs::get(&self.db, &sha256)
            .await?
            .ok_or(RecordsError::NoPhoto)
    }

    /// 未查名单: a school's enrolment records (optionally one class or grade) without a
    /// conclusion for `check`.
    #[tracing::instrument(skip_all)]
    pub async fn unchecked(
        &self,
        school_code: &str,
        check: CheckType,
        class_name: Option<&str>,
        grade: Option<i64>,
    ) -> Result<Vec<UncheckedStudent>, RecordsError> {
        Ok(
            records::unchecked(&self.db, school_code, check.as_str(), class_name, grade)
                .await
                .map_err(anyhow::Error::from)?,
        )
    }

    /// Records with degree corrections waiting for the authority of `province`.
    #[tracing::instrument(skip_all)]
    pub async fn pending_corrections(
        &self,
        province: &str,
    ) -> Result<Vec<RecordView>, RecordsError> {
        let rows = records::pending_corrections(&self.db, province)
            .await
            .map_err(anyhow::Error::from)?;
        self.views(rows).await
    }

    /// A school's degree records with a correction waiting for its province.
    #[tracing::instrument(skip_all)]
    pub async fn school_pending_corrections(
        &self,
        school_code: &str,
    ) -> Result<Vec<RecordView>, RecordsError> {
        let rows = records::school_pending_corrections(&self.db, school_code)
            .await
            .map_err(anyhow::Error::from)?;
        self.views(rows).await
    }
}
