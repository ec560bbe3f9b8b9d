//! The `xuexin` command line, as an operator uses it: schools, staff, record imports.

use crate::helpers::{
    csv, enrolment_row, fresh_postgres_database, fresh_sqlite_url, Backend, Person,
    ENROLMENT_HEADER,
};
use crate::on_both_backends;
use std::process::Command;

on_both_backends!(import_records_refuses_bad_files_and_imports_good_ones);

fn xuexin(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("the xuexin binary runs")
}

async fn import_records_refuses_bad_files_and_imports_good_ones(backend: Backend) {
    let (url, _dir) = match backend {
        Backend::Postgres => (fresh_postgres_database().await, None),
        Backend::Sqlite => {
            let (url, dir) = fresh_sqlite_url();
            (url, Some(dir))
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let unknown = xuexin(
        &url,
        &[
            "import-records",
            "samples/records-sample-enrolment.csv",
            "--school",
            "99003",
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("学校代码 99003 未登记"));

    let added = xuexin(
        &url,
        &[
            "admin",
            "add-school",
            "--code",
            "99003",
            "--name",
            "西部师范大学",
            "--province",
            "四川",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // The sample holds three schools: without --skip-invalid nothing is written.
    let strict = xuexin(
        &url,
        &[
            "import-records",
            "samples/records-sample-enrolment.gb18030.csv",
            "--school",
            "99003",
        ],
    );
    assert!(!strict.status.success());
    let out = String::from_utf8_lossy(&strict.stdout);
    assert!(out.contains("40 rows, 14 valid, 26 invalid"), "{out}");
    assert!(
        out.contains("第 5 行: 学校名称“示范职业技术学院”与学校代码 99003（西部师范大学）不符"),
        "{out}"
    );

    let lenient = xuexin(
        &url,
        &[
            "import-records",
            "samples/records-sample-enrolment.gb18030.csv",
            "--school",
            "99003",
            "--skip-invalid",
            "--json",
        ],
    );
    assert!(
        lenient.status.success(),
        "{}",
        String::from_utf8_lossy(&lenient.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&lenient.stdout).unwrap();
    assert_eq!(report["registered"], 14);
    assert_eq!(report["encoding"], "gb18030");

    // A file of our own with one bad row among good ones.
    let file = dir.path().join("mixed.csv");
    let bad = enrolment_row(&Person::random(), "2300300002", "软件231").replace("本科", "大专班");
    std::fs::write(
        &file,
        csv(
            ENROLMENT_HEADER,
            &[
                enrolment_row(&Person::random(), "2300300001", "软件231"),
                bad,
            ],
        ),
    )
    .unwrap();
    let mixed = xuexin(
        &url,
        &[
            "import-records",
            file.to_str().unwrap(),
            "--school",
            "99003",
        ],
    );
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stdout).contains("第 3 行: 层次“大专班”"));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("nothing was written"));

    let staff = Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args([
            "admin",
            "create-staff",
            "--role",
            "registrar",
            "--username",
            "reg-x",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!staff.status.success(), "a registrar needs a school");
    assert!(String::from_utf8_lossy(&staff.stderr).contains("--scope"));
}
