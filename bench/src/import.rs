//! Record import: a generated enrolment file (valid resident IDs, unique student numbers) is
//! imported with `xuexin import-records` into a fresh database; rows/s and the importer's peak
//! memory. Two sizes show that memory does not grow with the file.

use crate::support::{fresh_postgres, machine, run_measured, xuexin_binary};
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;
use xuexin_domain::values::document::resident_id_check_char;

const HEADER: &str = "姓名,性别,出生日期,民族,证件号码,学校名称,层次,专业,学制,学历类别,学习形式,分院,系（所、函授站）,班级,学号,入学日期,预计毕业日期,学籍状态";
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明",
];

/// Writes `rows` enrolment rows for school 99003 (西部师范大学).
pub fn generate(path: &std::path::Path, rows: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{HEADER}")?;
    for i in 0..rows {
        let year = 1995 + (i % 10);
        let month = 1 + (i / 10) % 12;
        let day = 1 + (i / 120) % 28;
        let first17 = format!("110105{year:04}{month:02}{day:02}{:03}", (i / 3360) % 1000);
        let id = format!(
            "{first17}{}",
            resident_id_check_char(&first17).unwrap_or('0')
        );
        let name = format!(
            "{}{}{}",
            SURNAMES[i % 10],
            GIVEN[(i / 10) % 12],
            GIVEN[(i / 120) % 12]
        );
        let grade = 2020 + (i % 4);
        writeln!(
            out,
            "{name},男,{year:04}-{month:02}-{day:02},汉族,{id},西部师范大学,本科,软件工程,4年,普通,普通全日制,计算机学院,,软件{}{},{:010},{grade}-09-01,{}-07-01,在籍（注册学籍）",
            grade % 100,
            1 + i % 9,
            3_000_000_000u64 + i as u64,
            grade + 4
        )?;
    }
    out.flush()?;
    Ok(())
}

async fn one(
    backend: &str,
    database_url: &str,
    file: &std::path::Path,
    rows: usize,
) -> anyhow::Result<Value> {
    let xuexin = xuexin_binary()?;
    let add = Command::new(&xuexin)
        .args([
            "admin",
            "add-school",
            "--code",
            "99003",
            "--name",
            "西部师范大学",
            "--province",
            "四川",
        ])
        .env("DATABASE_URL", database_url)
        .output()?;
    anyhow::ensure!(
        add.status.success(),
        "add-school failed: {}",
        String::from_utf8_lossy(&add.stderr)
    );
    let mut import = Command::new(&xuexin);
    import
        .args([
            "import-records",
            file.to_str().unwrap_or_default(),
            "--school",
            "99003",
        ])
        .env("DATABASE_URL", database_url);
    let measured = run_measured(import)?;
    let rows_per_second = rows as f64 / measured.elapsed.as_secs_f64();
    println!(
        "import  {backend:<8} {rows:>8} rows  {:>8.1} s  {:>8.0} rows/s  peak RSS {:>6.1} MiB",
        measured.elapsed.as_secs_f64(),
        rows_per_second,
        measured.peak_rss_kib as f64 / 1024.0
    );
    anyhow::ensure!(
        measured.stdout.contains(&format!("{rows} registered")),
        "unexpected import output: {}",
        measured.stdout
    );
    Ok(json!({
        "backend": backend,
        "rows": rows,
        "seconds": measured.elapsed.as_secs_f64(),
        "rows_per_second": rows_per_second,
        "peak_rss_mib": measured.peak_rss_kib as f64 / 1024.0,
    }))
}

pub async fn run(rows: usize) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("xuexin-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut results = Vec::new();
    for size in [rows / 10, rows] {
        let file = dir.join(format!("enrolment-{size}.csv"));
        generate(&file, size)?;
        let sqlite = format!(
            "sqlite://{}",
            dir.join(format!("import-{size}.db")).display()
        );
        results.push(one("sqlite", &sqlite, &file, size).await?);
        let postgres = fresh_postgres(&format!("import_{size}")).await?;
        results.push(one("postgres", &postgres, &file, size).await?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({ "machine": machine(), "runs": results }))
}
