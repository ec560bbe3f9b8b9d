//! The services every request and background loop shares, built by `startup`.

use crate::application::account::AccountManagement;
use crate::application::email::EmailVerification;
use crate::application::identity::IdentityClaims;
use crate::application::login::Login;
use crate::application::records::Records;
use crate::application::recovery::Recovery;
use crate::application::registration::Registration;
use crate::captcha::Captchas;
use crate::codes::SmsCodes;
use crate::config::Config;
use crate::deferred::DeferredQueue;
use crate::projector::ReadYourWrites;
use crate::ratelimit::RateLimiter;
use crate::security::{DigestKey, HashPool};
use crate::sessions::Sessions;
use crate::store::{Db, EventStore};
use std::sync::Arc;
use tokio::sync::Notify;
use xuexin_domain::account::AccountServices;
use xuexin_domain::Clock;

pub struct AppState {
    /// Registration's services (`application::registration`).
    pub registration: Registration,
    /// Account management's services (`application::account`).
    pub account: AccountManagement,
    /// E-mail verification's services (`application::email`).
    pub email: EmailVerification,
    /// The identity claims' services (`application::identity`).
    pub identity: IdentityClaims,
    /// The record use cases' services (`application::records`).
    pub records: Records,
    /// Recovery's services (`application::recovery`).
    pub recovery: Recovery,
    /// Login's services (`application::login`).
    pub login: Login,
    /// Where requests queue commands to run after their answer.
    pub deferred: DeferredQueue,
    pub config: Config,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<EventStore>,
    pub digest: DigestKey,
    pub hasher: Arc<HashPool>,
    pub account_services: AccountServices,
    pub sessions: Sessions,
    pub codes: SmsCodes,
    pub limiter: RateLimiter,
    pub reads: ReadYourWrites,
    pub mail_wake: Arc<Notify>,
    /// Notified when a request queued a command to run after its answer (`deferred`).
    pub deferred_wake: Arc<Notify>,
    /// Notified when a process manager has queued tasks.
    pub task_wakes: Vec<Arc<Notify>>,
    /// The real-person check provider, when configured.
    pub liveness: Option<Arc<crate::gateways::liveness::LivenessProvider>>,
    pub captchas: Captchas,
    /// 问题反馈's services (`application::support`).
    pub support: crate::application::support::Support,
    /// WeChat and Alipay login flows (`application::external`).
    pub external: crate::application::external::ExternalLogins,
    /// The partner platforms (`application::platforms`).
    pub platforms: crate::application::platforms::Platforms,
    /// The OpenID provider (`application::sso`).
    pub sso: crate::application::sso::Sso,
    /// The limits on requests at once and on a request's time (`http::overload`).
    pub overload: Overload,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Housekeeping's parts (the loop and the tests that sweep by hand).
    pub fn housekeeper(&self) -> crate::housekeeping::Housekeeper {
        crate::housekeeping::Housekeeper {
            db: self.db.clone(),
            clock: self.clock.clone(),
            idempotency_window: self.config.idempotency_window,
        }
    }

    /// The process-task loop's parts.
    pub fn task_runner(&self) -> crate::tasks::TaskRunner {
        crate::tasks::TaskRunner {
            db: self.db.clone(),
            clock: self.clock.clone(),
            store: self.store.clone(),
            account_services: self.account_services.clone(),
            task_claim: self.config.task_claim,
            task_delay: self.config.task_delay,
        }
    }
}

/// The limits on requests at once and on a request's time, which `http::overload` applies.
#[derive(Clone)]
pub struct Overload {
    permits: Arc<tokio::sync::Semaphore>,
    /// The semaphore's size: requests served at once.
    max: usize,
    timeout: Option<std::time::Duration>,
}

impl Overload {
    pub fn new(max_concurrent: usize, timeout: Option<std::time::Duration>) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            max: max_concurrent.max(1),
            timeout,
        }
    }

    /// A place among the requests served at once, if one is free.
    pub fn try_acquire(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }
}
