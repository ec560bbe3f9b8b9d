//! 微信登录 / 支付宝登录: a flow with the platform, started for a login or for binding the
//! platform's user to the logged-in account, and finished when the platform sends the browser
//! back with a code. The flow's `state` is single use and bound to the browser that started it
//! and, for a bind, to the account. The JSON API and the web pages start and finish the same
//! flows; only where the platform sends the browser back differs.

use super::account::{AccountManagement, ManageError};
use super::login::{external_login, LoggedIn, Login, LoginError};
use crate::oauth::{ExchangeError, Provider, Providers, Purpose};
use crate::store::{CommandMetadata, Db};
use std::sync::Arc;
use xuexin_domain::{AccountId, Actor, Clock, Timestamp};

/// What the external-login flows use.
#[derive(Clone)]
pub struct ExternalLogins {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub providers: Arc<Providers>,
    pub login: Login,
    pub account: AccountManagement,
    /// The service's public address, the base of the return addresses.
    pub public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// Neither `wechat` nor `alipay`.
    #[error("no such provider")]
    ProviderInvalid,
    /// The provider is not configured here.
    #[error("the provider is not configured")]
    ProviderUnavailable,
    /// No live flow of this provider started in this browser has that state.
    #[error("the flow's state is invalid")]
    StateInvalid,
    /// The platform sent the browser back without a code: the person said no.
    #[error("the person declined")]
    Denied,
    /// The platform refused the code, or could not be reached.
    #[error("the platform's exchange of the code failed")]
    Exchange(ExchangeError),
    #[error(transparent)]
    Login(LoginError),
    #[error(transparent)]
    Manage(ManageError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A started flow: where to send the browser, and the flow's state.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub expires_at: Timestamp,
}

/// How a flow ended.
pub enum Finished {
    LoggedIn(LoggedIn),
    Linked(Provider),
}

impl ExternalLogins {
    /// The provider `raw` names, if it is configured.
    pub fn provider(&self, raw: &str) -> Result<Provider, ExternalError> {
        let provider = Provider::parse(raw).ok_or(ExternalError::ProviderInvalid)?;
        if self.providers.configured(provider) {
            Ok(provider)
        } else {
            Err(ExternalError::ProviderUnavailable)
        }
    }

    /// Starts a flow from `browser` (a random value in the browser's cookie). A bind names the
    /// account it binds to. `return_path` is where the platform sends the browser back.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
    pub async fn start(
        &self,
        provider: Provider,
        purpose: Purpose,
        account: Option<AccountId>,
        browser: &str,
        return_path: &str,
    ) -> Result<Started, ExternalError> {
        let account = account.map(|id| id.to_string());
        let (state, expires_at) = crate::oauth::new_state(
            &self.db,
            provider,
            purpose,
            account.as_deref(),
            browser,
            self.clock.now(),
        )
        .await?;
        let redirect_uri = format!("{}{return_path}", self.public_url.trim_end_matches('/'));
        let authorize_url = self
            .providers
            .authorize_url(provider, &redirect_uri, &state)
            .ok_or(ExternalError::ProviderUnavailable)?;
        Ok(Started {
            authorize_url,
            state,
            expires_at,
        })
    }

    /// Finishes a flow: the state is used up first (a code cannot be tried twice on one
    /// flow), then the code is exchanged for the platform's user, who logs in or is bound.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
    pub async fn finish(
        &self,
        provider: Provider,
        state: Option<&str>,
        browser: Option<&str>,
        code: Option<&str>,
        request: &CommandMetadata,
    ) -> Result<Finished, ExternalError> {
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(ExternalError::StateInvalid)?;
        let browser = browser.ok_or(ExternalError::StateInvalid)?;
        let now = self.clock.now();
        let (purpose, account) = crate::oauth::take_state(&self.db, provider, state, browser, now)
            .await?
            .ok_or(ExternalError::StateInvalid)?;
        let code = code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(ExternalError::Denied)?;
        let subject = self
            .providers
            .exchange(provider, code, now)
            .await
            .map_err(ExternalError::Exchange)?;
        match purpose {
            Purpose::Login => {
                let metadata = CommandMetadata {
                    actor: Actor::Anonymous,
                    ..request.clone()
                };
                external_login(&self.login, provider, &subject, &metadata)
                    .await
                    .map(Finished::LoggedIn)
                    .map_err(ExternalError::Login)
            }
            Purpose::Bind => {
                let account_id = account
                    .as_deref()
                    .and_then(AccountId::parse)
                    .ok_or(ExternalError::StateInvalid)?;
                let metadata = CommandMetadata {
                    actor: Actor::Account(account_id.to_string()),
                    ..request.clone()
                };
                self.account
                    .link_external_login(account_id, provider, &subject, &metadata)
                    .await
                    .map_err(ExternalError::Manage)?;
                Ok(Finished::Linked(provider))
            }
        }
    }
}
