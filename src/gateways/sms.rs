//! SMS delivery.

use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::values::Phone;
use xuexin_domain::Clock;
use xuexin_projections::Db;

#[async_trait::async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, phone: &Phone, text: &str) -> anyhow::Result<()>;
    fn describe(&self) -> String;
}

/// Keeps every message in `dev_outbox` instead of sending it.
pub struct CaptureSms {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl SmsGateway for CaptureSms {
    #[tracing::instrument(skip_all)]
    async fn send(&self, phone: &Phone, text: &str) -> anyhow::Result<()> {
        super::outbox::put(
            &self.db,
            "sms",
            phone.as_str(),
            "SMS",
            text,
            self.clock.now(),
        )
        .await
    }

    fn describe(&self) -> String {
        "capture (messages are kept in dev_outbox; read them with `xuexin dev outbox`)".into()
    }
}

/// POSTs `{"to": "+86…", "text": "…"}` to a provider's endpoint (bearer token optional);
/// any 2xx is delivery accepted.
pub struct HttpSms {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl HttpSms {
    pub fn new(url: String, token: Option<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("failed to build the SMS HTTP client")?;
        Ok(Self { client, url, token })
    }
}

#[async_trait::async_trait]
impl SmsGateway for HttpSms {
    #[tracing::instrument(skip_all)]
    async fn send(&self, phone: &Phone, text: &str) -> anyhow::Result<()> {
        let mut request = self
            .client
            .post(&self.url)
            .json(&serde_json::json!({ "to": phone.as_str(), "text": text }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(super::redact::http)
            .context("the SMS provider is unreachable")?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("the SMS provider answered {status}");
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("http ({})", super::redact::url(&self.url))
    }
}
