//! Importing a school's CSV (UTF-8 or GB18030, Chinese headers). The file is streamed three
//! times, so memory does not grow with its size: once to tell the encoding, once to validate
//! every row (nothing is written while any row is bad, unless bad rows are to be skipped),
//! once to write valid rows in batches, each batch one transaction.

use crate::app::AppState;
use crate::store::{CommandMetadata, ExecuteError};
use encoding_rs::{Encoding, GB18030, UTF_8};
use serde::Serialize;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use xuexin_domain::record::fields::{layout, validate_row, Layout, SchoolContext};
use xuexin_domain::record::{RecordCommand, RecordEvent, StudentRecord};
use xuexin_domain::school::School;

pub const BATCH_ROWS: usize = 500;
/// The report lists this many bad rows at most (the counts are always complete).
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong, in Chinese.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
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

/// UTF-8 if every byte sequence of the file is valid UTF-8 (a BOM is fine), else GB18030.
pub fn detect_encoding(path: &Path) -> std::io::Result<&'static Encoding> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(if carry.is_empty() { UTF_8 } else { GB18030 });
        }
        carry.extend_from_slice(&chunk[..n]);
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            Err(error) if error.error_len().is_some() => return Ok(GB18030),
            // A character cut by the chunk boundary: keep its bytes for the next round.
            Err(error) => carry = carry[error.valid_up_to()..].to_vec(),
        }
    }
}

fn open_csv(path: &Path, encoding: &'static Encoding) -> std::io::Result<csv::Reader<impl Read>> {
    let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .build(BufReader::new(File::open(path)?));
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(decoder))
}

struct Rows<R: Read> {
    reader: csv::Reader<R>,
    layout: Layout,
}

fn rows(path: &Path, encoding: &'static Encoding) -> Result<Rows<impl Read>, ImportError> {
    let mut reader =
        open_csv(path, encoding).map_err(|e| ImportError::File(format!("无法读取文件：{e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::File(format!("无法读取表头：{e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let layout = layout(&headers).map_err(ImportError::File)?;
    Ok(Rows { reader, layout })
}

/// No cell may hold a control character (NUL, C0, DEL, C1; no column is free text), as no
/// string in a request may: such a row is bad, with one reason per cell.
fn cells_ok(values: &[String]) -> Result<(), Vec<String>> {
    let reasons: Vec<String> = values
        .iter()
        .enumerate()
        .filter(|(_, cell)| cell.chars().any(char::is_control))
        .map(|(i, _)| format!("第 {} 列含有不允许的控制字符", i + 1))
        .collect();
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

/// Imports a file for a school. `progress` is told how many rows each phase has done.
#[tracing::instrument(skip_all, fields(school = school_code))]
pub async fn import_file(
    state: &AppState,
    path: &Path,
    school_code: &str,
    skip_invalid: bool,
    metadata: &CommandMetadata,
    progress: &(dyn Fn(Phase, u64) + Send + Sync),
) -> Result<ImportReport, ImportError> {
    let school = state.store.load::<School>(school_code).await?.aggregate;
    if !school.exists() {
        return Err(ImportError::File(format!(
            "学校代码 {school_code} 未登记（xuexin admin add-school）"
        )));
    }
    let encoding = tokio::task::block_in_place(|| detect_encoding(path))
        .map_err(|e| ImportError::File(format!("无法读取文件：{e}")))?;
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
        for record in pass.reader.records() {
            let record = record.map_err(|e| ImportError::File(format!("文件格式有误：{e}")))?;
            let line = record.position().map_or(0, |p| p.line());
            let values: Vec<String> = record.iter().map(str::to_string).collect();
            report.rows += 1;
            match cells_ok(&values).and_then(|()| validate_row(&pass.layout, &values, &context)) {
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
    for record in pass.reader.records() {
        let record = record.map_err(|e| ImportError::File(format!("文件格式有误：{e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        let values: Vec<String> = record.iter().map(str::to_string).collect();
        if let Ok(row) =
            cells_ok(&values).and_then(|()| validate_row(&pass.layout, &values, &context))
        {
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
    state: &AppState,
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
                        "该学号或证书编号已属于其他学校或其他类型的记录".to_string()
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
}
