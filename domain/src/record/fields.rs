//! The record fields schools report, their Chinese column headers (as in the record archive
//! of seed 001 and the sample files), and validation of one row. A bad row's reasons are
//! [`RowIssue`]s: a stable message code and its parameters, which the application turns into
//! the registrar's language from the message catalogue.

use super::{degree_record_id, enrolment_record_id, RecordFields, RecordKind};
use crate::time::CivilDate;
use crate::values::{
    mask_document_number, normalize_document_number, Document, DocumentError, DocumentType,
    KeyedHasher, PersonName,
};
use uuid::Uuid;

pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
    pub required: bool,
}

const fn col(key: &'static str, header: &'static str, required: bool) -> Column {
    Column {
        key,
        header,
        required,
    }
}

/// 学籍 columns, in the sample files' order.
pub const ENROLMENT_COLUMNS: &[Column] = &[
    col("name", "姓名", true),
    col("gender", "性别", true),
    col("birth_date", "出生日期", true),
    col("ethnicity", "民族", true),
    col("id_number", "证件号码", true),
    col("school_name", "学校名称", true),
    col("level", "层次", true),
    col("major", "专业", true),
    col("duration", "学制", true),
    col("category", "学历类别", true),
    col("study_form", "学习形式", true),
    col("branch", "分院", false),
    col("department", "系（所、函授站）", false),
    col("class_name", "班级", false),
    col("student_number", "学号", true),
    col("enrolment_date", "入学日期", true),
    col("expected_graduation_date", "预计毕业日期", true),
    col("status", "学籍状态", true),
];

/// 学历 columns, in the sample files' order.
pub const DEGREE_COLUMNS: &[Column] = &[
    col("name", "姓名", true),
    col("gender", "性别", true),
    col("birth_date", "出生日期", true),
    col("id_number", "证件号码", true),
    col("school_name", "学校名称", true),
    col("level", "层次", true),
    col("major", "专业", true),
    col("duration", "学制", true),
    col("category", "学历类别", true),
    col("study_form", "学习形式", true),
    col("enrolment_date", "入学日期", true),
    col("graduation_date", "毕（结）业日期", true),
    col("graduation_conclusion", "毕（结）业", true),
    col("certificate_number", "证书编号", true),
];

pub fn columns(kind: RecordKind) -> &'static [Column] {
    match kind {
        RecordKind::Enrolment => ENROLMENT_COLUMNS,
        RecordKind::Degree => DEGREE_COLUMNS,
    }
}

/// The header of a stored field, for people (`id_number_masked` reads as 证件号码).
pub fn header_of(key: &str) -> &'static str {
    let key = match key {
        "id_number_masked" | "id_number_digest" => "id_number",
        other => other,
    };
    ENROLMENT_COLUMNS
        .iter()
        .chain(DEGREE_COLUMNS)
        .find(|c| c.key == key)
        .map_or("", |c| c.header)
}

pub const LEVELS: &[&str] = &[
    "专科",
    "本科",
    "硕士研究生",
    "博士研究生",
    "硕士",
    "博士",
    "第二学士学位",
];
pub const GRADUATION_CONCLUSIONS: &[&str] = &["毕业", "结业", "肄业"];

/// One thing wrong with a row: a message code of the catalogue and the values it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    pub code: &'static str,
    pub params: Vec<(&'static str, String)>,
}

impl RowIssue {
    fn new(code: &'static str) -> Self {
        Self {
            code,
            params: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }
}

/// Every code a [`RowIssue`] or [`layout`] can carry; the catalogue must hold each of them.
pub const ISSUE_CODES: &[&str] = &[
    "row.missing_columns",
    "row.required",
    "row.name",
    "row.gender",
    "row.date",
    "row.birth_date_mismatch",
    "row.id_checksum",
    "row.id_birth_date",
    "row.id_format",
    "row.school_name",
    "row.level",
    "row.duration",
    "row.too_long",
    "row.expected_graduation_order",
    "row.student_number",
    "row.graduation_order",
    "row.conclusion",
    "row.certificate",
];

/// Column positions of a file's header row.
pub struct Layout {
    pub kind: RecordKind,
    /// For each of `columns(kind)`, its index in the row (absent optional columns: `None`).
    pub positions: Vec<Option<usize>>,
}

/// Recognizes the kind of file by its headers; names every missing required column.
pub fn layout(headers: &[String]) -> Result<Layout, RowIssue> {
    let clean: Vec<String> = headers
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let kind = if clean.iter().any(|h| h == "证书编号") {
        RecordKind::Degree
    } else {
        RecordKind::Enrolment
    };
    let mut positions = Vec::new();
    let mut missing = Vec::new();
    for column in columns(kind) {
        let at = clean.iter().position(|h| h == column.header);
        if at.is_none() && column.required {
            missing.push(column.header);
        }
        positions.push(at);
    }
    if missing.is_empty() {
        Ok(Layout { kind, positions })
    } else {
        Err(RowIssue::new("row.missing_columns").with("columns", missing.join("、")))
    }
}

pub struct SchoolContext<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub today: CivilDate,
    pub hasher: &'a dyn KeyedHasher,
}

/// A row that passed every check.
#[derive(Debug, Clone)]
pub struct ValidRow {
    pub record_id: Uuid,
    pub fields: RecordFields,
}

fn date(header: &str, raw: &str, problems: &mut Vec<RowIssue>) -> Option<CivilDate> {
    let parsed = CivilDate::parse(raw);
    if parsed.is_none() {
        problems.push(
            RowIssue::new("row.date")
                .with("column", header)
                .with("value", raw),
        );
    }
    parsed
}

/// Checks one row (values in `columns(layout.kind)` order) and turns it into record fields.
pub fn validate_row(
    layout: &Layout,
    row: &[String],
    school: &SchoolContext<'_>,
) -> Result<ValidRow, Vec<RowIssue>> {
    let columns = columns(layout.kind);
    let value = |key: &str| -> String {
        columns
            .iter()
            .zip(&layout.positions)
            .find(|(c, _)| c.key == key)
            .and_then(|(_, at)| at.and_then(|i| row.get(i)))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    let mut fields = RecordFields::new();
    for column in columns {
        if column.required && value(column.key).is_empty() {
            problems.push(RowIssue::new("row.required").with("column", column.header));
        }
    }

    let name = PersonName::parse(&value("name"));
    match &name {
        Ok(name) => {
            fields.insert("name".into(), name.as_str().to_string());
        }
        Err(_) if !value("name").is_empty() => problems.push(RowIssue::new("row.name")),
        Err(_) => {}
    }

    let gender = value("gender");
    if !gender.is_empty() && gender != "男" && gender != "女" {
        problems.push(
            RowIssue::new("row.gender")
                .with("value", gender.as_str())
                .with("allowed", "男、女"),
        );
    }
    fields.insert("gender".into(), gender);

    let birth = value("birth_date");
    let birth_date = (!birth.is_empty())
        .then(|| date("出生日期", &birth, &mut problems))
        .flatten();
    if let Some(d) = birth_date {
        fields.insert("birth_date".into(), d.iso());
    }

    let raw_id = value("id_number");
    if !raw_id.is_empty() {
        let number = normalize_document_number(&raw_id);
        let looks_resident = number.len() == 18 && number[..17].bytes().all(|b| b.is_ascii_digit());
        let checked = if looks_resident {
            Document::parse(DocumentType::ResidentIdCard, &number, school.today)
        } else {
            Document::parse(
                DocumentType::OverseasChineseIdOrPassport,
                &number,
                school.today,
            )
        };
        match checked {
            Ok(document) => {
                if let (Some(from_id), Some(given)) = (document.birth_date(), birth_date) {
                    if from_id != given {
                        problems.push(RowIssue::new("row.birth_date_mismatch"));
                    }
                }
                fields.insert(
                    "id_number_digest".into(),
                    crate::values::document_number_digest(school.hasher, document.expose_number()),
                );
                fields.insert("id_number_masked".into(), mask_document_number(&number));
            }
            Err(DocumentError::Checksum) => problems.push(RowIssue::new("row.id_checksum")),
            Err(DocumentError::BirthDate) => problems.push(RowIssue::new("row.id_birth_date")),
            Err(_) => problems.push(RowIssue::new("row.id_format")),
        }
    }

    let school_name = value("school_name");
    if !school_name.is_empty() && school_name != school.name {
        problems.push(
            RowIssue::new("row.school_name")
                .with("value", school_name.as_str())
                .with("code", school.code)
                .with("school", school.name),
        );
    }
    fields.insert("school_name".into(), school_name);

    let level = value("level");
    if !level.is_empty() && !LEVELS.contains(&level.as_str()) {
        problems.push(
            RowIssue::new("row.level")
                .with("value", level.as_str())
                .with("levels", LEVELS.join("、")),
        );
    }
    fields.insert("level".into(), level);

    let duration = value("duration");
    let duration_ok = duration
        .strip_suffix('年')
        .is_some_and(|n| !n.is_empty() && n.parse::<f32>().is_ok_and(|y| y > 0.0 && y <= 10.0));
    if !duration.is_empty() && !duration_ok {
        problems.push(
            RowIssue::new("row.duration")
                .with("value", duration.as_str())
                .with("example", "3年"),
        );
    }
    fields.insert("duration".into(), duration);

    for key in [
        "major",
        "category",
        "study_form",
        "ethnicity",
        "branch",
        "department",
        "class_name",
        "status",
    ] {
        let v = value(key);
        if v.chars().count() > 60 {
            problems.push(RowIssue::new("row.too_long").with("column", header_of(key)));
        }
        if columns.iter().any(|c| c.key == key) {
            fields.insert(key.into(), v);
        }
    }

    let enrolment = value("enrolment_date");
    let enrolment_date = (!enrolment.is_empty())
        .then(|| date("入学日期", &enrolment, &mut problems))
        .flatten();
    if let Some(d) = enrolment_date {
        fields.insert("enrolment_date".into(), d.iso());
    }

    let record_id = match layout.kind {
        RecordKind::Enrolment => {
            let expected = value("expected_graduation_date");
            if !expected.is_empty() {
                if let Some(end) = date("预计毕业日期", &expected, &mut problems) {
                    if enrolment_date.is_some_and(|start| end <= start) {
                        problems.push(RowIssue::new("row.expected_graduation_order"));
                    }
                    fields.insert("expected_graduation_date".into(), end.iso());
                }
            }
            let student_number = value("student_number");
            let plausible = student_number.len() <= 30
                && student_number.bytes().all(|b| b.is_ascii_alphanumeric());
            if !student_number.is_empty() && !plausible {
                problems.push(
                    RowIssue::new("row.student_number").with("value", student_number.as_str()),
                );
            }
            fields.insert("student_number".into(), student_number.clone());
            enrolment_record_id(school.code, &student_number)
        }
        RecordKind::Degree => {
            let graduation = value("graduation_date");
            let graduation_date = (!graduation.is_empty())
                .then(|| date("毕（结）业日期", &graduation, &mut problems))
                .flatten();
            if let Some(end) = graduation_date {
                if enrolment_date.is_some_and(|start| end <= start) {
                    problems.push(RowIssue::new("row.graduation_order"));
                }
                fields.insert("graduation_date".into(), end.iso());
            }
            let conclusion = value("graduation_conclusion");
            if !conclusion.is_empty() && !GRADUATION_CONCLUSIONS.contains(&conclusion.as_str()) {
                problems.push(
                    RowIssue::new("row.conclusion")
                        .with("value", conclusion.as_str())
                        .with("allowed", GRADUATION_CONCLUSIONS.join("、")),
                );
            }
            fields.insert("graduation_conclusion".into(), conclusion);
            // 证书编号: 18 digits: the school code, a level digit, the graduation year, a serial.
            let certificate = value("certificate_number");
            let year_ok = graduation_date
                .is_none_or(|d| certificate.get(6..10) == Some(d.year.to_string().as_str()));
            let valid = certificate.len() == 18
                && certificate.bytes().all(|b| b.is_ascii_digit())
                && certificate.starts_with(school.code)
                && year_ok;
            if !certificate.is_empty() && !valid {
                problems.push(
                    RowIssue::new("row.certificate")
                        .with("value", certificate.as_str())
                        .with("code", school.code),
                );
            }
            fields.insert("certificate_number".into(), certificate.clone());
            degree_record_id(&certificate)
        }
    };

    if problems.is_empty() {
        Ok(ValidRow { record_id, fields })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestKey;
    impl KeyedHasher for TestKey {
        fn keyed_digest(&self, purpose: &str, input: &[u8]) -> String {
            format!("{purpose}:{}", String::from_utf8_lossy(input))
        }
    }

    fn school() -> SchoolContext<'static> {
        SchoolContext {
            code: "99003",
            name: "西部师范大学",
            today: CivilDate::new(2026, 11, 22).unwrap(),
            hasher: &TestKey,
        }
    }

    fn headers(line: &str) -> Vec<String> {
        line.split(',').map(str::to_string).collect()
    }

    const ENROLMENT_HEADER: &str = "姓名,性别,出生日期,民族,证件号码,学校名称,层次,专业,学制,学历类别,学习形式,分院,系（所、函授站）,班级,学号,入学日期,预计毕业日期,学籍状态";
    const ENROLMENT_ROW: &str = "黄思,男,1998-07-21,汉族,51010419980721271X,西部师范大学,硕士研究生,教育学原理,3年,普通,普通全日制,教育学院,,教育213,2100300000,2021-09-01,2024-07-01,不在籍（毕业）";
    const DEGREE_HEADER: &str = "姓名,性别,出生日期,证件号码,学校名称,层次,专业,学制,学历类别,学习形式,入学日期,毕（结）业日期,毕（结）业,证书编号";
    const DEGREE_ROW: &str = "黄思,男,1998-07-21,51010419980721271X,西部师范大学,硕士研究生,教育学原理,3年,普通,普通全日制,2021-09-01,2024-06-30,毕业,990031202411535642";

    #[test]
    fn a_sample_enrolment_row_is_valid_and_keeps_no_raw_id_number() {
        let layout = layout(&headers(ENROLMENT_HEADER)).unwrap();
        assert_eq!(layout.kind, RecordKind::Enrolment);
        let row = validate_row(&layout, &headers(ENROLMENT_ROW), &school()).unwrap();
        assert_eq!(row.record_id, enrolment_record_id("99003", "2100300000"));
        assert_eq!(row.fields["id_number_masked"], "51**************1X");
        assert!(row.fields.values().all(|v| v != "51010419980721271X"));
        assert_eq!(row.fields["class_name"], "教育213");
    }

    #[test]
    fn a_sample_degree_row_is_valid() {
        let layout = layout(&headers(DEGREE_HEADER)).unwrap();
        assert_eq!(layout.kind, RecordKind::Degree);
        let row = validate_row(&layout, &headers(DEGREE_ROW), &school()).unwrap();
        assert_eq!(row.record_id, degree_record_id("990031202411535642"));
    }

    #[test]
    fn a_missing_column_is_named() {
        let without_id = ENROLMENT_HEADER.replace("证件号码,", "");
        let issue = layout(&headers(&without_id)).err().unwrap();
        assert_eq!(issue.code, "row.missing_columns");
        assert_eq!(issue.params, vec![("columns", "证件号码".to_string())]);
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let layout = layout(&headers(ENROLMENT_HEADER)).unwrap();
        let bad = ENROLMENT_ROW
            .replace("51010419980721271X", "510104199807212710")
            .replace("硕士研究生", "研究员")
            .replace("2021-09-01", "2021/13/01")
            .replace("西部师范大学", "东方理工大学");
        let problems = validate_row(&layout, &headers(&bad), &school()).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        let named = |code: &str, value: &str| {
            problems
                .iter()
                .any(|p| p.code == code && p.params.iter().any(|(_, v)| v == value))
        };
        assert!(problems.iter().any(|p| p.code == "row.id_checksum"));
        assert!(named("row.level", "研究员"));
        assert!(named("row.date", "入学日期"));
        assert!(named("row.school_name", "东方理工大学"));
    }

    #[test]
    fn a_certificate_number_must_carry_the_school_code_and_year() {
        let layout = layout(&headers(DEGREE_HEADER)).unwrap();
        let other_school = DEGREE_ROW.replace("990031202411535642", "990011202411535642");
        assert!(validate_row(&layout, &headers(&other_school), &school()).is_err());
        let other_year = DEGREE_ROW.replace("990031202411535642", "990031202311535642");
        assert!(validate_row(&layout, &headers(&other_year), &school()).is_err());
    }

    #[test]
    fn the_birth_date_must_match_the_id_number() {
        let layout = layout(&headers(ENROLMENT_HEADER)).unwrap();
        let row = ENROLMENT_ROW.replace("1998-07-21", "1998-07-22");
        let problems = validate_row(&layout, &headers(&row), &school()).unwrap_err();
        assert_eq!(problems, vec![RowIssue::new("row.birth_date_mismatch")]);
    }
}
