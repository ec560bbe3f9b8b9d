//! Importing a school's CSV (UTF-8 or GB18030, Chinese headers). The file is streamed three
//! times, so memory does not grow with its size: once to tell the encoding, once to validate
//! every row (nothing is written while any row is bad, unless bad rows are to be skipped),
//! once to write valid rows in batches, each batch one transaction.

use super::records::Records;
use crate::messages;
use crate::store::{CommandMetadata, ExecuteError};
use anyhow::Context;
use encoding_rs::{Encoding, GB18030, UTF_8};
use serde::Serialize;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};
use xuexin_domain::record::fields::{
    layout, validate_row, Layout, RowIssue, SchoolContext, ValidRow,
};
use xuexin_domain::record::{RecordCommand, RecordEvent, StudentRecord};
use xuexin_domain::school::School;

pub const BATCH_ROWS: usize = 500;
/// The report lists this many bad rows at most (the counts are always complete).
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong, in the language the request asked for (Chinese by default).
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// `enrolment` (学籍) or `degree` (学历), told from the headers.
    pub kind: String,
    /// `UTF-8` or `gb18030`.
    pub encoding: String,
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    /// Bad rows with their reasons (the first 1000).
    pub problems: Vec<RowProblem>,
    /// Whether anything was written (false when bad rows stopped the import).
    pub written: bool,
    pub registered: u64,
    pub corrected: u64,
    /// Degree rows that differ from the registered record: a correction request for the
    /// provincial authority (a school cannot change a registered degree).
    pub correction_requested: u64,
    pub unchanged: u64,
    /// Valid rows the records refused (another school's record with the same key).
    pub refused: Vec<RowProblem>,
    pub position: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Validating,
    Writing,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole cannot be imported (unknown school, missing columns, unreadable).
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The file's encoding: UTF-8 if every byte sequence is valid UTF-8 (a BOM is fine); GB18030
/// if the header line is not UTF-8. A file whose header is UTF-8 but which has a bad byte further
/// on is neither, and is refused naming the line: read as GB18030 its headers would be
/// garbage, and the answer would say every column is missing.
pub fn detect_encoding(path: &Path) -> Result<&'static Encoding, ImportError> {
    let unreadable = |e: std::io::Error| {
        ImportError::File(messages::format(
            "import.unreadable",
            &[("error", &e.to_string())],
        ))
    };
    let mut header = Vec::new();
    BufReader::new(File::open(path).map_err(unreadable)?)
        .take(64 * 1024)
        .read_until(b'\n', &mut header)
        .map_err(unreadable)?;
    let header_is_utf8 = std::str::from_utf8(&header).is_ok()
        || matches!(std::str::from_utf8(&header), Err(e) if e.error_len().is_none());
    let mut reader = BufReader::new(File::open(path).map_err(unreadable)?);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    // Lines before the carried bytes.
    let mut lines_before = 0u64;
    loop {
        let n = reader.read(&mut chunk).map_err(unreadable)?;
        if n == 0 {
            return Ok(if carry.is_empty() { UTF_8 } else { GB18030 });
        }
        carry.extend_from_slice(&chunk[..n]);
        match std::str::from_utf8(&carry) {
            Ok(_) => {
                lines_before += newlines(&carry);
                carry.clear();
            }
            Err(error) if error.error_len().is_some() => {
                if !header_is_utf8 {
                    return Ok(GB18030);
                }
                let line = lines_before + newlines(&carry[..error.valid_up_to()]) + 1;
                return Err(ImportError::File(messages::format(
                    "import.encoding",
                    &[("line", &line.to_string())],
                )));
            }
            // A character cut by the chunk boundary: keep its bytes for the next round.
            Err(error) => {
                lines_before += newlines(&carry[..error.valid_up_to()]);
                carry = carry[error.valid_up_to()..].to_vec();
            }
        }
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Where each line of the decoded text starts, for the lines the CSV reader may still report
/// on: the reader's own line numbers are one too low after CRLF line ends (rust-csv#395), and
/// every Excel export ends its lines so. Kept small: offsets are dropped once passed.
#[derive(Default)]
struct LineIndex {
    /// Offsets of the `\n`s not yet passed.
    pending: VecDeque<u64>,
    /// How many `\n`s were passed.
    passed: u64,
}

impl LineIndex {
    /// The 1-based line of a record the reader says starts at `offset` (asked in increasing
    /// order). After a CRLF the reader's offset is that of the `\n` (it ended the record at
    /// the `\r`), so a `\n` at the offset itself is behind the record too.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|nl| *nl <= offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

/// Passes the decoded text through, noting where its lines end.
struct CountLines<R> {
    inner: R,
    offset: u64,
    index: Arc<Mutex<LineIndex>>,
}

impl<R: Read> Read for CountLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut index) = self.index.lock() {
            for (i, byte) in buf[..n].iter().enumerate() {
                if *byte == b'\n' {
                    index.pending.push_back(self.offset + i as u64);
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn open_csv(
    path: &Path,
    encoding: &'static Encoding,
) -> std::io::Result<(csv::Reader<impl Read>, Arc<Mutex<LineIndex>>)> {
    let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .build(BufReader::new(File::open(path)?));
    let index = Arc::new(Mutex::new(LineIndex::default()));
    let counted = CountLines {
        inner: decoder,
        offset: 0,
        index: index.clone(),
    };
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(counted);
    Ok((reader, index))
}

struct Rows<R: Read> {
    reader: csv::Reader<R>,
    layout: Layout,
    columns: usize,
    lines: Arc<Mutex<LineIndex>>,
}

/// A row's cells as checked: the valid row, or every reason it is not.
type Checked = Result<ValidRow, Vec<String>>;

impl<R: Read> Rows<R> {
    /// The next row: the line of the file it starts on, and its cells checked by `cells_ok`
    /// and `validate_row`. `None` at the end of the file.
    fn next_row(
        &mut self,
        record: &mut csv::StringRecord,
        context: &SchoolContext<'_>,
    ) -> Result<Option<(u64, Checked)>, ImportError> {
        let more = self.reader.read_record(record).map_err(|e| {
            ImportError::File(messages::format(
                "import.format",
                &[("error", &e.to_string())],
            ))
        })?;
        if !more {
            return Ok(None);
        }
        let offset = record.position().map_or(0, |p| p.byte());
        let line = self
            .lines
            .lock()
            .map_or(0, |mut index| index.line_at(offset));
        let values: Vec<String> = record.iter().map(str::to_string).collect();
        let checked = cells_ok(&values, self.columns).and_then(|()| {
            validate_row(&self.layout, &values, context)
                .map_err(|issues| issues.iter().map(describe).collect())
        });
        Ok(Some((line, checked)))
    }
}

/// A row issue in the current language, from the catalogue.
fn describe(issue: &RowIssue) -> String {
    let params: Vec<(&str, &str)> = issue
        .params
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    messages::format(issue.code, &params)
}

fn rows(path: &Path, encoding: &'static Encoding) -> Result<Rows<impl Read>, ImportError> {
    let (mut reader, lines) = open_csv(path, encoding).map_err(|e| {
        ImportError::File(messages::format(
            "import.unreadable",
            &[("error", &e.to_string())],
        ))
    })?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            ImportError::File(messages::format(
                "import.header",
                &[("error", &e.to_string())],
            ))
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let layout = layout(&headers).map_err(|issue| ImportError::File(describe(&issue)))?;
    Ok(Rows {
        reader,
        layout,
        columns: headers.len(),
        lines,
    })
}

/// A row has as many cells as the header has columns. No cell may hold a control character
/// (NUL, C0, DEL, C1; no column is free text), as no string in a request may, nor a byte that
/// decoded to nothing (U+FFFD: `\\xff\\x30` in a GB18030 file). Such a row is bad, with one
/// reason per cell.
fn cells_ok(values: &[String], columns: usize) -> Result<(), Vec<String>> {
    let mut reasons = Vec::new();
    if values.len() != columns {
        reasons.push(messages::format(
            "import.cell_count",
            &[
                ("cells", &values.len().to_string()),
                ("columns", &columns.to_string()),
            ],
        ));
    }
    for (i, cell) in values.iter().enumerate() {
        if cell.chars().any(char::is_control) {
            reasons.push(messages::format(
                "import.control_character",
                &[("column", &(i + 1).to_string())],
            ));
        }
        if cell.contains('\u{FFFD}') {
            reasons.push(messages::format(
                "import.bad_bytes",
                &[("column", &(i + 1).to_string())],
            ));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

/// Imports a file for a school. `progress` is told how many rows each phase has done.
#[tracing::instrument(skip_all, fields(school = school_code))]
pub async fn import_file(
    state: &Records,
    path: &Path,
    school_code: &str,
    skip_invalid: bool,
    metadata: &CommandMetadata,
    progress: &(dyn Fn(Phase, u64) + Send + Sync),
) -> Result<ImportReport, ImportError> {
    let school = state.store.load::<School>(school_code).await?.aggregate;
    if !school.exists() {
        return Err(ImportError::File(messages::format(
            "import.school_unknown",
            &[("school", school_code)],
        )));
    }
    let encoding = tokio::task::block_in_place(|| detect_encoding(path))?;
    let context = SchoolContext {
        code: school_code,
        name: school.name(),
        today: state.clock.now().date(),
        hasher: &state.digest,
    };

    // Pass 1: validate everything.
    let mut report = ImportReport {
        encoding: encoding.name().to_string(),
        ..ImportReport::default()
    };
    // Reading and checking is blocking work: let the runtime move other tasks away meanwhile.
    let kind = tokio::task::block_in_place(|| -> Result<_, ImportError> {
        let mut pass = rows(path, encoding)?;
        report.kind = pass.layout.kind.as_str().to_string();
        let mut record = csv::StringRecord::new();
        while let Some((line, checked)) = pass.next_row(&mut record, &context)? {
            report.rows += 1;
            match checked {
                Ok(_) => report.valid += 1,
                Err(reasons) => {
                    report.invalid += 1;
                    if report.problems.len() < MAX_REPORTED_PROBLEMS {
                        report.problems.push(RowProblem { line, reasons });
                    }
                }
            }
            if report.rows % 1000 == 0 {
                progress(Phase::Validating, report.rows);
            }
        }
        Ok(pass.layout.kind)
    })?;
    progress(Phase::Validating, report.rows);
    if report.invalid > 0 && !skip_invalid {
        return Ok(report);
    }

    // Pass 2: write the valid rows in batches.
    let mut pass = rows(path, encoding)?;
    let mut batch: Vec<(u64, String, RecordCommand)> = Vec::with_capacity(BATCH_ROWS);
    let mut done = 0u64;
    let mut record = csv::StringRecord::new();
    while let Some((line, checked)) = pass.next_row(&mut record, &context)? {
        if let Ok(row) = checked {
            batch.push((
                line,
                row.record_id.to_string(),
                RecordCommand::Report {
                    kind,
                    school_code: school_code.to_string(),
                    fields: row.fields,
                },
            ));
        }
        done += 1;
        if batch.len() == BATCH_ROWS {
            write_batch(state, &mut batch, metadata, &mut report).await?;
            progress(Phase::Writing, done);
        }
    }
    write_batch(state, &mut batch, metadata, &mut report).await?;
    progress(Phase::Writing, done);
    report.written = true;
    Ok(report)
}

async fn write_batch(
    state: &Records,
    batch: &mut Vec<(u64, String, RecordCommand)>,
    metadata: &CommandMetadata,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let commands: Vec<(String, RecordCommand)> = batch
        .iter()
        .map(|(_, id, command)| (id.clone(), command.clone()))
        .collect();
    let outcome = state
        .store
        .execute_batch::<StudentRecord>(&commands, &(), metadata)
        .await
        .map_err(|e| match e {
            ExecuteError::Store(e) => ImportError::Internal(e),
            other => ImportError::Internal(anyhow::anyhow!("{other}")),
        })?;
    for ((line, _, _), result) in batch.iter().zip(outcome.results) {
        match result {
            Ok(events) => match events.first() {
                None => report.unchanged += 1,
                Some(RecordEvent::RecordRegistered { .. }) => report.registered += 1,
                Some(RecordEvent::RecordCorrected { .. }) => report.corrected += 1,
                Some(RecordEvent::DegreeCorrectionRequested { .. }) => {
                    report.correction_requested += 1
                }
                Some(_) => report.unchanged += 1,
            },
            Err(error) => report.refused.push(RowProblem {
                line: *line,
                reasons: vec![match error {
                    xuexin_domain::record::RecordError::Mismatch => {
                        messages::text("import.number_taken").to_string()
                    }
                    other => other.to_string(),
                }],
            }),
        }
    }
    if outcome.position.is_some() {
        report.position = outcome.position;
    }
    batch.clear();
    Ok(())
}

/// An import's report as the console keeps it: whose school, who uploaded it and when.
pub struct KeptReport {
    pub school_code: String,
    pub created_at: xuexin_domain::Timestamp,
    pub actor: String,
    pub report: ImportReport,
}

/// Keeps an import's report for its school's registrars (the console shows it after the
/// upload and offers its bad rows as CSV); returns its id.
#[tracing::instrument(skip_all)]
pub async fn keep_report(
    state: &Records,
    school_code: &str,
    actor: &str,
    report: &ImportReport,
) -> anyhow::Result<String> {
    let report_id = crate::security::new_token()[..22].to_string();
    xuexin_projections::db_execute!(
        &state.db,
        "INSERT INTO import_reports (report_id, school_code, created_at, actor, report)
         VALUES ($1, $2, $3, $4, $5)",
        &report_id,
        school_code,
        state.clock.now().millis(),
        actor,
        serde_json::to_string(report)?,
    )
    .context("failed to keep an import report")?;
    Ok(report_id)
}

/// A kept report, if `school_code` is its school (another school's is not found).
#[tracing::instrument(skip_all)]
pub async fn kept_report(
    state: &Records,
    school_code: &str,
    report_id: &str,
) -> anyhow::Result<Option<KeptReport>> {
    let row: Option<(String, i64, String, String)> = xuexin_projections::on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT school_code, created_at, actor, report FROM import_reports WHERE report_id = $1",
        )
        .bind(report_id)
        .fetch_optional(pool)
        .await
        .context("failed to read an import report")?
    });
    Ok(match row {
        Some((school, created_at, actor, report)) if school == school_code => Some(KeptReport {
            school_code: school,
            created_at: xuexin_domain::Timestamp::from_millis(created_at),
            actor,
            report: serde_json::from_str(&report).context("an unreadable import report")?,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn encodings_are_told_apart_even_across_chunk_boundaries() {
        let text = "姓名,性别\n".to_string() + &"黄思,男\n".repeat(20_000);
        let mut utf8 = tempfile::NamedTempFile::new().unwrap();
        utf8.write_all(text.as_bytes()).unwrap();
        assert_eq!(detect_encoding(utf8.path()).unwrap(), UTF_8);
        let (bytes, _, _) = GB18030.encode(&text);
        let mut gb = tempfile::NamedTempFile::new().unwrap();
        gb.write_all(&bytes).unwrap();
        assert_eq!(detect_encoding(gb.path()).unwrap(), GB18030);
    }

    #[test]
    fn a_bad_byte_in_a_utf8_file_is_named_by_its_line() {
        let mut text = "姓名,性别\r\n".to_string().into_bytes();
        for _ in 0..30_000 {
            text.extend_from_slice("黄思,男\r\n".as_bytes());
        }
        // Line 20,002: one byte that is no UTF-8.
        text.extend_from_slice(b"\xff\xfe,x\r\n");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&text).unwrap();
        let Err(ImportError::File(message)) = detect_encoding(file.path()) else {
            panic!("a broken UTF-8 file was taken for GB18030");
        };
        assert!(message.contains("既不是有效的 UTF-8"), "{message}");
        assert!(message.contains("第 30002 行"), "{message}");
    }

    #[test]
    fn lines_are_counted_from_the_text_itself() {
        let index = Arc::new(Mutex::new(LineIndex::default()));
        let text = "a,b\r\n1,2\r\n\"x\ny\",3\r\n4,5\r\n";
        let mut reader = csv::ReaderBuilder::new().from_reader(CountLines {
            inner: text.as_bytes(),
            offset: 0,
            index: index.clone(),
        });
        let mut lines = Vec::new();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).unwrap() {
            let offset = record.position().unwrap().byte();
            lines.push(index.lock().unwrap().line_at(offset));
        }
        // The header is line 1; a quoted field spans lines 3 and 4.
        assert_eq!(lines, [2, 3, 5]);
    }
}
