//! The StudentRecord aggregate: an enrolment (学籍) or degree (学历) record as a school reports
//! it. Keyed by a UUIDv5 of school code + student number (enrolment) or of the certificate
//! number (degree). Corrections keep the values before the change; a degree record, once
//! registered, changes only through a correction the provincial authority approves (seed 000,
//! 《高等学校学生学籍学历电子注册办法》第十九条).
//!
//! Fields are a map keyed by the stable names in [`fields`]; the importer validates every
//! value before it gets here. The ID number is present only as a keyed digest and a mask.

pub mod fields;

use crate::ids::AccountId;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

const RECORD_NAMESPACE: Uuid = Uuid::from_u128(0x3c4a_81e2_5f70_4b9d_8d2e_0a6f_c1e7_9b44);

pub type RecordFields = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 学籍
    Enrolment,
    /// 学历
    Degree,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolment => "enrolment",
            Self::Degree => "degree",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Enrolment => "学籍",
            Self::Degree => "学历",
        }
    }
}

/// The record id of an enrolment: school code + student number.
pub fn enrolment_record_id(school_code: &str, student_number: &str) -> Uuid {
    Uuid::new_v5(
        &RECORD_NAMESPACE,
        format!("enrolment:{school_code}:{student_number}").as_bytes(),
    )
}

/// The record id of a degree: its certificate number.
pub fn degree_record_id(certificate_number: &str) -> Uuid {
    Uuid::new_v5(
        &RECORD_NAMESPACE,
        format!("degree:{certificate_number}").as_bytes(),
    )
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// The checks a student records a conclusion for (seed 001's 核对类型).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    /// 学籍信息核对
    EnrolmentCheck,
    /// 第二学年学年注册
    AnnualRegistration2,
    /// 第三学年学年注册
    AnnualRegistration3,
    /// 图像校对（图像采集/学历注册）
    ImageVerification,
}

impl CheckType {
    pub const ALL: [Self; 4] = [
        Self::EnrolmentCheck,
        Self::AnnualRegistration2,
        Self::AnnualRegistration3,
        Self::ImageVerification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnrolmentCheck => "enrolment_check",
            Self::AnnualRegistration2 => "annual_registration_2",
            Self::AnnualRegistration3 => "annual_registration_3",
            Self::ImageVerification => "image_verification",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::EnrolmentCheck => "学籍信息核对",
            Self::AnnualRegistration2 => "第二学年学年注册",
            Self::AnnualRegistration3 => "第三学年学年注册",
            Self::ImageVerification => "图像采集/学历注册",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Conclusion {
    /// 学籍信息已核对，正确无误。
    Correct,
    /// 学籍信息中……有误，正确的应为……
    Wrong { correction: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BindMethod {
    /// The record's name and ID number match the account's real-name identity.
    IdentityMatch,
    /// The student bound it by certificate number + graduation year + name.
    Certificate,
    /// The identity moved to a new account (duplicate-ID flow).
    IdentityTransfer,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// 录取照片
    Admission,
    /// 学历照片
    Degree,
}

impl PhotoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admission => "admission",
            Self::Degree => "degree",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admission" => Some(Self::Admission),
            "degree" => Some(Self::Degree),
            _ => None,
        }
    }
}

/// A photo stored outside the log, named by its content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PhotoRef {
    pub sha256: String,
    pub content_type: String,
    pub size: u64,
}

#[derive(Clone, Debug)]
pub enum RecordCommand {
    /// A school reports the record (import). New → registered; changed enrolment →
    /// corrected; changed degree → a correction request for the provincial authority.
    Report {
        kind: RecordKind,
        school_code: String,
        fields: RecordFields,
    },
    ApproveCorrection {
        correction_id: u32,
        reason: String,
    },
    RejectCorrection {
        correction_id: u32,
        reason: String,
    },
    Bind {
        account_id: AccountId,
        method: BindMethod,
    },
    Unbind {
        account_id: AccountId,
        reason: String,
    },
    Conclude {
        account_id: AccountId,
        check_type: CheckType,
        conclusion: Conclusion,
    },
    AttachPhoto {
        kind: PhotoKind,
        photo: PhotoRef,
    },
    /// The school answers a student's 有误 conclusion: accepted (with `fields`, the record as
    /// corrected: an enrolment is corrected, a degree becomes a request for the province) or
    /// rejected with `reason`, which the student reads.
    AnswerCorrectionRequest {
        school_code: String,
        check_type: CheckType,
        accepted: bool,
        reason: String,
        fields: Option<RecordFields>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum RecordEvent {
    RecordRegistered {
        kind: RecordKind,
        school_code: String,
        fields: RecordFields,
    },
    RecordCorrected {
        changes: Vec<FieldChange>,
        /// For degree records: the approved request and the authority's reason.
        approved_correction: Option<u32>,
        reason: Option<String>,
    },
    DegreeCorrectionRequested {
        correction_id: u32,
        changes: Vec<FieldChange>,
    },
    DegreeCorrectionRejected {
        correction_id: u32,
        reason: String,
    },
    RecordBound {
        account_id: AccountId,
        method: BindMethod,
        previous_account: Option<AccountId>,
    },
    RecordUnbound {
        account_id: AccountId,
        reason: String,
    },
    RecordChecked {
        account_id: AccountId,
        check_type: CheckType,
        conclusion: Conclusion,
    },
    RecordPhotoAttached {
        kind: PhotoKind,
        photo: PhotoRef,
    },
    /// The school answered a student's 有误 conclusion of `check_type`. Accepted: the
    /// correction follows in the same commit (`RecordCorrected`, or for a degree
    /// `DegreeCorrectionRequested`). Rejected: `reason` is what the student reads.
    CorrectionRequestAnswered {
        check_type: CheckType,
        accepted: bool,
        reason: String,
    },
}

impl DomainEvent for RecordEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RecordRegistered { .. } => "RecordRegistered",
            Self::RecordCorrected { .. } => "RecordCorrected",
            Self::DegreeCorrectionRequested { .. } => "DegreeCorrectionRequested",
            Self::DegreeCorrectionRejected { .. } => "DegreeCorrectionRejected",
            Self::RecordBound { .. } => "RecordBound",
            Self::RecordUnbound { .. } => "RecordUnbound",
            Self::RecordChecked { .. } => "RecordChecked",
            Self::RecordPhotoAttached { .. } => "RecordPhotoAttached",
            Self::CorrectionRequestAnswered { .. } => "CorrectionRequestAnswered",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no such record")]
    NotFound,
    #[error("the record belongs to another school or is of another kind")]
    Mismatch,
    #[error("no pending correction with that id")]
    NoSuchCorrection,
    #[error("the record is bound to another account")]
    BoundToAnother,
    #[error("the record is not bound to this account")]
    NotYours,
    #[error("no correction request of that check waits for an answer")]
    NoCorrectionRequest,
    #[error("an accepted request changes nothing")]
    NothingCorrected,
}

impl RecordError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "record_not_found",
            Self::Mismatch => "record_mismatch",
            Self::NoSuchCorrection => "correction_not_found",
            Self::BoundToAnother => "record_bound_to_another",
            Self::NotYours => "record_not_yours",
            Self::NoCorrectionRequest => "correction_request_not_found",
            Self::NothingCorrected => "correction_unchanged",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCorrection {
    pub correction_id: u32,
    pub changes: Vec<FieldChange>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentRecord {
    kind: Option<RecordKind>,
    school_code: String,
    fields: RecordFields,
    account: Option<AccountId>,
    pending: Vec<PendingCorrection>,
    next_correction: u32,
    checks: BTreeMap<CheckType, Conclusion>,
    photos: BTreeMap<PhotoKind, PhotoRef>,
    /// The checks whose 有误 conclusion the school has answered (until the student concludes
    /// again).
    #[serde(default)]
    answered: std::collections::BTreeSet<CheckType>,
}

/// The fields that differ, as changes from `current` to `incoming` (ordered by field name).
pub fn diff(current: &RecordFields, incoming: &RecordFields) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = current.keys().chain(incoming.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let before = current.get(key).cloned().unwrap_or_default();
            let after = incoming.get(key).cloned().unwrap_or_default();
            (before != after).then(|| FieldChange {
                field: key.clone(),
                before,
                after,
            })
        })
        .collect()
}

impl StudentRecord {
    pub fn exists(&self) -> bool {
        self.kind.is_some()
    }

    pub fn kind(&self) -> Option<RecordKind> {
        self.kind
    }

    pub fn school_code(&self) -> &str {
        &self.school_code
    }

    pub fn fields(&self) -> &RecordFields {
        &self.fields
    }

    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    pub fn account(&self) -> Option<AccountId> {
        self.account
    }

    pub fn pending_corrections(&self) -> &[PendingCorrection] {
        &self.pending
    }

    fn require(&self) -> Result<RecordKind, RecordError> {
        self.kind.ok_or(RecordError::NotFound)
    }

    async fn report(
        &mut self,
        kind: RecordKind,
        school_code: String,
        fields: RecordFields,
        sink: &EventSink<Self>,
    ) -> Result<(), RecordError> {
        let Some(current_kind) = self.kind else {
            sink.write(
                RecordEvent::RecordRegistered {
                    kind,
                    school_code,
                    fields,
                },
                self,
            )
            .await;
            return Ok(());
        };
        if current_kind != kind || self.school_code != school_code {
            return Err(RecordError::Mismatch);
        }
        let changes = diff(&self.fields, &fields);
        if changes.is_empty() {
            return Ok(());
        }
        match kind {
            RecordKind::Enrolment => {
                sink.write(
                    RecordEvent::RecordCorrected {
                        changes,
                        approved_correction: None,
                        reason: None,
                    },
                    self,
                )
                .await;
            }
            RecordKind::Degree => {
                // The same request reported again is not a new request.
                if self.pending.iter().any(|p| p.changes == changes) {
                    return Ok(());
                }
                let correction_id = self.next_correction + 1;
                sink.write(
                    RecordEvent::DegreeCorrectionRequested {
                        correction_id,
                        changes,
                    },
                    self,
                )
                .await;
            }
        }
        Ok(())
    }
}

impl Aggregate for StudentRecord {
    const TYPE: &'static str = "StudentRecord";
    type Command = RecordCommand;
    type Event = RecordEvent;
    type Error = RecordError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            RecordCommand::Report {
                kind,
                school_code,
                fields,
            } => self.report(kind, school_code, fields, sink).await?,
            RecordCommand::ApproveCorrection {
                correction_id,
                reason,
            } => {
                self.require()?;
                let pending = self
                    .pending
                    .iter()
                    .find(|p| p.correction_id == correction_id)
                    .cloned()
                    .ok_or(RecordError::NoSuchCorrection)?;
                // Re-derive the "before" values at approval time, so the history is exact
                // even if something else changed in between.
                let mut target = self.fields.clone();
                for change in &pending.changes {
                    target.insert(change.field.clone(), change.after.clone());
                }
                let changes = diff(&self.fields, &target);
                sink.write(
                    RecordEvent::RecordCorrected {
                        changes,
                        approved_correction: Some(correction_id),
                        reason: Some(reason),
                    },
                    self,
                )
                .await;
            }
            RecordCommand::RejectCorrection {
                correction_id,
                reason,
            } => {
                self.require()?;
                if !self
                    .pending
                    .iter()
                    .any(|p| p.correction_id == correction_id)
                {
                    return Err(RecordError::NoSuchCorrection);
                }
                sink.write(
                    RecordEvent::DegreeCorrectionRejected {
                        correction_id,
                        reason,
                    },
                    self,
                )
                .await;
            }
            RecordCommand::Bind { account_id, method } => {
                self.require()?;
                match self.account {
                    Some(current) if current == account_id => {}
                    Some(_) if method == BindMethod::Certificate => {
                        return Err(RecordError::BoundToAnother)
                    }
                    previous => {
                        sink.write(
                            RecordEvent::RecordBound {
                                account_id,
                                method,
                                previous_account: previous,
                            },
                            self,
                        )
                        .await;
                    }
                }
            }
            RecordCommand::Unbind { account_id, reason } => {
                self.require()?;
                if self.account == Some(account_id) {
                    sink.write(RecordEvent::RecordUnbound { account_id, reason }, self)
                        .await;
                }
            }
            RecordCommand::Conclude {
                account_id,
                check_type,
                conclusion,
            } => {
                self.require()?;
                if self.account != Some(account_id) {
                    return Err(RecordError::NotYours);
                }
                sink.write(
                    RecordEvent::RecordChecked {
                        account_id,
                        check_type,
                        conclusion,
                    },
                    self,
                )
                .await;
            }
            RecordCommand::AnswerCorrectionRequest {
                school_code,
                check_type,
                accepted,
                reason,
                fields,
            } => {
                self.require()?;
                if self.school_code != school_code {
                    return Err(RecordError::Mismatch);
                }
                let waiting =
                    matches!(self.checks.get(&check_type), Some(Conclusion::Wrong { .. }))
                        && !self.answered.contains(&check_type);
                if !waiting {
                    return Err(RecordError::NoCorrectionRequest);
                }
                let corrected = match (&fields, accepted) {
                    (Some(fields), true) => Some(fields.clone()),
                    _ => None,
                };
                if accepted
                    && corrected
                        .as_ref()
                        .is_none_or(|f| diff(&self.fields, f).is_empty())
                {
                    return Err(RecordError::NothingCorrected);
                }
                sink.write(
                    RecordEvent::CorrectionRequestAnswered {
                        check_type,
                        accepted,
                        reason,
                    },
                    self,
                )
                .await;
                if let (Some(fields), Some(kind)) = (corrected, self.kind) {
                    let school = self.school_code.clone();
                    Box::pin(self.report(kind, school, fields, sink)).await?;
                }
            }
            RecordCommand::AttachPhoto { kind, photo } => {
                self.require()?;
                if self.photos.get(&kind) != Some(&photo) {
                    sink.write(RecordEvent::RecordPhotoAttached { kind, photo }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            RecordEvent::RecordRegistered {
                kind,
                school_code,
                fields,
            } => {
                self.kind = Some(kind);
                self.school_code = school_code;
                self.fields = fields;
            }
            RecordEvent::RecordCorrected {
                changes,
                approved_correction,
                ..
            } => {
                for change in changes {
                    self.fields.insert(change.field, change.after);
                }
                if let Some(id) = approved_correction {
                    self.pending.retain(|p| p.correction_id != id);
                }
            }
            RecordEvent::DegreeCorrectionRequested {
                correction_id,
                changes,
            } => {
                self.next_correction = self.next_correction.max(correction_id);
                self.pending.push(PendingCorrection {
                    correction_id,
                    changes,
                });
            }
            RecordEvent::DegreeCorrectionRejected { correction_id, .. } => {
                self.pending.retain(|p| p.correction_id != correction_id);
            }
            RecordEvent::RecordBound { account_id, .. } => self.account = Some(account_id),
            RecordEvent::RecordUnbound { .. } => self.account = None,
            RecordEvent::RecordChecked {
                check_type,
                conclusion,
                ..
            } => {
                self.checks.insert(check_type, conclusion);
                self.answered.remove(&check_type);
            }
            RecordEvent::CorrectionRequestAnswered { check_type, .. } => {
                self.answered.insert(check_type);
            }
            RecordEvent::RecordPhotoAttached { kind, photo } => {
                self.photos.insert(kind, photo);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn fields(pairs: &[(&str, &str)]) -> RecordFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn report(kind: RecordKind, pairs: &[(&str, &str)]) -> RecordCommand {
        RecordCommand::Report {
            kind,
            school_code: "99003".into(),
            fields: fields(pairs),
        }
    }

    fn registered(kind: RecordKind, pairs: &[(&str, &str)]) -> RecordEvent {
        RecordEvent::RecordRegistered {
            kind,
            school_code: "99003".into(),
            fields: fields(pairs),
        }
    }

    fn account(n: u128) -> AccountId {
        AccountId(Uuid::from_u128(n))
    }

    #[test]
    fn reporting_the_same_row_again_writes_nothing() {
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Enrolment, &[("name", "黄思")])])
            .when(report(RecordKind::Enrolment, &[("name", "黄思")]))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_changed_enrolment_row_is_a_correction_keeping_the_old_values() {
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(
                RecordKind::Enrolment,
                &[("name", "黄思"), ("class_name", "教育213")],
            )])
            .when(report(
                RecordKind::Enrolment,
                &[("name", "黄思"), ("class_name", "教育211")],
            ))
            .then_expect_events(vec![RecordEvent::RecordCorrected {
                changes: vec![FieldChange {
                    field: "class_name".into(),
                    before: "教育213".into(),
                    after: "教育211".into(),
                }],
                approved_correction: None,
                reason: None,
            }]);
    }

    #[test]
    fn a_school_answers_a_students_correction_request_once() {
        let wrong = RecordEvent::RecordChecked {
            account_id: account(1),
            check_type: CheckType::EnrolmentCheck,
            conclusion: Conclusion::Wrong {
                correction: "班级应为教育211".into(),
            },
        };
        let given = || {
            vec![
                registered(RecordKind::Enrolment, &[("class_name", "教育213")]),
                wrong.clone(),
            ]
        };
        let answer = |accepted: bool, school: &str, pairs: Option<&[(&str, &str)]>| {
            RecordCommand::AnswerCorrectionRequest {
                school_code: school.into(),
                check_type: CheckType::EnrolmentCheck,
                accepted,
                reason: "核实无误".into(),
                fields: pairs.map(fields),
            }
        };
        let answered = |accepted| RecordEvent::CorrectionRequestAnswered {
            check_type: CheckType::EnrolmentCheck,
            accepted,
            reason: "核实无误".into(),
        };
        // Accepted: it becomes a correction of the record.
        TestFramework::<StudentRecord>::with(())
            .given(given())
            .when(answer(true, "99003", Some(&[("class_name", "教育211")])))
            .then_expect_events(vec![
                answered(true),
                RecordEvent::RecordCorrected {
                    changes: vec![FieldChange {
                        field: "class_name".into(),
                        before: "教育213".into(),
                        after: "教育211".into(),
                    }],
                    approved_correction: None,
                    reason: None,
                },
            ]);
        // Accepted without a change, another school, or answered already: refused.
        TestFramework::<StudentRecord>::with(())
            .given(given())
            .when(answer(true, "99003", Some(&[("class_name", "教育213")])))
            .then_expect_error(RecordError::NothingCorrected);
        TestFramework::<StudentRecord>::with(())
            .given(given())
            .when(answer(false, "99011", None))
            .then_expect_error(RecordError::Mismatch);
        let mut done = given();
        done.push(answered(false));
        TestFramework::<StudentRecord>::with(())
            .given(done.clone())
            .when(answer(false, "99003", None))
            .then_expect_error(RecordError::NoCorrectionRequest);
        // The student concludes again: a new request to answer.
        done.push(wrong.clone());
        TestFramework::<StudentRecord>::with(())
            .given(done)
            .when(answer(false, "99003", None))
            .then_expect_events(vec![answered(false)]);
    }

    #[test]
    fn a_school_cannot_change_a_registered_degree_only_request_a_correction() {
        let change = FieldChange {
            field: "major".into(),
            before: "软件工程".into(),
            after: "计算机科学与技术".into(),
        };
        let requested = RecordEvent::DegreeCorrectionRequested {
            correction_id: 1,
            changes: vec![change.clone()],
        };
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(
                RecordKind::Degree,
                &[("major", "软件工程")],
            )])
            .when(report(RecordKind::Degree, &[("major", "计算机科学与技术")]))
            .then_expect_events(vec![requested.clone()]);
        // Reported again: still one request.
        TestFramework::<StudentRecord>::with(())
            .given(vec![
                registered(RecordKind::Degree, &[("major", "软件工程")]),
                requested.clone(),
            ])
            .when(report(RecordKind::Degree, &[("major", "计算机科学与技术")]))
            .then_expect_events(vec![]);
        // The authority approves it with a reason.
        TestFramework::<StudentRecord>::with(())
            .given(vec![
                registered(RecordKind::Degree, &[("major", "软件工程")]),
                requested,
            ])
            .when(RecordCommand::ApproveCorrection {
                correction_id: 1,
                reason: "省教育厅核准".into(),
            })
            .then_expect_events(vec![RecordEvent::RecordCorrected {
                changes: vec![change],
                approved_correction: Some(1),
                reason: Some("省教育厅核准".into()),
            }]);
    }

    #[test]
    fn another_school_cannot_report_the_record() {
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Enrolment, &[("name", "黄思")])])
            .when(RecordCommand::Report {
                kind: RecordKind::Enrolment,
                school_code: "99001".into(),
                fields: fields(&[("name", "黄思")]),
            })
            .then_expect_error(RecordError::Mismatch);
    }

    #[test]
    fn only_the_bound_student_records_a_conclusion() {
        let bound = RecordEvent::RecordBound {
            account_id: account(1),
            method: BindMethod::IdentityMatch,
            previous_account: None,
        };
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Enrolment, &[]), bound.clone()])
            .when(RecordCommand::Conclude {
                account_id: account(2),
                check_type: CheckType::EnrolmentCheck,
                conclusion: Conclusion::Correct,
            })
            .then_expect_error(RecordError::NotYours);
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Enrolment, &[]), bound])
            .when(RecordCommand::Conclude {
                account_id: account(1),
                check_type: CheckType::EnrolmentCheck,
                conclusion: Conclusion::Wrong {
                    correction: "民族应为汉族".into(),
                },
            })
            .then_expect_events(vec![RecordEvent::RecordChecked {
                account_id: account(1),
                check_type: CheckType::EnrolmentCheck,
                conclusion: Conclusion::Wrong {
                    correction: "民族应为汉族".into(),
                },
            }]);
    }

    #[test]
    fn a_certificate_cannot_take_a_record_bound_to_someone_else() {
        let bound = RecordEvent::RecordBound {
            account_id: account(1),
            method: BindMethod::IdentityMatch,
            previous_account: None,
        };
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Degree, &[]), bound.clone()])
            .when(RecordCommand::Bind {
                account_id: account(2),
                method: BindMethod::Certificate,
            })
            .then_expect_error(RecordError::BoundToAnother);
        TestFramework::<StudentRecord>::with(())
            .given(vec![registered(RecordKind::Degree, &[]), bound])
            .when(RecordCommand::Bind {
                account_id: account(2),
                method: BindMethod::IdentityTransfer,
            })
            .then_expect_events(vec![RecordEvent::RecordBound {
                account_id: account(2),
                method: BindMethod::IdentityTransfer,
                previous_account: Some(account(1)),
            }]);
    }
}
