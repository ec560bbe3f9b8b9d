//! Configuration: one [`Settings`] struct is every setting, as a flag of `serve`, an environment
//! variable and a key of the `--config` TOML file, with the defaults a developer wants on a
//! laptop (embedded SQLite, captured SMS and mail). [`Config`] is what the service runs with.
//! The table in docs/operations.md is generated from [`Settings`].

use crate::security::HashingParams;
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::time::Duration;
use xuexin_domain::account::LockoutPolicy;

#[derive(Clone, Debug)]
pub enum SmsGatewayConfig {
    /// Keep messages in the database (`xuexin dev outbox`).
    Capture,
    /// POST each message as JSON to a provider's URL.
    Http { url: String, token: Option<String> },
}

#[derive(Clone, Debug)]
pub enum MailConfig {
    Capture,
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://…`.
    Smtp {
        url: String,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window: Duration,
}

#[derive(Clone, Debug)]
pub struct RateLimits {
    pub sms_per_phone_interval: Limit,
    pub sms_per_phone_daily: Limit,
    pub sms_per_ip: Limit,
    pub sms_code_attempts: i64,
    pub email_resend_per_account: Limit,
    pub email_resend_per_ip: Limit,
    pub registrations_per_ip: Limit,
    pub captchas_per_ip: Limit,
    /// Wrong passwords (and unknown names) from one client, any account.
    pub login_failures_per_ip: Limit,
    /// Wrong passwords from one client for one login name: kept below the lockout threshold,
    /// so one client alone can never lock an account (issue 13: lockout is no weapon).
    pub login_failures_per_ip_account: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sms_per_phone_interval: Limit {
                max: 1,
                window: Duration::from_secs(60),
            },
            sms_per_phone_daily: Limit {
                max: 10,
                window: Duration::from_secs(86_400),
            },
            sms_per_ip: Limit {
                max: 30,
                window: Duration::from_secs(3600),
            },
            sms_code_attempts: 5,
            email_resend_per_account: Limit {
                max: 1,
                window: Duration::from_secs(60),
            },
            email_resend_per_ip: Limit {
                max: 20,
                window: Duration::from_secs(3600),
            },
            registrations_per_ip: Limit {
                max: 1000,
                window: Duration::from_secs(3600),
            },
            captchas_per_ip: Limit {
                max: 600,
                window: Duration::from_secs(3600),
            },
            login_failures_per_ip: Limit {
                max: 20,
                window: Duration::from_secs(3600),
            },
            login_failures_per_ip_account: Limit {
                max: 4,
                window: Duration::from_secs(3600),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub database_connections: u32,
    /// Migrations run over this connection (the schema's owner) instead of `database_url`
    /// (`MIGRATION_DATABASE_URL`), so the service itself can run as a role that may only read
    /// and insert events (`xuexin db grant-runtime-role`).
    pub migration_database_url: Option<String>,
    /// Bring the schema up to date at start (the default); when false (`--no-migrate`,
    /// `XUEXIN_NO_MIGRATE=true`) only check that it is, and refuse to start if not.
    pub migrate: bool,
    /// NATS with JetStream: when set, `serve` relays every event to it (`NATS_URL`).
    pub nats_url: Option<String>,
    /// The JetStream stream (`XUEXIN_NATS_STREAM`, default `XUEXIN_EVENTS`).
    pub nats_stream: String,
    /// An internal stream gets phones unmasked (`XUEXIN_NATS_INTERNAL=true`); secrets never.
    pub nats_internal: bool,
    /// Dev mode adds the captured-message route (`/api/v1/dev/outbox`).
    pub dev_mode: bool,
    /// Base of links in mail (`{public_url}/verify-email?token=…`).
    pub public_url: String,
    pub sms: SmsGatewayConfig,
    pub mail: MailConfig,
    pub mail_from: String,
    pub hashing: HashingParams,
    pub hash_workers: usize,
    pub hash_queue: usize,
    pub lockout: LockoutPolicy,
    pub session_ttl: Duration,
    pub registration_code_ttl: Duration,
    pub email_verification_ttl: Duration,
    /// The longest a query waits for its projection to reach the asked position.
    pub read_wait: Duration,
    /// `/readyz` answers 503 while a projection is more than this many events behind the log.
    pub ready_max_lag: i64,
    /// The longest a request may take before `503` with `Retry-After` (`None`: no limit).
    pub request_timeout: Option<Duration>,
    /// Requests served at once; one more is refused with `503` at once.
    pub max_concurrent_requests: usize,
    pub limits: RateLimits,
    /// Hex key for document-number and code digests; generated and stored on first start if
    /// unset (set it from a secret store in production so the database alone cannot reverse
    /// digests).
    pub digest_key: Option<String>,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    pub snapshot_every: usize,
    /// The identity-verification provider for real-person checks (实人验证): URL and secret.
    pub liveness: Option<(String, String)>,
    /// How long a registration saga may stay unfinished before recovery takes it over.
    pub saga_stale_after: Duration,
    pub projector_poll: Duration,
    /// How long a node holds a claimed process task before another may retry it (after a crash).
    pub task_claim: Duration,
    /// A wait before each process task: zero in service; tests and `scripts/check-readme
    /// --slow-process-managers` make the process managers slow on purpose, to prove that reads
    /// wait for their consequences (`?settled=`).
    pub task_delay: Duration,
    /// Public holidays and make-up working days (`XUEXIN_HOLIDAYS`, a file), for the
    /// three-working-day promise the staff console measures reviews and tickets against.
    pub calendar: crate::workdays::Calendar,
    /// How long an `Idempotency-Key` whose first request never finished (a crash) answers
    /// `409 idempotency_in_progress` before a repeat may take it over
    /// (`XUEXIN_IDEMPOTENCY_TAKEOVER_SECONDS`, default 300).
    pub idempotency_takeover: Duration,
    /// How long an idempotency record is kept; housekeeping deletes older ones
    /// (`XUEXIN_IDEMPOTENCY_WINDOW_SECONDS`, default a day).
    pub idempotency_window: Duration,
    /// WeChat login (网站应用): app id, secret, endpoints.
    pub wechat: Option<crate::oauth::WeChatConfig>,
    /// Alipay login: app id, keys, endpoints.
    pub alipay: Option<crate::oauth::AlipayConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: crate::store::DEFAULT_SQLITE_URL.to_string(),
            database_connections: 20,
            migration_database_url: None,
            migrate: true,
            nats_url: None,
            nats_stream: "XUEXIN_EVENTS".to_string(),
            nats_internal: false,
            dev_mode: false,
            public_url: "http://127.0.0.1:8080".to_string(),
            sms: SmsGatewayConfig::Capture,
            mail: MailConfig::Capture,
            mail_from: "学信网 <no-reply@xuexin.local>".to_string(),
            hashing: HashingParams::OWASP,
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_queue: 64,
            lockout: LockoutPolicy::default(),
            session_ttl: Duration::from_secs(12 * 3600),
            registration_code_ttl: Duration::from_secs(24 * 3600),
            email_verification_ttl: Duration::from_secs(24 * 3600),
            read_wait: Duration::from_secs(5),
            ready_max_lag: 1000,
            request_timeout: Some(Duration::from_secs(30)),
            max_concurrent_requests: 512,
            limits: RateLimits::default(),
            digest_key: None,
            trust_forwarded_for: false,
            snapshot_every: 50,
            liveness: None,
            saga_stale_after: Duration::from_secs(30),
            projector_poll: Duration::from_millis(500),
            task_claim: Duration::from_secs(60),
            task_delay: Duration::ZERO,
            calendar: crate::workdays::Calendar::default(),
            idempotency_takeover: Duration::from_secs(300),
            idempotency_window: Duration::from_secs(24 * 3600),
            wechat: None,
            alipay: None,
        }
    }
}

/// Every setting of the service: a flag of `xuexin serve`, an environment variable, and a key
/// of the optional `--config` TOML file, in that order of precedence over the default. The
/// table in docs/operations.md is generated from these (`xuexin config table`), and a test
/// checks that it still is.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Settings (flag, environment variable or --config file key)")]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "XUEXIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The database: `postgres://…`, or a SQLite file (`sqlite:PATH`, created when missing).
    #[arg(long, env = "DATABASE_URL", default_value = crate::store::DEFAULT_SQLITE_URL)]
    pub database_url: String,
    /// Pool size (SQLite: at most 16).
    #[arg(long, env = "XUEXIN_DATABASE_CONNECTIONS", default_value_t = 20)]
    pub database_connections: u32,
    /// Run migrations over this URL (the schema's owner) instead of DATABASE_URL, so the
    /// service itself can run as a role that may only read and append events.
    #[arg(long, env = "MIGRATION_DATABASE_URL")]
    pub migration_database_url: Option<String>,
    /// No command migrates at start; each checks the schema is current and refuses to run if
    /// not (`xuexin migrate` still migrates).
    #[arg(long, env = "XUEXIN_NO_MIGRATE", value_parser = flag_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub no_migrate: bool,
    /// Development mode: the `/api/v1/dev/outbox` route, and captcha answers written to the dev
    /// outbox (never in production).
    #[arg(long, env = "XUEXIN_DEV", value_parser = flag_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub dev: bool,
    /// Base of links in mail and of the OAuth redirect URI (default `http://<listen>`);
    /// `https://…` also marks cookies `Secure` and sends HSTS.
    #[arg(long, env = "XUEXIN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// `capture` keeps messages in the database (and captcha answers in the dev outbox);
    /// `http` POSTs `{"to","text"}` to --sms-http-url. Production needs `http`.
    #[arg(long, env = "XUEXIN_SMS_GATEWAY", default_value = "capture", value_parser = ["capture", "http"])]
    pub sms_gateway: String,
    /// The SMS provider's URL (with `--sms-gateway http`).
    #[arg(long, env = "XUEXIN_SMS_HTTP_URL")]
    pub sms_http_url: Option<String>,
    /// Bearer token for the SMS provider.
    #[arg(long, env = "XUEXIN_SMS_HTTP_TOKEN")]
    pub sms_http_token: Option<String>,
    /// `capture` keeps mail in the database; `smtp` sends it through --smtp-url.
    #[arg(long, env = "XUEXIN_MAIL", default_value = "capture", value_parser = ["capture", "smtp"])]
    pub mail: String,
    /// `smtp://host:port`, `smtp://host:port?tls=required` (STARTTLS) or `smtps://user:pass@host`.
    #[arg(long, env = "XUEXIN_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of mail.
    #[arg(
        long,
        env = "XUEXIN_MAIL_FROM",
        default_value = "学信网 <no-reply@xuexin.local>"
    )]
    pub mail_from: String,
    /// argon2id memory (older hashes are replaced at login).
    #[arg(long, env = "XUEXIN_ARGON2_MEMORY_KIB", default_value_t = HashingParams::OWASP.memory_kib)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    #[arg(long, env = "XUEXIN_ARGON2_ITERATIONS", default_value_t = HashingParams::OWASP.iterations)]
    pub argon2_iterations: u32,
    /// Threads that hash passwords (default: the number of cores).
    #[arg(long, env = "XUEXIN_HASH_WORKERS")]
    pub hash_workers: Option<usize>,
    /// Hashes waiting at most; beyond it `503`.
    #[arg(long, env = "XUEXIN_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,
    /// Consecutive failures that lock an account.
    #[arg(long, env = "XUEXIN_LOCKOUT_THRESHOLD", default_value_t = LockoutPolicy::default().threshold)]
    pub lockout_threshold: u32,
    /// The first lock; it doubles up to --lockout-max-seconds.
    #[arg(long, env = "XUEXIN_LOCKOUT_SECONDS", default_value_t = LockoutPolicy::default().base_lock_seconds)]
    pub lockout_seconds: i64,
    /// The longest lock.
    #[arg(long, env = "XUEXIN_LOCKOUT_MAX_SECONDS", default_value_t = LockoutPolicy::default().max_lock_seconds)]
    pub lockout_max_seconds: i64,
    /// Wrong passwords and unknown names from one client IP an hour, then `429 login_rate_limited`.
    #[arg(
        long,
        env = "XUEXIN_LOGIN_FAILURES_PER_IP_HOURLY",
        default_value_t = 20
    )]
    pub login_failures_per_ip_hourly: i64,
    /// Wrong passwords from one client IP for one account an hour; must stay below
    /// --lockout-threshold, so one client alone cannot lock an account.
    #[arg(
        long,
        env = "XUEXIN_LOGIN_FAILURES_PER_IP_ACCOUNT_HOURLY",
        default_value_t = 4
    )]
    pub login_failures_per_ip_account_hourly: i64,
    /// Session lifetime.
    #[arg(long, env = "XUEXIN_SESSION_TTL_SECONDS", default_value_t = 43_200)]
    pub session_ttl_seconds: u64,
    /// Longest a query waits for `?position=` or `?settled=`.
    #[arg(long, env = "XUEXIN_READ_WAIT_SECONDS", default_value_t = 5)]
    pub read_wait_seconds: u64,
    /// `/readyz` answers 503 while a projection is more events than this behind the log's head.
    #[arg(long, env = "XUEXIN_READY_MAX_LAG", default_value_t = 1000)]
    pub ready_max_lag: i64,
    /// Longest time a request may take; then `503` with `Retry-After` (0: no limit).
    #[arg(long, env = "XUEXIN_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Requests served at once; one more gets `503` with `Retry-After` at once instead of
    /// waiting (the probes and /metrics are not counted).
    #[arg(long, env = "XUEXIN_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// A wait before each process task: for tests only (`scripts/check-readme
    /// --slow-process-managers` sets 2000).
    #[arg(long, env = "XUEXIN_TASK_DELAY_MS", default_value_t = 0)]
    pub task_delay_ms: u64,
    /// Least time between two SMS to one phone.
    #[arg(long, env = "XUEXIN_SMS_INTERVAL_SECONDS", default_value_t = 60)]
    pub sms_interval_seconds: u64,
    /// SMS to one phone a day.
    #[arg(long, env = "XUEXIN_SMS_PER_PHONE_DAILY", default_value_t = 10)]
    pub sms_per_phone_daily: i64,
    /// SMS requested by one client IP an hour.
    #[arg(long, env = "XUEXIN_SMS_PER_IP_HOURLY", default_value_t = 30)]
    pub sms_per_ip_hourly: i64,
    /// Wrong guesses before a phone's codes are retired.
    #[arg(long, env = "XUEXIN_SMS_CODE_ATTEMPTS", default_value_t = 5)]
    pub sms_code_attempts: i64,
    /// Registrations per client IP an hour.
    #[arg(
        long,
        env = "XUEXIN_REGISTRATIONS_PER_IP_HOURLY",
        default_value_t = 1000
    )]
    pub registrations_per_ip_hourly: i64,
    /// 重新发送激活邮件 per address a minute (registered or not, so a 429 tells nothing).
    #[arg(
        long,
        env = "XUEXIN_EMAIL_RESEND_PER_ACCOUNT_PER_MINUTE",
        default_value_t = 1
    )]
    pub email_resend_per_account_per_minute: i64,
    /// 重新发送激活邮件 per client IP an hour.
    #[arg(long, env = "XUEXIN_EMAIL_RESEND_PER_IP_HOURLY", default_value_t = 20)]
    pub email_resend_per_ip_hourly: i64,
    /// Take the client IP from `X-Forwarded-For` (only behind your proxy).
    #[arg(long, env = "XUEXIN_TRUST_FORWARDED_FOR", value_parser = flag_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub trust_forwarded_for: bool,
    /// Hex, at least 32 bytes: the key of the document-number, SMS-code and captcha digests
    /// (generated and kept in the database when unset; set it from a secret store).
    #[arg(long, env = "XUEXIN_DIGEST_KEY")]
    pub digest_key: Option<String>,
    /// An unfinished registration older than this is resumed by recovery.
    #[arg(long, env = "XUEXIN_SAGA_STALE_SECONDS", default_value_t = 30)]
    pub saga_stale_seconds: u64,
    /// How long a node holds a process task before another node may retry it.
    #[arg(long, env = "XUEXIN_TASK_CLAIM_SECONDS", default_value_t = 60)]
    pub task_claim_seconds: u64,
    /// An `Idempotency-Key` whose first request never finished answers `409
    /// idempotency_in_progress` until this has passed; then a repeat takes it over.
    #[arg(
        long,
        env = "XUEXIN_IDEMPOTENCY_TAKEOVER_SECONDS",
        default_value_t = 300
    )]
    pub idempotency_takeover_seconds: u64,
    /// How long an idempotency record (and so a replay) is kept.
    #[arg(
        long,
        env = "XUEXIN_IDEMPOTENCY_WINDOW_SECONDS",
        default_value_t = 86_400
    )]
    pub idempotency_window_seconds: u64,
    /// The identity-verification provider for real-person checks (with its secret).
    #[arg(long, env = "XUEXIN_LIVENESS_URL")]
    pub liveness_url: Option<String>,
    /// The identity-verification provider's secret.
    #[arg(long, env = "XUEXIN_LIVENESS_SECRET")]
    pub liveness_secret: Option<String>,
    /// WeChat login (网站应用): the app id (with --wechat-secret).
    #[arg(long, env = "XUEXIN_WECHAT_APPID")]
    pub wechat_appid: Option<String>,
    /// WeChat login: the app secret.
    #[arg(long, env = "XUEXIN_WECHAT_SECRET")]
    pub wechat_secret: Option<String>,
    /// WeChat's QR-code page.
    #[arg(
        long,
        env = "XUEXIN_WECHAT_AUTHORIZE_URL",
        default_value = "https://open.weixin.qq.com/connect/qrconnect"
    )]
    pub wechat_authorize_url: String,
    /// Base of WeChat's `/sns/oauth2/access_token`.
    #[arg(
        long,
        env = "XUEXIN_WECHAT_API_URL",
        default_value = "https://api.weixin.qq.com"
    )]
    pub wechat_api_url: String,
    /// Alipay login: the app id (all three Alipay keys or none).
    #[arg(long, env = "XUEXIN_ALIPAY_APP_ID")]
    pub alipay_app_id: Option<String>,
    /// The app's RSA private key (PKCS#8 or PKCS#1, base64 DER with or without PEM armour).
    #[arg(long, env = "XUEXIN_ALIPAY_PRIVATE_KEY")]
    pub alipay_private_key: Option<String>,
    /// Alipay's public key (SubjectPublicKeyInfo, base64 DER with or without PEM armour).
    #[arg(long, env = "XUEXIN_ALIPAY_PUBLIC_KEY")]
    pub alipay_public_key: Option<String>,
    /// Alipay's authorization page.
    #[arg(
        long,
        env = "XUEXIN_ALIPAY_AUTHORIZE_URL",
        default_value = "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm"
    )]
    pub alipay_authorize_url: String,
    /// The gateway `alipay.system.oauth.token` is called on.
    #[arg(
        long,
        env = "XUEXIN_ALIPAY_GATEWAY_URL",
        default_value = "https://openapi.alipay.com/gateway.do"
    )]
    pub alipay_gateway_url: String,
    /// NATS with JetStream: when set, `serve` relays every event to it.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// The JetStream stream.
    #[arg(long, env = "XUEXIN_NATS_STREAM", default_value = "XUEXIN_EVENTS")]
    pub nats_stream: String,
    /// Phones go out unmasked (an internal stream); hashes are redacted and the client IP left
    /// out regardless.
    #[arg(long, env = "XUEXIN_NATS_INTERNAL", value_parser = flag_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub nats_internal: bool,
    /// Public holidays and make-up working days, one `YYYY-MM-DD` a line (`workday` after a
    /// date marks a worked weekend day), for the console's three-working-day ages.
    #[arg(long, env = "XUEXIN_HOLIDAYS")]
    pub holidays: Option<std::path::PathBuf>,
    /// Log lines as `text` or `json` (levels: RUST_LOG).
    #[arg(long, env = "XUEXIN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// A switch's value: `true`/`false` (also `1`/`0`, `yes`/`no`); an empty variable is off.
fn flag_value(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" | "off" => Ok(false),
        "true" | "1" | "yes" | "on" => Ok(true),
        other => Err(format!("{other:?} is not true or false")),
    }
}

/// Settings that hold a secret: `config show` never prints them.
const SECRET_SETTINGS: &[&str] = &[
    "sms_http_token",
    "digest_key",
    "liveness_secret",
    "wechat_secret",
    "alipay_private_key",
];

/// Settings whose URLs may carry a password: `config show` masks it.
const URL_SETTINGS: &[&str] = &[
    "database_url",
    "migration_database_url",
    "smtp_url",
    "nats_url",
    "sms_http_url",
    "liveness_url",
];

/// The `--config` file's values, read once at start (beneath the environment).
static FILE: std::sync::OnceLock<FileSettings> = std::sync::OnceLock::new();

#[derive(Clone, Debug, Default)]
pub struct FileSettings {
    pub path: Option<std::path::PathBuf>,
    /// Setting id → the value as a flag would carry it.
    pub values: std::collections::BTreeMap<String, String>,
}

impl FileSettings {
    /// Reads a TOML file whose keys are the settings' ids (`database_url = "…"`); an unknown
    /// key or a table is an error naming it.
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--config: cannot read {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| anyhow::anyhow!("--config {}: {e}", path.display()))?;
        let known = setting_ids();
        let mut values = std::collections::BTreeMap::new();
        for (key, value) in table {
            if !known.contains(&key) {
                bail!(
                    "--config {}: unknown setting {key:?} (see `xuexin serve --help`)",
                    path.display()
                );
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => bail!(
                    "--config {}: {key} must be a string, a number or a boolean, not {}",
                    path.display(),
                    other.type_str()
                ),
            };
            values.insert(key, value);
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            values,
        })
    }

    /// Reads the file named by `--config FILE` in `args` or by `XUEXIN_CONFIG`, once; later
    /// calls keep the first.
    pub fn load(args: &[std::ffi::OsString]) -> anyhow::Result<&'static FileSettings> {
        if let Some(file) = FILE.get() {
            return Ok(file);
        }
        let mut path = None;
        let mut args = args.iter().map(|a| a.to_string_lossy());
        while let Some(arg) = args.next() {
            if arg == "--" {
                break;
            }
            if arg == "--config" {
                path = args.next().map(|p| std::path::PathBuf::from(p.as_ref()));
            } else if let Some(p) = arg.strip_prefix("--config=") {
                path = Some(std::path::PathBuf::from(p));
            }
        }
        let path = path.or_else(|| {
            std::env::var_os("XUEXIN_CONFIG")
                .filter(|p| !p.is_empty())
                .map(Into::into)
        });
        let file = match path {
            Some(path) => Self::read(&path)?,
            None => Self::default(),
        };
        Ok(FILE.get_or_init(|| file))
    }

    /// The file's values become the defaults of `command`'s settings (and its subcommands'),
    /// so a flag and the environment still win over them.
    pub fn apply(&self, command: clap::Command) -> clap::Command {
        let mut command = command.mut_args(|arg| {
            let id = arg.get_id().as_str().to_string();
            // `--help` never shows a variable's value, and never a file's secret as a default.
            let mut arg = arg.hide_env_values(true);
            // A blank variable is unset, as a shell's `VAR=` means.
            let blank = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.to_string_lossy().trim().is_empty());
            if blank {
                arg = arg.env(None::<&str>);
            }
            match self.values.get(&id) {
                Some(value) => {
                    let secret = SECRET_SETTINGS.contains(&id.as_str())
                        || URL_SETTINGS.contains(&id.as_str());
                    arg.default_value(value.clone()).hide_default_value(secret)
                }
                None => arg,
            }
        });
        let names: Vec<String> = command
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            command = command.mut_subcommand(name, |sub| self.apply(sub));
        }
        command
    }
}

/// The ids of every setting (`database_url`, …), which are also the `--config` file's keys.
pub fn setting_ids() -> Vec<String> {
    settings_command()
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .map(|a| a.get_id().to_string())
        .collect()
}

#[derive(clap::Parser)]
#[command(name = "xuexin")]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

fn settings_command() -> clap::Command {
    <SettingsOnly as clap::CommandFactory>::command()
}

/// A setting as `xuexin config show` prints it: id, value (masked if secret), source.
pub type Shown = (String, Option<String>, Source);

/// Where a setting's value came from, for `xuexin config show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment,
    File,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Environment => "environment",
            Source::File => "file",
            Source::Default => "default",
        }
    }
}

impl Settings {
    /// The settings from the environment and the `--config` file (commands other than `serve`).
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::resolve(std::iter::empty::<std::ffi::OsString>())?.0)
    }

    /// Parses `args` (flags only, no program name) over the environment, the file and the
    /// defaults, and says where each setting came from.
    pub fn resolve(
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> anyhow::Result<(Self, Vec<Shown>)> {
        use clap::FromArgMatches;
        let file = FileSettings::load(&std::env::args_os().collect::<Vec<_>>())?;
        let command = file.apply(settings_command());
        let matches = command
            .clone()
            .try_get_matches_from(std::iter::once("xuexin".into()).chain(args))
            .map_err(|e| anyhow::anyhow!("{}", e.render()))?;
        let settings = SettingsOnly::from_arg_matches(&matches)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .settings;
        let mut sources = Vec::new();
        let ids = setting_ids();
        for arg in command
            .get_arguments()
            .filter(|a| ids.iter().any(|id| id == a.get_id().as_str()))
        {
            let id = arg.get_id().as_str();
            let source = match matches.value_source(id) {
                Some(clap::parser::ValueSource::CommandLine) => Source::Flag,
                Some(clap::parser::ValueSource::EnvVariable) => Source::Environment,
                _ if file.values.contains_key(id) => Source::File,
                _ => Source::Default,
            };
            let value = matches
                .get_raw(id)
                .map(|mut v| v.next().map(|v| v.to_string_lossy().into_owned()))
                .unwrap_or_default();
            let shown = match value {
                Some(_) if SECRET_SETTINGS.contains(&id) => Some("***".to_string()),
                Some(v) if URL_SETTINGS.contains(&id) => Some(redact_url(&v)),
                other => other,
            };
            sources.push((id.to_string(), shown, source));
        }
        Ok((settings, sources))
    }

    pub fn into_config(self) -> anyhow::Result<Config> {
        let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let listen = self.listen;
        let mut limits = RateLimits::default();
        limits.sms_per_phone_daily.max = self.sms_per_phone_daily;
        limits.sms_per_phone_interval.window = Duration::from_secs(self.sms_interval_seconds);
        limits.sms_per_ip.max = self.sms_per_ip_hourly;
        limits.sms_code_attempts = self.sms_code_attempts;
        limits.email_resend_per_account.max = self.email_resend_per_account_per_minute;
        limits.email_resend_per_ip.max = self.email_resend_per_ip_hourly;
        limits.login_failures_per_ip.max = self.login_failures_per_ip_hourly;
        limits.login_failures_per_ip_account.max = self.login_failures_per_ip_account_hourly;
        limits.registrations_per_ip.max = self.registrations_per_ip_hourly;
        let defaults = Config::default();
        let config = Config {
            listen,
            database_url: self.database_url,
            database_connections: self.database_connections,
            migration_database_url: given(self.migration_database_url),
            migrate: !self.no_migrate,
            nats_url: given(self.nats_url),
            nats_stream: self.nats_stream,
            nats_internal: self.nats_internal,
            dev_mode: self.dev,
            public_url: match given(self.public_url) {
                Some(url) => url.trim_end_matches('/').to_string(),
                None => format!("http://{listen}"),
            },
            sms: match self.sms_gateway.as_str() {
                "http" => SmsGatewayConfig::Http {
                    url: given(self.sms_http_url)
                        .context("XUEXIN_SMS_GATEWAY=http needs XUEXIN_SMS_HTTP_URL")?,
                    token: given(self.sms_http_token),
                },
                _ => SmsGatewayConfig::Capture,
            },
            mail: match self.mail.as_str() {
                "smtp" => MailConfig::Smtp {
                    url: given(self.smtp_url)
                        .context("XUEXIN_MAIL=smtp needs XUEXIN_SMTP_URL")?,
                },
                _ => MailConfig::Capture,
            },
            mail_from: self.mail_from,
            hashing: HashingParams {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                ..HashingParams::OWASP
            },
            hash_workers: self.hash_workers.unwrap_or(defaults.hash_workers),
            hash_queue: self.hash_queue,
            lockout: LockoutPolicy {
                threshold: self.lockout_threshold,
                base_lock_seconds: self.lockout_seconds,
                max_lock_seconds: self.lockout_max_seconds,
            },
            session_ttl: Duration::from_secs(self.session_ttl_seconds),
            read_wait: Duration::from_secs(self.read_wait_seconds),
            ready_max_lag: self.ready_max_lag.max(0),
            request_timeout: (self.request_timeout_seconds > 0)
                .then(|| Duration::from_secs(self.request_timeout_seconds)),
            max_concurrent_requests: self.max_concurrent_requests.max(1),
            limits,
            digest_key: given(self.digest_key),
            trust_forwarded_for: self.trust_forwarded_for,
            liveness: match (given(self.liveness_url), given(self.liveness_secret)) {
                (Some(url), Some(secret)) => Some((url, secret)),
                (None, None) => None,
                _ => bail!("XUEXIN_LIVENESS_URL and XUEXIN_LIVENESS_SECRET go together"),
            },
            saga_stale_after: Duration::from_secs(self.saga_stale_seconds),
            task_claim: Duration::from_secs(self.task_claim_seconds),
            task_delay: Duration::from_millis(self.task_delay_ms),
            calendar: match &self.holidays {
                None => crate::workdays::Calendar::default(),
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| {
                        format!("XUEXIN_HOLIDAYS: cannot read {}", path.display())
                    })?;
                    crate::workdays::Calendar::parse(&text).map_err(|e| {
                        anyhow::anyhow!("XUEXIN_HOLIDAYS ({}): {e}", path.display())
                    })?
                }
            },
            idempotency_takeover: Duration::from_secs(self.idempotency_takeover_seconds),
            idempotency_window: Duration::from_secs(self.idempotency_window_seconds),
            wechat: match (given(self.wechat_appid), given(self.wechat_secret)) {
                (None, None) => None,
                (Some(app_id), Some(secret)) => Some(crate::oauth::WeChatConfig {
                    app_id,
                    secret,
                    authorize_url: self.wechat_authorize_url,
                    api_url: self.wechat_api_url,
                }),
                _ => bail!("XUEXIN_WECHAT_APPID and XUEXIN_WECHAT_SECRET go together"),
            },
            alipay: match (
                given(self.alipay_app_id),
                given(self.alipay_private_key),
                given(self.alipay_public_key),
            ) {
                (None, None, None) => None,
                (Some(app_id), Some(private_key), Some(alipay_public_key)) => {
                    Some(crate::oauth::AlipayConfig {
                        app_id,
                        private_key,
                        alipay_public_key,
                        authorize_url: self.alipay_authorize_url,
                        gateway_url: self.alipay_gateway_url,
                    })
                }
                _ => bail!(
                    "XUEXIN_ALIPAY_APP_ID, XUEXIN_ALIPAY_PRIVATE_KEY and XUEXIN_ALIPAY_PUBLIC_KEY go together"
                ),
            },
            ..defaults
        };
        config.validate()?;
        Ok(config)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a user part with no
/// password (`nats://TOKEN@host`) is masked whole (but a PostgreSQL user's name is kept), and so are query parameters named like a
/// password, token, key or secret.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                // A database's user name alone is no secret; elsewhere it may be a token.
                None if base.starts_with("postgres") => base.to_string(),
                None => format!("{}***{}", &base[..scheme_end + 3], &base[at..]),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _))
                    if ["pass", "token", "key", "secret"]
                        .iter()
                        .any(|s| name.to_ascii_lowercase().contains(s)) =>
                {
                    format!("{name}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

/// The settings table of docs/operations.md, generated from [`Settings`].
pub fn settings_table() -> String {
    let mut out = String::from(
        "| Environment variable | Flag / `--config` key | Default | Meaning |\n|---|---|---|---|\n",
    );
    for arg in settings_command().get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = match defaults.as_slice() {
            [] => "unset".to_string(),
            [v] if v == "false" => "false".to_string(),
            values => format!("`{}`", values.join(", ")),
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | `--{}` / `{}` | {} | {} |\n",
            env.to_string_lossy(),
            arg.get_long().unwrap_or_default(),
            arg.get_id(),
            default,
            help
        ));
    }
    out
}

/// Markers around the generated table in docs/operations.md.
pub const TABLE_BEGIN: &str =
    "<!-- settings table: generated by `xuexin config table`; do not edit -->";
pub const TABLE_END: &str = "<!-- end of settings table -->";

/// The generated table as it stands in `doc` (between the markers), if any.
pub fn table_in(doc: &str) -> Option<&str> {
    let start = doc.find(TABLE_BEGIN)? + TABLE_BEGIN.len();
    let end = doc[start..].find(TABLE_END)? + start;
    Some(doc[start..end].trim_matches('\n'))
}

impl Config {
    /// The settings from the environment and the `--config` file, over the defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Settings::from_env()?.into_config()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        argon2::Params::new(
            self.hashing.memory_kib,
            self.hashing.iterations,
            self.hashing.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        if self.lockout.threshold == 0 || self.lockout.base_lock_seconds <= 0 {
            bail!("the lockout threshold and duration must be positive");
        }
        if self.limits.login_failures_per_ip_account.max >= i64::from(self.lockout.threshold) {
            bail!(
                "XUEXIN_LOGIN_FAILURES_PER_IP_ACCOUNT_HOURLY ({}) must stay below \
                 XUEXIN_LOCKOUT_THRESHOLD ({}), or one client alone can lock an account",
                self.limits.login_failures_per_ip_account.max,
                self.lockout.threshold
            );
        }
        if let Some(url) = &self.migration_database_url {
            let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
            if !postgres(url) || !postgres(&self.database_url) {
                bail!("MIGRATION_DATABASE_URL is for PostgreSQL: set it and DATABASE_URL to postgres:// URLs of the same database");
            }
        }
        if let Some(key) = &self.digest_key {
            let bytes = hex::decode(key).context("XUEXIN_DIGEST_KEY must be hex")?;
            if bytes.len() < 32 {
                bail!("XUEXIN_DIGEST_KEY must be at least 32 bytes (64 hex digits)");
            }
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_not_logged() {
        assert_eq!(
            redact_url("postgres://xuexin:s3cret@db:5432/xuexin"),
            "postgres://xuexin:***@db:5432/xuexin"
        );
        assert_eq!(redact_url("sqlite://xuexin.db"), "sqlite://xuexin.db");
        assert_eq!(
            redact_url("nats://s3cret-token@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(
            redact_url("postgres://u@db/x?sslmode=require&password=s3cret"),
            "postgres://u@db/x?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("https://sms.example/send?access_token=s3cret&v=2"),
            "https://sms.example/send?access_token=***&v=2"
        );
    }
    use clap::FromArgMatches;

    #[test]
    fn the_operations_guide_lists_every_setting_as_the_code_defines_it() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
                .expect("docs/operations.md");
        let table = table_in(&doc).expect("the settings table's markers");
        assert_eq!(
            table,
            settings_table().trim_matches('\n'),
            "docs/operations.md is stale: paste `xuexin config table` between the markers"
        );
        for id in setting_ids() {
            assert!(table.contains(&format!("/ `{id}` |")), "{id} missing");
        }
    }

    fn parse(file: &str, args: &[&str]) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("xuexin.toml");
        std::fs::write(&path, file)?;
        let file = FileSettings::read(&path)?;
        let matches = file
            .apply(settings_command())
            .try_get_matches_from(std::iter::once("xuexin").chain(args.iter().copied()))?;
        SettingsOnly::from_arg_matches(&matches)?
            .settings
            .into_config()
    }

    #[test]
    fn the_file_is_read_beneath_the_flags() {
        let config = parse(
            "hash_queue = 7\nsession_ttl_seconds = 60\ndev = true\nlisten = \"127.0.0.1:9000\"\n",
            &["--hash-queue", "9"],
        )
        .expect("valid");
        assert_eq!(config.hash_queue, 9, "the flag wins");
        assert_eq!(
            config.session_ttl,
            Duration::from_secs(60),
            "the file beats the default"
        );
        assert!(config.dev_mode);
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        assert_eq!(config.request_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_environment_wins_over_the_file_and_a_flag_over_both() {
        // Only this test reads XUEXIN_HASH_WORKERS (nextest runs each test in its own process).
        std::env::set_var("XUEXIN_HASH_WORKERS", "3");
        let config = parse("hash_workers = 5\n", &[]).expect("valid");
        assert_eq!(config.hash_workers, 3);
        let config = parse("hash_workers = 5\n", &["--hash-workers", "1"]).expect("valid");
        assert_eq!(config.hash_workers, 1);
        std::env::remove_var("XUEXIN_HASH_WORKERS");
        let config = parse("hash_workers = 5\n", &[]).expect("valid");
        assert_eq!(config.hash_workers, 5);
    }

    #[test]
    fn a_bad_file_or_value_is_refused_naming_it() {
        let unknown = parse("hash_qeueu = 7\n", &[]).expect_err("unknown key");
        assert!(unknown.to_string().contains("hash_qeueu"), "{unknown}");
        let table = parse("[database]\nurl = \"x\"\n", &[]).expect_err("a table");
        assert!(table.to_string().contains("database"), "{table}");
        let bad = parse("hash_queue = \"many\"\n", &[]).expect_err("not a number");
        assert!(format!("{bad:#}").contains("many"), "{bad:#}");
        let pair = parse("mail = \"smtp\"\n", &[]).expect_err("smtp without a URL");
        assert!(pair.to_string().contains("XUEXIN_SMTP_URL"), "{pair}");
        let lockout = parse(
            "lockout_threshold = 3\nlogin_failures_per_ip_account_hourly = 4\n",
            &[],
        )
        .expect_err("one client could lock");
        assert!(lockout.to_string().contains("below"), "{lockout}");
    }
}
