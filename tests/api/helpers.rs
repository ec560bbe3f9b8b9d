//! The test harness: the real application on a random port, against a fresh PostgreSQL
//! database or a fresh SQLite file, with typed helpers for what a person does.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;
use xuexin::config::Config;
use xuexin::startup::Application;
use xuexin::state::SharedState;
use xuexin::store::Db;
use xuexin_domain::values::document::resident_id_check_char;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs each named test body once against PostgreSQL and once against SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            }
        )*
    };
}

/// Everything the service logs, at debug level, for the tests that read logs.
pub fn captured_logs() -> String {
    let buffer = log_buffer().lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&buffer).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufferWriter;

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var("TEST_LOG").is_ok() {
            std::io::stdout().write_all(buf)?;
        }
        if let Ok(mut buffer) = log_buffer().lock() {
            buffer.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,reqwest=info,h2=info")
            .with_ansi(false)
            .with_writer(|| BufferWriter)
            .try_init();
    });
}

/// PostgreSQL to create test databases on (`XUEXIN_TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("XUEXIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(url: &str, database: &str) -> String {
    match url.rfind('/') {
        Some(slash) if url[..slash].contains("://") && url[slash..].len() > 1 => {
            format!("{}/{database}", &url[..slash])
        }
        _ => format!("{}/{database}", url.trim_end_matches('/')),
    }
}

/// A scratch database for one test, dropped (PostgreSQL) or deleted (SQLite) with this value:
/// the helper drops only what it created, never another run's databases.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => fresh_postgres_database().await,
            Backend::Sqlite => {
                let (url, dir) = fresh_sqlite_url();
                Self {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: the DROP runs on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: a test database could not be dropped");
        }
    }
}

/// A fresh, empty PostgreSQL database for one test, dropped when the value is.
pub async fn fresh_postgres_database() -> TestDatabase {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin} is unreachable ({e}); start it (see README) or set XUEXIN_TEST_DATABASE_URL")
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let name = format!(
        "xuexin_test_{now}_{}",
        uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
    );
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut connection)
        .await
        .unwrap();
    TestDatabase {
        url: with_database(&admin, &name),
        postgres_name: Some(name),
        _dir: None,
    }
}

pub fn fresh_sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("xuexin.db").display());
    (url, dir)
}

pub fn test_config(database_url: String) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url,
        database_connections: 10,
        dev_mode: true,
        projector_poll: Duration::from_millis(100),
        saga_stale_after: Duration::from_secs(2),
        // Tests name their clients with `x-forwarded-for` (see `login_from`); without the
        // header a request is from 127.0.0.1.
        trust_forwarded_for: true,
        ..Config::default()
    }
}

pub struct TestApp {
    pub address: String,
    /// The database this app runs on (for the command line).
    pub database_url: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub state: SharedState,
    /// Every (path, body) this app answered the test with.
    pub responses: Arc<Mutex<Vec<(String, String)>>>,
    stop: Option<oneshot::Sender<()>>,
    _database: Option<TestDatabase>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_logging();
    let database = TestDatabase::new(backend).await;
    let mut config = test_config(database.url.clone());
    adjust(&mut config);
    let mut app = spawn_app_on(config).await;
    app._database = Some(database);
    app
}

/// An app whose public URL is the address it listens on (a free port picked first), so that
/// an OpenID issuer is what a platform reaches; `adjust` as in `spawn_app_with`.
pub async fn spawn_app_as_issuer(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    spawn_app_with(backend, move |config| {
        config.listen = format!("127.0.0.1:{port}").parse().unwrap();
        config.public_url = format!("http://127.0.0.1:{port}");
        adjust(config);
    })
    .await
}

/// The application on the database its configuration names.
pub async fn spawn_app_on(config: Config) -> TestApp {
    init_logging();
    let database_url = config.database_url.clone();
    let app = Application::build(config)
        .await
        .expect("the application failed to start");
    let address = format!("http://{}", app.local_addr());
    let state = app.state();
    let db = state.db.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    TestApp {
        address,
        database_url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        db,
        state,
        responses: Arc::new(Mutex::new(Vec::new())),
        stop: Some(stop),
        _database: None,
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The codes of the per-field errors, as (field, code).
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_string(),
                            e["code"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn position(&self) -> i64 {
        self.body["position"]
            .as_i64()
            .expect("a position in the response")
    }
}

/// Someone to register: valid and unique values for every field.
#[derive(Clone, Debug)]
pub struct Person {
    pub phone: String,
    pub name: String,
    pub document_number: String,
    pub email: String,
    pub password: String,
}

fn random_u64() -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap())
}

pub fn random_phone() -> String {
    format!("13{:09}", random_u64() % 1_000_000_000)
}

pub fn random_resident_id() -> String {
    let n = random_u64();
    let year = 1980 + (n % 25);
    let month = 1 + (n / 25) % 12;
    let day = 1 + (n / 300) % 28;
    let seq = (n / 10_000) % 1000;
    let first17 = format!("110105{year:04}{month:02}{day:02}{seq:03}");
    format!("{first17}{}", resident_id_check_char(&first17).unwrap())
}

impl Person {
    pub fn random() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            phone: random_phone(),
            name: "王小明".to_string(),
            document_number: random_resident_id(),
            email: format!("student.{}@example.com", &tag[..10]),
            password: format!("Xx-{}!", &tag[..12]),
        }
    }

    pub fn form(&self, sms_code: &str) -> Value {
        json!({
            "phone": self.phone,
            "sms_code": sms_code,
            "password": self.password,
            "password_confirmation": self.password,
            "name": self.name,
            "document_type": "resident_id_card",
            "document_number": self.document_number,
            "email": self.email,
            "accept_terms": true,
        })
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .json(body),
        )
        .await
    }

    pub async fn post_authorized(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let request = request.build().expect("a well-formed request");
        let path = request.url().path().to_string();
        let response = self
            .client
            .execute(request)
            .await
            .expect("the request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Ok(mut seen) = self.responses.lock() {
            seen.push((path, text.clone()));
        }
        TestResponse {
            status,
            headers,
            body,
            text,
        }
    }

    /// Asks for a registration code and reads it from the captured SMS.
    pub async fn registration_code(&self, phone: &str) -> String {
        let sent = self
            .post(
                "/api/v1/sms-codes",
                &json!({"phone": phone, "purpose": "register"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
        self.latest_code(phone).await
    }

    pub async fn latest_code(&self, phone: &str) -> String {
        // Newest first; notices (password changed, …) go to phones too.
        let outbox = self.outbox(phone).await;
        let body = outbox
            .iter()
            .filter_map(|m| m["body"].as_str())
            .find(|b| b.contains("校验码是"))
            .expect("a code in the SMS")
            .to_string();
        let start = body.find("校验码是").unwrap() + "校验码是".len();
        body[start..start + 6].to_string()
    }

    pub async fn outbox(&self, to: &str) -> Vec<Value> {
        let encoded: String = to
            .bytes()
            .map(|b| match b {
                b'+' => "%2B".to_string(),
                b'@' => "%40".to_string(),
                _ => (b as char).to_string(),
            })
            .collect();
        let response = self
            .get(&format!("/api/v1/dev/outbox?to={encoded}"), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        response.body.as_array().cloned().unwrap_or_default()
    }

    /// Registers a person end to end (code, form); returns the response.
    pub async fn register(&self, person: &Person) -> TestResponse {
        let code = self.registration_code(&person.phone).await;
        self.post("/api/v1/registrations", &person.form(&code))
            .await
    }

    pub async fn register_ok(&self, person: &Person) -> String {
        let response = self.register(person).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.body["account_id"].as_str().unwrap().to_string()
    }

    /// 重新发送激活邮件 for `email`, accepted.
    pub async fn resend_ok(&self, email: &str) {
        let resend = self
            .post(
                "/api/v1/email-verifications",
                &serde_json::json!({ "email": email }),
            )
            .await;
        assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
    }

    pub async fn login(&self, login: &str, password: &str) -> TestResponse {
        self.post(
            "/api/v1/sessions",
            &json!({"login": login, "password": password}),
        )
        .await
    }

    /// Waits until every command queued after an answer (login failures, resends) has run.
    pub async fn settle_queued(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (left,): (i64,) = xuexin_projections::on_db!(&self.db, pool => {
                sqlx::query_as("SELECT COUNT(*) FROM deferred_commands")
                    .fetch_one(pool)
                    .await
                    .unwrap()
            });
            if left == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "queued commands did not run"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A login from the client `ip`.
    pub async fn login_from(&self, ip: &str, login: &str, password: &str) -> TestResponse {
        self.send(
            self.client
                .post(format!("{}{}", self.address, "/api/v1/sessions"))
                .header("x-forwarded-for", ip)
                .json(&json!({"login": login, "password": password})),
        )
        .await
    }

    /// Locks the account `login` leads to: five wrong passwords, each from another client (one
    /// client alone cannot lock an account).
    pub async fn lock_out(&self, login: &str) {
        let locks = self.events_of_type("AccountLocked").await.len();
        for i in 0..5 {
            let failed = self
                .login_from(
                    &format!("10.77.{}.{i}", rand_octet()),
                    login,
                    "Wrong-Pass-1!",
                )
                .await;
            assert_eq!(failed.status, StatusCode::UNAUTHORIZED, "{}", failed.text);
        }
        // Failures are recorded just after their answers (issue 13): wait for the lock.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.events_of_type("AccountLocked").await.len() == locks {
            assert!(
                std::time::Instant::now() < deadline,
                "the account was not locked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn login_ok(&self, login: &str, password: &str) -> (String, i64) {
        let response = self.login(login, password).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        (
            response.body["token"].as_str().unwrap().to_string(),
            response.position(),
        )
    }

    /// Confirms an address with its link's token, accepted.
    pub async fn confirm_email_ok(&self, token: &str) {
        let confirmed = self
            .post(
                "/api/v1/email-verifications/confirm",
                &serde_json::json!({ "token": token }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    }

    /// A projection's stored checkpoint: (transaction id, position).
    pub async fn stored_checkpoint(&self, projection: &str) -> (i64, i64) {
        xuexin_projections::on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT transaction_id, position FROM projection_checkpoints WHERE projection = $1",
            )
            .bind(projection)
            .fetch_one(pool)
            .await
            .unwrap()
        })
    }

    /// Sets a projection's stored checkpoint (the projector's own copy in memory stays).
    pub async fn store_checkpoint(&self, projection: &str, (transaction, position): (i64, i64)) {
        xuexin_projections::db_execute!(
            &self.db,
            "UPDATE projection_checkpoints SET transaction_id = $2, position = $3
             WHERE projection = $1",
            projection,
            transaction,
            position,
        )
        .unwrap();
    }

    /// Waits until the captured mail for `email` holds a verification link; returns the token.
    pub async fn verification_token(&self, email: &str) -> String {
        self.link_token(email, "/verify-email?token=").await
    }

    /// Waits until the captured mail for `email` holds a link with `marker` (e.g.
    /// `/reset-password?token=`); returns the newest such token.
    pub async fn link_token(&self, email: &str, marker: &str) -> String {
        for _ in 0..200 {
            for mail in self.outbox(email).await {
                let body = mail["body"].as_str().unwrap_or("");
                if let Some(start) = body.find(marker) {
                    let token: String = body[start + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    return token;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail with {marker} reached {email}");
    }

    pub async fn event_count(&self) -> i64 {
        let (count,): (i64,) = xuexin_projections::on_db!(&self.db, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(pool).await.unwrap()
        });
        count
    }

    /// Every stored event as text: type, payload and metadata.
    pub async fn all_events_text(&self) -> String {
        let rows: Vec<(
            String,
            String,
            sqlx::types::Json<Value>,
            sqlx::types::Json<Value>,
        )> = xuexin_projections::on_db!(&self.db, pool => {
            sqlx::query_as("SELECT aggregate_type, event_type, payload, metadata FROM events ORDER BY position")
                .fetch_all(pool)
                .await
                .unwrap()
        });
        rows.into_iter()
            .map(|(a, e, p, m)| format!("{a} {e} {} {}\n", p.0, m.0))
            .collect()
    }

    /// Event types of one aggregate, in order.
    pub async fn event_types(&self, aggregate_id: &str) -> Vec<String> {
        let rows: Vec<(String,)> = xuexin_projections::on_db!(&self.db, pool => {
            sqlx::query_as("SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence")
                .bind(aggregate_id)
                .fetch_all(pool)
                .await
                .unwrap()
        });
        rows.into_iter().map(|(t,)| t).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Limits loose enough for many registrations from one test client.
pub fn relaxed_limits(config: &mut Config) {
    config.limits.sms_per_phone_interval.max = 10_000;
    config.limits.sms_per_phone_daily.max = 10_000;
    config.limits.sms_per_ip.max = 10_000;
    config.limits.registrations_per_ip.max = 10_000;
    // Every guess takes an attempt from each live code of the phone until it is decided, so
    // fifty codes of one phone tried at once would run each other out of attempts.
    config.limits.sms_code_attempts = 10_000;
}

impl TestApp {
    /// Requests `n` registration codes for one phone and reads them all.
    pub async fn many_codes(&self, phone: &str, n: usize) -> Vec<String> {
        for _ in 0..n {
            let sent = self
                .post(
                    "/api/v1/sms-codes",
                    &json!({"phone": phone, "purpose": "register"}),
                )
                .await;
            assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
        }
        let encoded = phone.replace('+', "%2B");
        let response = self
            .get(&format!("/api/v1/dev/outbox?to={encoded}&limit={n}"), None)
            .await;
        response
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let body = m["body"].as_str().unwrap();
                let start = body.find("校验码是").unwrap() + "校验码是".len();
                body[start..start + 6].to_string()
            })
            .collect()
    }
}

impl TestApp {
    /// Waits until every projection has applied every event.
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while unapplied_events(&self.db).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "projections did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Events some projection has not applied yet (in each backend's global order).
pub async fn unapplied_events(db: &Db) -> i64 {
    let (n,): (i64,) = match db {
        Db::Postgres(pool) => sqlx::query_as(
            "SELECT COUNT(*) FROM events e, projection_checkpoints c
             WHERE (e.transaction_id::text::bigint, e.position) > (c.transaction_id, c.position)",
        )
        .fetch_one(pool)
        .await
        .unwrap(),
        Db::Sqlite(pool) => sqlx::query_as(
            "SELECT COUNT(*) FROM events e, projection_checkpoints c WHERE e.position > c.position",
        )
        .fetch_one(pool)
        .await
        .unwrap(),
    };
    n
}

/// The birth date a resident ID number carries, as YYYY-MM-DD.
pub fn birth_date_of(id: &str) -> String {
    format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14])
}

pub const ENROLMENT_HEADER: &str = "姓名,性别,出生日期,民族,证件号码,学校名称,层次,专业,学制,学历类别,学习形式,分院,系（所、函授站）,班级,学号,入学日期,预计毕业日期,学籍状态";
pub const DEGREE_HEADER: &str = "姓名,性别,出生日期,证件号码,学校名称,层次,专业,学制,学历类别,学习形式,入学日期,毕（结）业日期,毕（结）业,证书编号";

/// An enrolment row for a person at 西部师范大学 (99003).
pub fn enrolment_row(person: &Person, student_number: &str, class_name: &str) -> String {
    format!(
        "{},男,{},汉族,{},西部师范大学,本科,软件工程,4年,普通,普通全日制,计算机学院,,{class_name},{student_number},2022-09-01,2026-07-01,在籍（注册学籍）",
        person.name,
        birth_date_of(&person.document_number),
        person.document_number
    )
}

/// A degree row for a person at 西部师范大学 (99003), graduated 2024.
pub fn degree_row(person: &Person, certificate_number: &str, major: &str) -> String {
    format!(
        "{},男,{},{},西部师范大学,本科,{major},4年,普通,普通全日制,2020-09-01,2024-06-30,毕业,{certificate_number}",
        person.name,
        birth_date_of(&person.document_number),
        person.document_number
    )
}

/// A certificate number of school 99003, graduation year 2024.
pub fn certificate_number() -> String {
    format!("9900312024{:08}", random_u64() % 100_000_000)
}

impl TestApp {
    pub async fn add_school(&self, code: &str, name: &str, province: &str) {
        self.state
            .store
            .execute::<xuexin_domain::school::School>(
                code,
                xuexin_domain::school::SchoolCommand::Register {
                    code: code.into(),
                    name: name.into(),
                    province: province.into(),
                },
                &(),
                &xuexin::store::CommandMetadata::system("test"),
            )
            .await
            .unwrap();
    }

    /// Creates a staff account (as `xuexin admin create-staff` does) and logs it in.
    /// Creates a staff account (as `xuexin admin create-staff` does); its username and
    /// password.
    pub async fn create_staff(&self, role: &str, scope: Option<&str>) -> (String, String) {
        let username = format!("staff-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let password = "Staff-Pass-2024!";
        xuexin::application::staff::create_staff(
            &self.state.account,
            xuexin::application::staff::NewStaff {
                username: username.clone(),
                display_name: "测试人员".into(),
                role: xuexin_domain::roles::StaffRole::parse(role).unwrap(),
                scope: scope.map(str::to_string),
                contact_phone: None,
                password: xuexin_domain::values::Secret::new(password),
            },
            &xuexin::store::CommandMetadata::system("admin-cli"),
        )
        .await
        .unwrap();
        (username, password.to_string())
    }

    /// A staff session of `role` that has enrolled and passed its second factor.
    pub async fn staff_token(&self, role: &str, scope: Option<&str>) -> String {
        let (username, password) = self.create_staff(role, scope).await;
        let password = password.as_str();
        let response = self.login(&username, password).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        assert_eq!(response.body["role"], role);
        assert_eq!(response.body["second_factor"], "enrol");
        let token = response.body["token"].as_str().unwrap().to_string();
        self.enrol_factor(&token).await;
        token
    }

    /// Enrols a staff session's second factor (as an authenticator app would, from the
    /// secret the API gives); returns the secret and the recovery codes.
    pub async fn enrol_factor(&self, token: &str) -> (String, Vec<String>) {
        let state = self.get("/api/v1/staff/second-factor", Some(token)).await;
        assert_eq!(state.status, StatusCode::OK, "{}", state.text);
        assert_eq!(state.body["state"], "enrol");
        let secret = state.body["secret"].as_str().unwrap().to_string();
        let enrolled = self
            .post_authorized(
                "/api/v1/staff/second-factor/enrolment",
                token,
                &serde_json::json!({"code": self.totp(&secret, 0)}),
            )
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.text);
        let codes = enrolled.body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        (secret, codes)
    }

    /// The TOTP code of `secret` at the app's clock, `steps` 30-second steps from now.
    pub fn totp(&self, secret: &str, steps: i64) -> String {
        let seconds = self.state.clock.now().millis() / 1000 + steps * 30;
        xuexin::application::factor::code_at(secret, seconds as u64).unwrap()
    }

    /// Uploads CSV bytes as a school import.
    pub async fn import(
        &self,
        token: &str,
        school: &str,
        csv: Vec<u8>,
        skip_invalid: bool,
    ) -> TestResponse {
        self.send(
            self.client
                .post(format!(
                    "{}/api/v1/schools/{school}/record-imports?skip_invalid={skip_invalid}",
                    self.address
                ))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await
    }

    /// The records of a logged-in person, once the views reflect `position`.
    pub async fn my_records(&self, token: &str, position: i64) -> TestResponse {
        self.get(
            &format!("/api/v1/me/records?position={position}"),
            Some(token),
        )
        .await
    }

    /// Registers, logs in, and returns (token, login position).
    pub async fn register_and_login(&self, person: &Person) -> (String, i64) {
        self.register_ok(person).await;
        self.login_ok(&person.phone, &person.password).await
    }

    /// Waits until every projection and the binder's tasks are done.
    pub async fn settle_bindings(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            self.settle().await;
            let (pending,): (i64,) = xuexin_projections::on_db!(&self.db, pool => {
                sqlx::query_as("SELECT COUNT(*) FROM process_tasks WHERE status = 'pending'")
                    .fetch_one(pool).await.unwrap()
            });
            if pending == 0 && unapplied_events(&self.db).await == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bindings did not settle"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

pub fn csv(header: &str, rows: &[String]) -> Vec<u8> {
    let mut text = header.to_string();
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}

/// A tiny JPEG-looking image (the type is told from these magic bytes).
pub fn jpeg() -> Vec<u8> {
    [b"\xFF\xD8\xFF\xE0".as_slice(), &[42u8; 512]].concat()
}

impl TestApp {
    /// Registers with extra form fields (e.g. `re_register`, `continue_registration`).
    pub async fn register_with(&self, person: &Person, extra: Value) -> TestResponse {
        let code = self.registration_code(&person.phone).await;
        let mut form = person.form(&code);
        if let (Some(form), Some(extra)) = (form.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                form.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/registrations", &form).await
    }

    /// "I want to re-register" with an ID number someone else holds; logs in; returns the token.
    pub async fn re_register(&self, person: &Person) -> String {
        let response = self
            .register_with(person, json!({"re_register": true}))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        assert_eq!(response.body["status"], "PendingIdentityReview");
        self.login_ok(&person.phone, &person.password).await.0
    }

    pub async fn upload(&self, path: &str, token: &str, bytes: Vec<u8>) -> TestResponse {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .header("content-type", "image/jpeg")
                .body(bytes),
        )
        .await
    }

    /// Event types of every aggregate, with the aggregate id, in log order.
    pub async fn events_of_type(&self, event_type: &str) -> Vec<(String, Value, Value)> {
        let rows: Vec<(String, sqlx::types::Json<Value>, sqlx::types::Json<Value>)> = xuexin_projections::on_db!(&self.db, pool => {
            sqlx::query_as("SELECT aggregate_id, payload, metadata FROM events WHERE event_type = $1 ORDER BY position")
                .bind(event_type)
                .fetch_all(pool)
                .await
                .unwrap()
        });
        rows.into_iter().map(|(id, p, m)| (id, p.0, m.0)).collect()
    }
}

impl TestApp {
    /// Runs the `xuexin` command line against this app's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_xuexin"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .output()
            .expect("the xuexin binary runs")
    }
}

fn rand_octet() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}
