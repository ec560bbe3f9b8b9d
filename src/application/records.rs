//! Student records (学籍学历): a student binds a missing degree record and records check
//! conclusions; a registrar attaches photos; a provincial authority decides corrections.
//! Imports of schools' files are in `import.rs`; the reads stay with their handlers.

use crate::security::DigestKey;
use crate::sessions::Session;
use crate::store::{CommandMetadata, Committed, Db, EventStore, ExecuteError};
use std::sync::Arc;
use xuexin_domain::account::Account;
use xuexin_domain::record::{
    degree_record_id, BindMethod, CheckType, Conclusion, PhotoKind, RecordCommand, RecordError,
    StudentRecord,
};
use xuexin_domain::school::School;
use xuexin_domain::Clock;

/// What the record use cases use.
#[derive(Clone)]
pub struct Records {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Document numbers of imported rows are stored as keyed digests.
    pub digest: DigestKey,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("not a person's account")]
    NotAPerson,
    #[error("no such record")]
    NotFound,
    /// The record has no photo of that kind.
    #[error("no such photo")]
    NoPhoto,
    /// The certificate number, graduation year or name does not match (at the certificate).
    #[error("the details do not match")]
    DetailsMismatch,
    /// Another school's (or province's) record.
    #[error("another school's record")]
    Forbidden,
    /// A decision without a reason (at `reason`).
    #[error("a reason is required")]
    ReasonRequired,
    /// An accepted correction request without the field and its corrected value (at `value`).
    #[error("the corrected field and value are required")]
    CorrectionRequired,
    #[error("the record refused: {0}")]
    Refused(ExecuteError<RecordError>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A check conclusion as a person typed it: the check (`enrolment_check`, …), `correct` or
/// `wrong`, and for `wrong` the correction (1–500 characters). Refusals name their field.
pub fn parse_conclusion(
    check_type: &str,
    conclusion: &str,
    correction: &str,
) -> Result<(CheckType, Conclusion), Vec<super::FieldRefusal>> {
    let mut refusals = Vec::new();
    let check_type = CheckType::parse(check_type.trim());
    if check_type.is_none() {
        refusals.push(super::FieldRefusal::new("check_type", "check_type_invalid"));
    }
    let correction = correction.trim();
    let conclusion = match conclusion.trim() {
        "correct" => Some(Conclusion::Correct),
        "wrong" if !correction.is_empty() && correction.chars().count() <= 500 => {
            Some(Conclusion::Wrong {
                correction: correction.to_string(),
            })
        }
        _ => {
            refusals.push(super::FieldRefusal::new("conclusion", "conclusion_invalid"));
            None
        }
    };
    match (check_type, conclusion) {
        (Some(check_type), Some(conclusion)) => Ok((check_type, conclusion)),
        _ => Err(refusals),
    }
}

/// A correction's decision by a provincial authority.
#[derive(Clone, Copy, Debug)]
pub enum Decision {
    Approve,
    Reject,
}

impl Records {
    async fn record(&self, record_id: &str) -> Result<StudentRecord, RecordsError> {
        let record = self.store.load::<StudentRecord>(record_id).await?.aggregate;
        if record.exists() {
            Ok(record)
        } else {
            Err(RecordsError::NotFound)
        }
    }

    async fn execute(
        &self,
        record_id: &str,
        command: RecordCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed<StudentRecord>, RecordsError> {
        self.store
            .execute::<StudentRecord>(record_id, command, &(), metadata)
            .await
            .map_err(RecordsError::Refused)
    }

    /// 我还有学历没显示出来: a degree record by its certificate number, graduation year and
    /// name, which must also be the account's real name. Returns the record's id.
    #[tracing::instrument(skip_all)]
    pub async fn bind_by_certificate(
        &self,
        session: &Session,
        certificate: &str,
        graduation_year: Option<i64>,
        name: &str,
        metadata: &CommandMetadata,
    ) -> Result<(String, Option<i64>), RecordsError> {
        if session.staff.is_some() {
            return Err(RecordsError::NotAPerson);
        }
        let certificate = certificate.trim();
        let record_id = degree_record_id(certificate).to_string();
        let record = self
            .store
            .load::<StudentRecord>(&record_id)
            .await?
            .aggregate;
        if certificate.is_empty() || !record.exists() {
            return Err(RecordsError::NotFound);
        }
        let account = self
            .store
            .load::<Account>(&session.account_id.to_string())
            .await?
            .aggregate;
        let year_matches = graduation_year
            .is_some_and(|y| record.field("graduation_date").starts_with(&y.to_string()));
        let name_matches =
            name.trim() == record.field("name") && account.name() == record.field("name");
        if !year_matches || !name_matches {
            return Err(RecordsError::DetailsMismatch);
        }
        let committed = self
            .execute(
                &record_id,
                RecordCommand::Bind {
                    account_id: session.account_id,
                    method: BindMethod::Certificate,
                },
                metadata,
            )
            .await?;
        Ok((record_id, committed.position))
    }

    /// 核对结论: the student's conclusion for a check of one of their records.
    #[tracing::instrument(skip_all)]
    pub async fn record_conclusion(
        &self,
        session: &Session,
        record_id: &str,
        check_type: CheckType,
        conclusion: Conclusion,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, RecordsError> {
        if session.staff.is_some() {
            return Err(RecordsError::NotAPerson);
        }
        let committed = self
            .execute(
                record_id,
                RecordCommand::Conclude {
                    account_id: session.account_id,
                    check_type,
                    conclusion,
                },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }

    /// A registrar attaches a photo (already checked to be JPEG or PNG) to a record of their
    /// school. Returns the photo's SHA-256.
    #[tracing::instrument(skip_all)]
    pub async fn attach_photo(
        &self,
        school_code: &str,
        record_id: &str,
        kind: PhotoKind,
        bytes: &[u8],
        content_type: &'static str,
        metadata: &CommandMetadata,
    ) -> Result<(String, Option<i64>), RecordsError> {
        let record = self.record(record_id).await?;
        if record.school_code() != school_code {
            return Err(RecordsError::Forbidden);
        }
        let photo = crate::blobs::put(&self.db, bytes, content_type, self.clock.now()).await?;
        let sha256 = photo.sha256.clone();
        let committed = self
            .execute(
                record_id,
                RecordCommand::AttachPhoto { kind, photo },
                metadata,
            )
            .await?;
        Ok((sha256, committed.position))
    }

    /// A provincial authority approves or rejects a correction of a record of a school in its
    /// province, with a reason.
    #[tracing::instrument(skip_all)]
    pub async fn decide_correction(
        &self,
        province: &str,
        record_id: &str,
        correction_id: u32,
        decision: Decision,
        reason: Option<&str>,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, RecordsError> {
        let reason = reason.unwrap_or_default().trim().to_string();
        if reason.is_empty() {
            return Err(RecordsError::ReasonRequired);
        }
        let record = self.record(record_id).await?;
        let school = self
            .store
            .load::<School>(record.school_code())
            .await?
            .aggregate;
        if school.province() != province {
            return Err(RecordsError::Forbidden);
        }
        let command = match decision {
            Decision::Approve => RecordCommand::ApproveCorrection {
                correction_id,
                reason,
            },
            Decision::Reject => RecordCommand::RejectCorrection {
                correction_id,
                reason,
            },
        };
        let committed = self.execute(record_id, command, metadata).await?;
        Ok(committed.position)
    }

    /// A registrar answers a student's 有误 conclusion: accepted, the record's `field` becomes
    /// `value` (an enrolment is corrected; a degree becomes a request for the province), or
    /// rejected with `reason`, which the student reads.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all)]
    pub async fn answer_correction_request(
        &self,
        school_code: &str,
        record_id: &str,
        check_type: CheckType,
        accepted: bool,
        reason: &str,
        correction: Option<(&str, &str)>,
        metadata: &CommandMetadata,
    ) -> Result<Option<i64>, RecordsError> {
        let reason = reason.trim().chars().take(500).collect::<String>();
        if !accepted && reason.is_empty() {
            return Err(RecordsError::ReasonRequired);
        }
        let record = self.record(record_id).await?;
        if record.school_code() != school_code {
            return Err(RecordsError::NotFound);
        }
        let fields = if accepted {
            let (field, value) = correction
                .map(|(f, v)| (f.trim(), v.trim()))
                .filter(|(f, v)| !v.is_empty() && record.fields().contains_key(*f))
                .ok_or(RecordsError::CorrectionRequired)?;
            let mut fields = record.fields().clone();
            fields.insert(field.to_string(), value.to_string());
            Some(fields)
        } else {
            None
        };
        let committed = self
            .execute(
                record_id,
                RecordCommand::AnswerCorrectionRequest {
                    school_code: school_code.to_string(),
                    check_type,
                    accepted,
                    reason,
                    fields,
                },
                metadata,
            )
            .await?;
        Ok(committed.position)
    }
}
