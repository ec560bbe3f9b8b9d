//! Startup: wires the services from the configuration (`Runtime`) and runs the application
//! (`Application`: the HTTP server plus the background loops: projectors, mail delivery,
//! process managers, registration recovery, the NATS relay). Nothing below the adapters
//! imports this module.

use crate::application::account::AccountManagement;
use crate::application::email::EmailVerification;
use crate::application::identity::IdentityClaims;
use crate::application::login::Login;
use crate::application::records::Records;
use crate::application::recovery::Recovery;
use crate::application::registration::Registration;
use crate::captcha::Captchas;
use crate::clock::SystemClock;
use crate::codes::SmsCodes;
use crate::config::{Config, MailConfig, SmsGatewayConfig};
use crate::deferred::DeferredQueue;
use crate::gateways::mail::{CaptureMail, SmtpMail};
use crate::gateways::sms::{CaptureSms, HttpSms};
use crate::gateways::{MailSender, SmsGateway};
use crate::messenger::{MessageDelivery, Messenger};
use crate::projector::{Projector, ReadYourWrites};
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::sessions::Sessions;
use crate::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::state::{AppState, SharedState};
use crate::store::tail::LogTail;
use crate::store::{self, Db, EventStore};
use anyhow::Context;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use xuexin_domain::account::AccountServices;
use xuexin_domain::Clock;

/// Everything `serve` runs. Built first (so the port is known), run second.
pub struct Application {
    state: SharedState,
    listener: TcpListener,
    projectors: Vec<Arc<Projector>>,
    tail: Arc<LogTail>,
    delivery: Arc<MessageDelivery>,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
}

/// Connects to the database named by the configuration and brings its schema up to date:
/// over `MIGRATION_DATABASE_URL` (the owner) when it is set, else over the service's own
/// connection. With migrations off (`--no-migrate`), only checks that the schema is current.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    if config.migrate {
        if let Some(owner_url) = &config.migration_database_url {
            let owner = store::connect(owner_url, 2)
                .await
                .context("failed to connect with MIGRATION_DATABASE_URL")?;
            let migrated = store::migrate(&owner).await;
            owner.close().await;
            migrated?;
        }
    }
    let db = store::connect(&config.database_url, config.database_connections).await?;
    if !config.migrate || config.migration_database_url.is_some() {
        store::check_schema(&db).await?;
    } else {
        store::migrate(&db).await?;
    }
    Ok(db)
}

/// The digest key: from the configuration if set, else generated once and kept in the database.
pub async fn digest_key(config: &Config, db: &Db, clock: &dyn Clock) -> anyhow::Result<DigestKey> {
    let bytes = match &config.digest_key {
        Some(hex_key) => hex::decode(hex_key).context("XUEXIN_DIGEST_KEY must be hex")?,
        None => store::service_key(db, "digest", clock.now().millis()).await?,
    };
    Ok(DigestKey::new(bytes))
}

/// The shared state and the background workers, without an HTTP listener (CLI commands use
/// this directly; `serve` adds the listener).
pub struct Runtime {
    pub state: SharedState,
    pub projectors: Vec<Arc<Projector>>,
    /// The log's newest events, read once for the projectors and the relay.
    pub tail: Arc<LogTail>,
    pub delivery: Arc<MessageDelivery>,
}

impl Runtime {
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let db = open_database(&config).await?;
        let digest = digest_key(&config, &db, clock.as_ref()).await?;
        let hasher = HashPool::start(config.hashing, config.hash_workers, config.hash_queue);

        let sms: Arc<dyn SmsGateway> = match &config.sms {
            SmsGatewayConfig::Capture => Arc::new(CaptureSms {
                db: db.clone(),
                clock: clock.clone(),
            }),
            SmsGatewayConfig::Http { url, token } => {
                Arc::new(HttpSms::new(url.clone(), token.clone())?)
            }
        };
        let mail: Arc<dyn MailSender> = match &config.mail {
            MailConfig::Capture => Arc::new(CaptureMail {
                db: db.clone(),
                clock: clock.clone(),
            }),
            MailConfig::Smtp { url } => Arc::new(SmtpMail::new(url, &config.mail_from)?),
        };
        tracing::info!(
            backend = db.backend().as_str(),
            database = %crate::config::redact_url(&config.database_url),
            sms = %sms.describe(),
            mail = %mail.describe(),
            dev_mode = config.dev_mode,
            "xuexin starting"
        );
        if config.is_sqlite() {
            tracing::info!("no PostgreSQL DATABASE_URL: running on the embedded SQLite database");
        }

        let store = Arc::new(EventStore::new(
            db.clone(),
            clock.clone(),
            config.snapshot_every,
        ));
        let mut projections = xuexin_projections::all();
        projections.push(Arc::new(Messenger {
            clock: clock.clone(),
            quiet_until: crate::messenger::replaced_queue_position(&db).await?,
        }));
        let tail = Arc::new(LogTail::new(db.clone(), store.committed_head()));
        let projectors: Vec<Arc<Projector>> = projections
            .into_iter()
            .map(|p| Arc::new(Projector::new(db.clone(), p, Some(tail.clone()))))
            .collect();
        let applied = |name: &str| {
            projectors
                .iter()
                .find(|p| p.name() == name)
                .map_or_else(|| Arc::new(Notify::new()), |p| p.applied())
        };
        let mail_wake = applied(crate::messenger::QUEUE_NAME);
        let task_wakes = vec![
            applied(xuexin_projections::binder::NAME),
            applied(xuexin_projections::transfers::NAME),
        ];
        let reads = ReadYourWrites::new(db.clone(), &projectors, config.read_wait);
        let limiter = RateLimiter::new(db.clone(), clock.clone());
        let codes = SmsCodes::new(
            db.clone(),
            digest.clone(),
            clock.clone(),
            sms.clone(),
            limiter.clone(),
            config.limits.clone(),
            config.registration_code_ttl,
        );
        let account_services = AccountServices {
            clock: clock.clone(),
            hasher: hasher.clone(),
            lockout: config.lockout,
            email_verification_ttl_seconds: config.email_verification_ttl.as_secs() as i64,
        };
        // One copy of the signing keys for the provider and the back-channel sender.
        let signing_keys =
            crate::security::signing::SigningKeys::new(db.clone(), &digest, clock.clone());
        let delivery = Arc::new(MessageDelivery {
            db: db.clone(),
            clock: clock.clone(),
            mail,
            sms,
            public_url: config.public_url.clone(),
            wake: mail_wake.clone(),
            backchannel: crate::messenger::BackchannelSender {
                keys: signing_keys.clone(),
                issuer: config.public_url.trim_end_matches('/').to_string(),
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .context("failed to build the back-channel HTTP client")?,
                allow_private: config.dev_mode,
            },
        });
        let sessions = Sessions::new(db.clone(), clock.clone(), config.session_ttl);
        let liveness = match &config.liveness {
            Some((url, secret)) => {
                Some(Arc::new(crate::gateways::liveness::LivenessProvider::new(
                    url.clone(),
                    secret.as_bytes().to_vec(),
                )?))
            }
            None => None,
        };
        // Where SMS codes are captured rather than sent (a developer's machine, or `--dev`),
        // captcha answers are captured beside them, so the walk-through can be scripted.
        let reveal_captchas =
            config.dev_mode || matches!(config.sms, crate::config::SmsGatewayConfig::Capture);
        let captchas = Captchas::new(db.clone(), digest.clone(), clock.clone(), reveal_captchas);
        let oauth = Arc::new(crate::oauth::Providers {
            wechat: config
                .wechat
                .clone()
                .map(crate::oauth::WeChat::new)
                .transpose()?,
            alipay: config
                .alipay
                .clone()
                .map(crate::oauth::Alipay::new)
                .transpose()?,
        });
        let deferred_wake = Arc::new(Notify::new());
        let deferred = DeferredQueue {
            db: db.clone(),
            clock: clock.clone(),
            wake: deferred_wake.clone(),
        };
        let login = Login {
            store: store.clone(),
            digest: digest.clone(),
            hasher: hasher.clone(),
            account_services: account_services.clone(),
            clock: clock.clone(),
            limiter: limiter.clone(),
            sessions: sessions.clone(),
            deferred: deferred.clone(),
            failures_per_ip: config.limits.login_failures_per_ip,
            failures_per_ip_account: config.limits.login_failures_per_ip_account,
        };
        let account = AccountManagement {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            hasher: hasher.clone(),
            account_services: account_services.clone(),
            limiter: limiter.clone(),
            codes: codes.clone(),
            sessions: sessions.clone(),
            digest: digest.clone(),
            mail_wake: mail_wake.clone(),
        };
        let email = EmailVerification {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            limiter: limiter.clone(),
            deferred: deferred.clone(),
            reads: reads.clone(),
            account_services: account_services.clone(),
            resends_per_ip: config.limits.email_resend_per_ip,
            resends_per_address: config.limits.email_resend_per_account,
        };
        let identity = IdentityClaims {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            limiter: limiter.clone(),
            liveness: liveness.clone(),
            public_url: config.public_url.clone(),
        };
        let records = Records {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            digest: digest.clone(),
        };
        let recovery = Recovery {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            captchas: captchas.clone(),
            limiter: limiter.clone(),
            digest: digest.clone(),
            codes: codes.clone(),
            hasher: hasher.clone(),
            account_services: account_services.clone(),
            sessions: sessions.clone(),
            login: login.clone(),
            account: account.clone(),
            captchas_per_ip: config.limits.captchas_per_ip,
        };
        let registration = Registration {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            codes: codes.clone(),
            limiter: limiter.clone(),
            hasher: hasher.clone(),
            digest: digest.clone(),
            account_services: account_services.clone(),
            registrations_per_ip: config.limits.registrations_per_ip,
            saga_stale_after: config.saga_stale_after,
        };
        let external = crate::application::external::ExternalLogins {
            db: db.clone(),
            clock: clock.clone(),
            providers: oauth,
            login: login.clone(),
            account: account.clone(),
            public_url: config.public_url.clone(),
        };
        let support = crate::application::support::Support {
            store: store.clone(),
            db: db.clone(),
            clock: clock.clone(),
            limiter: limiter.clone(),
        };
        let config_overload = (config.max_concurrent_requests, config.request_timeout);
        let platforms_registry = crate::application::platforms::Platforms {
            store: store.clone(),
            db: db.clone(),
            digest: digest.clone(),
        };
        let sso = crate::application::sso::Sso {
            store: store.clone(),
            db: db.clone(),
            digest: digest.clone(),
            clock: clock.clone(),
            platforms: platforms_registry.clone(),
            keys: signing_keys,
            account_services: account_services.clone(),
            issuer: config.public_url.trim_end_matches('/').to_string(),
        };
        let state = Arc::new(AppState {
            sso,
            support,
            registration,
            account,
            email,
            identity,
            records,
            recovery,
            login,
            deferred,
            config,
            db,
            clock,
            store,
            digest,
            hasher,
            account_services,
            sessions,
            codes,
            limiter,
            reads,
            mail_wake,
            deferred_wake,
            task_wakes,
            liveness,
            captchas,
            external,
            platforms: platforms_registry,
            overload: crate::state::Overload::new(config_overload.0, config_overload.1),
        });
        Ok(Self {
            state,
            projectors,
            tail,
            delivery,
        })
    }

    /// Applies everything in the log to every projection (CLI tools, after writing).
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        for projector in &self.projectors {
            projector.catch_up().await?;
        }
        Ok(())
    }
}

/// How long SIGTERM waits for the requests in flight when there is no request timeout.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(30);
/// Added to the drain, and the longest wait for the database's connections to close.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);
/// How long the background loops have, together, to finish their batch.
const SHUTDOWN_BACKGROUND: Duration = Duration::from_secs(10);

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        crate::http::monitoring::install();
        let listen = config.listen;
        let Runtime {
            state,
            projectors,
            tail,
            delivery,
        } = Runtime::open(config).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("failed to listen on {listen}"))?;
        let (trigger, shutdown) = shutdown::channel();
        Ok(Self {
            state,
            listener,
            projectors,
            tail,
            delivery,
            trigger,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Starts the background loops and serves HTTP until `stop` resolves.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = self.spawn_background();
        let router =
            crate::http::router(self.state.clone(), crate::web::router(self.state.clone()));
        let addr = self.local_addr();
        tracing::info!(%addr, "listening");
        let shutdown = self.shutdown.clone();
        let trigger = self.trigger;
        let (signalled, mut signal) = tokio::sync::watch::channel(false);
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            let _ = signalled.send(true);
        });
        // On the signal the listener closes and the requests in flight finish (their reads
        // still find the projectors running), for at most the request timeout and a margin;
        // only then do the background loops stop, each after the batch it is in.
        let drain = self.state.config.request_timeout.unwrap_or(SHUTDOWN_DRAIN) + SHUTDOWN_MARGIN;
        let result = tokio::select! {
            served = serve.into_future() => served.context("the HTTP server failed"),
            () = async {
                let _ = signal.wait_for(|s| *s).await;
                tokio::time::sleep(drain).await;
            } => {
                tracing::warn!(seconds = drain.as_secs(), "requests still running after the drain time; stopping anyway");
                Ok(())
            }
        };
        tracing::info!("requests drained; stopping the background loops");
        trigger.trigger();
        let mut shutdown = shutdown;
        shutdown.wait().await;
        let aborts: Vec<_> = background.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(SHUTDOWN_BACKGROUND, futures::future::join_all(background))
            .await
            .is_err()
        {
            tracing::warn!("background loops still busy after their time; aborting them");
            for abort in aborts {
                abort.abort();
            }
        }
        if tokio::time::timeout(SHUTDOWN_MARGIN, self.state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still busy at exit");
        }
        result
    }

    fn spawn_background(&self) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let poll = self.state.config.projector_poll;
        for projector in &self.projectors {
            tasks.push(tokio::spawn(projector.clone().run(
                self.state.store.commits(),
                self.state.store.committed_head(),
                poll,
                self.shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(
            self.delivery
                .clone()
                .run(Duration::from_millis(500), self.shutdown.clone()),
        ));
        tasks.push(tokio::spawn(crate::tasks::task_loop(
            self.state.task_runner(),
            self.state.task_wakes.clone(),
            poll,
            self.shutdown.clone(),
        )));
        tasks.push(tokio::spawn(
            crate::application::registration::recovery_loop(
                self.state.registration.clone(),
                self.shutdown.clone(),
            ),
        ));
        tasks.push(tokio::spawn(crate::deferred::deferred_loop(
            crate::deferred::DeferredWorker {
                db: self.state.db.clone(),
                clock: self.state.clock.clone(),
                store: self.state.store.clone(),
                account_services: self.state.account_services.clone(),
            },
            self.state.deferred_wake.clone(),
            self.shutdown.clone(),
        )));
        tasks.push(tokio::spawn(crate::housekeeping::housekeeping_loop(
            self.state.housekeeper(),
            self.shutdown.clone(),
        )));
        if let Some(url) = &self.state.config.nats_url {
            let relay = crate::relay::Relay::new(
                self.state.db.clone(),
                crate::relay::RelayConfig::new(
                    url,
                    &self.state.config.nats_stream,
                    self.state.config.nats_internal,
                ),
            )
            .with_tail(self.tail.clone());
            tasks.push(tokio::spawn(
                relay.run(self.state.store.commits(), self.shutdown.clone()),
            ));
        }
        tasks
    }
}
