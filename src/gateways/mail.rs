//! E-mail delivery.

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use xuexin_domain::Clock;
use xuexin_projections::Db;

#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait::async_trait]
pub trait MailSender: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> anyhow::Result<()>;
    fn describe(&self) -> String;
}

pub struct CaptureMail {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl MailSender for CaptureMail {
    #[tracing::instrument(skip_all)]
    async fn send(&self, mail: &OutgoingMail) -> anyhow::Result<()> {
        super::outbox::put(
            &self.db,
            "email",
            &mail.to,
            &mail.subject,
            &mail.body,
            self.clock.now(),
        )
        .await
    }

    fn describe(&self) -> String {
        "capture (mail is kept in dev_outbox; read it with `xuexin dev outbox`)".into()
    }
}

/// SMTP through lettre: `smtp://host:port` speaks plain SMTP (a local relay),
/// `smtp://host:port?tls=required` upgrades with STARTTLS, `smtps://host:port` is TLS from
/// the start; credentials go in the URL's user and password.
pub struct SmtpMail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    url_without_credentials: String,
}

impl SmtpMail {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("invalid XUEXIN_SMTP_URL")?
            .build();
        let from = from.parse().context("invalid XUEXIN_MAIL_FROM")?;
        let url_without_credentials = super::redact::url(url);
        Ok(Self {
            transport,
            from,
            url_without_credentials,
        })
    }
}

#[async_trait::async_trait]
impl MailSender for SmtpMail {
    #[tracing::instrument(skip_all)]
    async fn send(&self, mail: &OutgoingMail) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail.to.parse().context("invalid recipient address")?)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .context("failed to build the message")?;
        self.transport
            .send(message)
            .await
            .map_err(|e| anyhow::anyhow!(super::redact::text(&format!("{e:#}"))))
            .context("the SMTP server refused or could not be reached")?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("smtp ({})", self.url_without_credentials)
    }
}
