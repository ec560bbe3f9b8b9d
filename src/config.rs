//! Configuration: `serve`'s flags and environment variables, with the defaults a developer
//! wants on a laptop (embedded SQLite, captured SMS and mail). Every knob is listed in
//! docs/operations.md.

use crate::security::HashingParams;
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::str::FromStr;
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is invalid: {e}")),
    }
}

fn env_seconds(name: &str) -> anyhow::Result<Option<Duration>> {
    Ok(env_parse::<u64>(name)?.map(Duration::from_secs))
}

impl Config {
    /// Defaults overridden by the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut config = Self::default();
        if let Some(listen) = env("XUEXIN_LISTEN") {
            config.listen = listen
                .parse()
                .with_context(|| format!("XUEXIN_LISTEN={listen:?} is not an address"))?;
        }
        if let Some(url) = env("DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(n) = env_parse("XUEXIN_DATABASE_CONNECTIONS")? {
            config.database_connections = n;
        }
        config.migration_database_url = env("MIGRATION_DATABASE_URL");
        config.migrate = !env_parse::<bool>("XUEXIN_NO_MIGRATE")?.unwrap_or(false);
        config.nats_url = env("NATS_URL");
        if let Some(stream) = env("XUEXIN_NATS_STREAM") {
            config.nats_stream = stream;
        }
        config.nats_internal = env_parse::<bool>("XUEXIN_NATS_INTERNAL")?.unwrap_or(false);
        config.dev_mode = env_parse::<bool>("XUEXIN_DEV")?.unwrap_or(false);
        if let Some(url) = env("XUEXIN_PUBLIC_URL") {
            config.public_url = url.trim_end_matches('/').to_string();
        } else {
            config.public_url = format!("http://{}", config.listen);
        }
        config.sms = match env("XUEXIN_SMS_GATEWAY").as_deref() {
            None | Some("capture") => SmsGatewayConfig::Capture,
            Some("http") => SmsGatewayConfig::Http {
                url: env("XUEXIN_SMS_HTTP_URL")
                    .context("XUEXIN_SMS_GATEWAY=http needs XUEXIN_SMS_HTTP_URL")?,
                token: env("XUEXIN_SMS_HTTP_TOKEN"),
            },
            Some(other) => bail!("XUEXIN_SMS_GATEWAY={other:?}: use capture or http"),
        };
        config.mail = match env("XUEXIN_MAIL").as_deref() {
            None | Some("capture") => MailConfig::Capture,
            Some("smtp") => MailConfig::Smtp {
                url: env("XUEXIN_SMTP_URL").context("XUEXIN_MAIL=smtp needs XUEXIN_SMTP_URL")?,
            },
            Some(other) => bail!("XUEXIN_MAIL={other:?}: use capture or smtp"),
        };
        if let Some(from) = env("XUEXIN_MAIL_FROM") {
            config.mail_from = from;
        }
        if let Some(m) = env_parse("XUEXIN_ARGON2_MEMORY_KIB")? {
            config.hashing.memory_kib = m;
        }
        if let Some(t) = env_parse("XUEXIN_ARGON2_ITERATIONS")? {
            config.hashing.iterations = t;
        }
        if let Some(n) = env_parse("XUEXIN_HASH_WORKERS")? {
            config.hash_workers = n;
        }
        if let Some(n) = env_parse("XUEXIN_HASH_QUEUE")? {
            config.hash_queue = n;
        }
        if let Some(n) = env_parse("XUEXIN_LOCKOUT_THRESHOLD")? {
            config.lockout.threshold = n;
        }
        if let Some(n) = env_parse("XUEXIN_LOCKOUT_SECONDS")? {
            config.lockout.base_lock_seconds = n;
        }
        if let Some(n) = env_parse("XUEXIN_LOCKOUT_MAX_SECONDS")? {
            config.lockout.max_lock_seconds = n;
        }
        if let Some(d) = env_seconds("XUEXIN_SESSION_TTL_SECONDS")? {
            config.session_ttl = d;
        }
        if let Some(n) = env_parse::<i64>("XUEXIN_READY_MAX_LAG")? {
            config.ready_max_lag = n.max(0);
        }
        if let Some(d) = env_seconds("XUEXIN_READ_WAIT_SECONDS")? {
            config.read_wait = d;
        }
        if let Some(n) = env_parse("XUEXIN_SMS_PER_PHONE_DAILY")? {
            config.limits.sms_per_phone_daily.max = n;
        }
        if let Some(d) = env_seconds("XUEXIN_SMS_INTERVAL_SECONDS")? {
            config.limits.sms_per_phone_interval.window = d;
        }
        if let Some(n) = env_parse("XUEXIN_SMS_PER_IP_HOURLY")? {
            config.limits.sms_per_ip.max = n;
        }
        if let Some(n) = env_parse("XUEXIN_SMS_CODE_ATTEMPTS")? {
            config.limits.sms_code_attempts = n;
        }
        if let Some(n) = env_parse("XUEXIN_EMAIL_RESEND_PER_ACCOUNT_PER_MINUTE")? {
            config.limits.email_resend_per_account.max = n;
        }
        if let Some(n) = env_parse("XUEXIN_EMAIL_RESEND_PER_IP_HOURLY")? {
            config.limits.email_resend_per_ip.max = n;
        }
        if let Some(n) = env_parse("XUEXIN_LOGIN_FAILURES_PER_IP_HOURLY")? {
            config.limits.login_failures_per_ip.max = n;
        }
        if let Some(n) = env_parse("XUEXIN_LOGIN_FAILURES_PER_IP_ACCOUNT_HOURLY")? {
            config.limits.login_failures_per_ip_account.max = n;
        }
        if let Some(n) = env_parse("XUEXIN_REGISTRATIONS_PER_IP_HOURLY")? {
            config.limits.registrations_per_ip.max = n;
        }
        config.digest_key = env("XUEXIN_DIGEST_KEY");
        config.liveness = match (env("XUEXIN_LIVENESS_URL"), env("XUEXIN_LIVENESS_SECRET")) {
            (Some(url), Some(secret)) => Some((url, secret)),
            (None, None) => None,
            _ => bail!("XUEXIN_LIVENESS_URL and XUEXIN_LIVENESS_SECRET go together"),
        };
        config.trust_forwarded_for =
            env_parse::<bool>("XUEXIN_TRUST_FORWARDED_FOR")?.unwrap_or(false);
        if let Some(d) = env_seconds("XUEXIN_SAGA_STALE_SECONDS")? {
            config.saga_stale_after = d;
        }
        if let Some(d) = env_seconds("XUEXIN_TASK_CLAIM_SECONDS")? {
            config.task_claim = d;
        }
        if let Some(path) = env("XUEXIN_HOLIDAYS") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("XUEXIN_HOLIDAYS: cannot read {path}"))?;
            config.calendar = crate::workdays::Calendar::parse(&text)
                .map_err(|e| anyhow::anyhow!("XUEXIN_HOLIDAYS ({path}): {e}"))?;
        }
        if let Some(millis) = env_parse::<u64>("XUEXIN_TASK_DELAY_MS")? {
            config.task_delay = Duration::from_millis(millis);
        }
        if let Some(d) = env_seconds("XUEXIN_IDEMPOTENCY_TAKEOVER_SECONDS")? {
            config.idempotency_takeover = d;
        }
        if let Some(d) = env_seconds("XUEXIN_IDEMPOTENCY_WINDOW_SECONDS")? {
            config.idempotency_window = d;
        }
        config.wechat = match (env("XUEXIN_WECHAT_APPID"), env("XUEXIN_WECHAT_SECRET")) {
            (None, None) => None,
            (Some(app_id), Some(secret)) => Some(crate::oauth::WeChatConfig {
                app_id,
                secret,
                authorize_url: env("XUEXIN_WECHAT_AUTHORIZE_URL")
                    .unwrap_or_else(|| "https://open.weixin.qq.com/connect/qrconnect".into()),
                api_url: env("XUEXIN_WECHAT_API_URL")
                    .unwrap_or_else(|| "https://api.weixin.qq.com".into()),
            }),
            _ => bail!("XUEXIN_WECHAT_APPID and XUEXIN_WECHAT_SECRET go together"),
        };
        config.alipay = match (
            env("XUEXIN_ALIPAY_APP_ID"),
            env("XUEXIN_ALIPAY_PRIVATE_KEY"),
            env("XUEXIN_ALIPAY_PUBLIC_KEY"),
        ) {
            (None, None, None) => None,
            (Some(app_id), Some(private_key), Some(alipay_public_key)) => {
                Some(crate::oauth::AlipayConfig {
                    app_id,
                    private_key,
                    alipay_public_key,
                    authorize_url: env("XUEXIN_ALIPAY_AUTHORIZE_URL").unwrap_or_else(|| {
                        "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm".into()
                    }),
                    gateway_url: env("XUEXIN_ALIPAY_GATEWAY_URL")
                        .unwrap_or_else(|| "https://openapi.alipay.com/gateway.do".into()),
                })
            }
            _ => bail!(
                "XUEXIN_ALIPAY_APP_ID, XUEXIN_ALIPAY_PRIVATE_KEY and XUEXIN_ALIPAY_PUBLIC_KEY go together"
            ),
        };
        config.validate()?;
        Ok(config)
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
