//! The `xuexin` command line, as an operator uses it: schools, staff, record imports.

use crate::helpers::{csv, enrolment_row, Backend, Person, ENROLMENT_HEADER};
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
    let database = crate::helpers::TestDatabase::new(backend).await;
    let url = database.url.clone();
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
        // The file's own line (its lines end in CRLF; the CSV reader alone said 5: issue 13).
        out.contains("第 6 行: 学校名称“示范职业技术学院”与学校代码 99003（西部师范大学）不符"),
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

/// Issue 13, item 10: logs go to stderr, uncoloured when not a terminal, so command output
/// stays parseable even with `RUST_LOG=info`; and a command names the database it opened and
/// warns when it had to create it (run in the wrong folder).
#[test]
fn logs_go_to_stderr_and_a_new_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", file.display());
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_xuexin"))
            .args(["audit", "verify", "--json"])
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "info")
            .output()
            .expect("the xuexin binary runs")
    };
    let first = run();
    let stdout = String::from_utf8(first.stdout).unwrap();
    let stderr = String::from_utf8(first.stderr).unwrap();
    assert!(first.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    assert!(report.is_object(), "{stdout}");
    assert!(!stderr.contains('\u{1b}'), "colours in a pipe: {stderr:?}");
    assert!(
        stderr.contains("created a new, empty SQLite database"),
        "{stderr}"
    );
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");

    let second = run();
    let stderr = String::from_utf8(second.stderr).unwrap();
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("opened the SQLite database"), "{stderr}");
    assert!(!stderr.contains("created a new"), "{stderr}");
    // Without RUST_LOG a command still names its database, and says nothing else.
    let quiet = Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args(["audit", "verify", "--json"])
        .env("DATABASE_URL", &url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8(quiet.stderr).unwrap();
    assert!(stderr.contains("opened the SQLite database"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Issue 13, item 10: the test helper drops the databases it created, and no others (not even
/// old ones that look like its own).
#[tokio::test]
async fn the_test_helper_drops_only_its_own_databases() {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_admin_url())
        .await
        .unwrap();
    let other = format!(
        "xuexin_test_1000000000_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    sqlx::query(&format!("CREATE DATABASE \"{other}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let exists = |name: String| {
        let url = crate::helpers::postgres_admin_url();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            n == 1
        }
    };
    let mine = crate::helpers::fresh_postgres_database().await;
    let my_name = mine.url.rsplit('/').next().unwrap().to_string();
    assert!(exists(my_name.clone()).await);
    drop(mine);
    assert!(!exists(my_name).await, "the helper's own database is left");
    assert!(
        exists(other.clone()).await,
        "another run's database was dropped"
    );
    sqlx::query(&format!("DROP DATABASE \"{other}\""))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// `xuexin config show` (issue 19): every setting's value and where it came from — flag,
/// environment, the `--config` file or the default — with secrets masked, and the checks
/// `serve` makes at start.
#[test]
fn config_show_names_each_source_and_never_prints_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xuexin.toml");
    std::fs::write(
        &file,
        "hash_queue = 7\nsession_ttl_seconds = 600\nsmtp_url = \"smtp://mailer:hunter2@mail.example:587\"\n",
    )
    .unwrap();
    let key = "ab".repeat(32);
    let run = |extra_env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xuexin"));
        command
            .arg("--config")
            .arg(&file)
            .args(args)
            .env("XUEXIN_DIGEST_KEY", &key)
            .env("XUEXIN_SESSION_TTL_SECONDS", "900")
            .env("XUEXIN_HASH_WORKERS", "")
            .env("XUEXIN_MAIL_FROM", "  ")
            .env("DATABASE_URL", "postgres://app:s3cret-pw@db.example/xuexin");
        for (name, value) in extra_env {
            command.env(name, value);
        }
        command.output().expect("the xuexin binary runs")
    };
    let shown = run(&[], &["config", "show", "--json"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["setting"] == id)
            .unwrap_or_else(|| panic!("{id} not shown"))
            .clone()
    };
    assert_eq!(row("hash_queue")["value"], "7");
    assert_eq!(row("hash_queue")["source"], "file");
    assert_eq!(
        row("session_ttl_seconds")["value"],
        "900",
        "the environment beats the file"
    );
    assert_eq!(row("session_ttl_seconds")["source"], "environment");
    assert_eq!(row("listen")["source"], "default");
    assert_eq!(
        row("hash_workers")["source"],
        "default",
        "a blank variable counts as unset"
    );
    assert_eq!(row("mail_from")["value"], "学信网 <no-reply@xuexin.local>");
    assert_eq!(row("digest_key")["value"], "***");
    for secret in [key.as_str(), "s3cret-pw", "hunter2"] {
        assert!(!text.contains(secret), "{secret} printed");
    }
    assert_eq!(
        row("database_url")["value"],
        "postgres://app:***@db.example/xuexin"
    );

    // A setting that cannot work stops `config show` (and `serve`) naming it.
    let pair = run(&[("XUEXIN_WECHAT_APPID", "wx1")], &["config", "show"]);
    assert!(!pair.status.success());
    assert!(String::from_utf8_lossy(&pair.stderr).contains("XUEXIN_WECHAT_SECRET"));
    let serve = run(
        &[("XUEXIN_WECHAT_APPID", "wx1")],
        &["serve", "--listen", "127.0.0.1:0"],
    );
    assert!(!serve.status.success());
    assert!(String::from_utf8_lossy(&serve.stderr).contains("go together"));
}

/// `xuexin serve --help` lists every setting with its environment variable (issue 19): the same
/// list as the settings table of docs/operations.md.
#[test]
fn serve_help_lists_every_setting_with_its_variable() {
    let help = Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args(["serve", "--help"])
        .env("XUEXIN_DIGEST_KEY", "cd".repeat(32))
        .env("DATABASE_URL", "postgres://app:s3cret-pw@db.example/xuexin")
        .output()
        .expect("the xuexin binary runs");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    let doc = std::fs::read_to_string("docs/operations.md").unwrap();
    let table = xuexin::config::table_in(&doc).expect("the settings table");
    let variables: Vec<&str> = table
        .lines()
        .skip(2)
        .filter_map(|row| row.split('`').nth(1))
        .collect();
    assert!(variables.len() >= 55, "{} settings", variables.len());
    for variable in variables {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} is not in serve --help"
        );
    }
    assert!(help.contains("--config <FILE>"));
    // Help never shows a variable's value: no secret on a terminal or in a CI log.
    assert!(
        !help.contains(&"cd".repeat(32)),
        "the digest key is in --help"
    );
    assert!(
        !help.contains("s3cret-pw"),
        "a database password is in --help"
    );
}
