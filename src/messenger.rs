//! Mail and SMS the account's events call for, crash-safe end to end:
//! 1. a command commits the event (`EmailVerificationRequested`, `PasswordResetRequested`,
//!    `PasswordReset`, `SecurityAnswersFailed`, …) with the account's other events;
//! 2. the messenger (a process manager on the log) turns it into `message_outbox` rows in the
//!    same transaction as its checkpoint — exactly once per event. It keeps its own copy of
//!    where each account can be reached (`messenger_contacts`), so its decisions follow the log;
//! 3. delivery claims due rows, mints any link token at send time (only its hash is stored),
//!    sends, and retries with back-off until it is sent or would be too late to matter.

use crate::gateways::{MailSender, OutgoingMail, SmsGateway};
use crate::messages::{self, Language};
use crate::security::{new_token, token_hash};
use crate::shutdown::Shutdown;
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::account::AccountEvent;
use xuexin_domain::values::{mask_email, mask_phone, Phone};
use xuexin_domain::{Clock, Timestamp};
use xuexin_projections::{
    db::{execute_rows, Param},
    db_execute, on_db, on_tx, tx_execute, Db, DomainEventKind, Projection, ProjectionError,
    StoredEvent, Tx,
};

pub const QUEUE_NAME: &str = "messenger_v1";
pub const VERIFY_EMAIL: &str = "email_verification";
pub const PASSWORD_RESET: &str = "password_reset";
/// A reset link lives an hour.
pub const RESET_LINK_SECONDS: i64 = 3600;
/// A notice that could not be sent within a week is dropped.
const NOTICE_SECONDS: i64 = 7 * 24 * 3600;
/// How long a claimed row is reserved for the node that claimed it.
const CLAIM_MILLIS: i64 = 60_000;

/// Security notices: what happened, sent to the bound phone and verified e-mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notice {
    PasswordReset,
    PasswordChanged,
    SecurityAnswersAccepted,
    SecurityAnswersFailed,
    PhoneChanged,
    EmailChanged,
    AccountLocked,
}

impl Notice {
    fn kind(self) -> &'static str {
        match self {
            Self::PasswordReset => "notice.password_reset",
            Self::PasswordChanged => "notice.password_changed",
            Self::SecurityAnswersAccepted => "notice.security_answers_accepted",
            Self::SecurityAnswersFailed => "notice.security_answers_failed",
            Self::PhoneChanged => "notice.phone_changed",
            Self::EmailChanged => "notice.email_changed",
            Self::AccountLocked => "notice.account_locked",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        [
            Self::PasswordReset,
            Self::PasswordChanged,
            Self::SecurityAnswersAccepted,
            Self::SecurityAnswersFailed,
            Self::PhoneChanged,
            Self::EmailChanged,
            Self::AccountLocked,
        ]
        .into_iter()
        .find(|n| n.kind() == kind)
    }

    /// The catalogue key of the notice's text (its subject is `{key}.subject`).
    fn key(self) -> &'static str {
        match self {
            Self::PasswordReset => "notice.password_reset",
            Self::PasswordChanged => "notice.password_changed",
            Self::SecurityAnswersAccepted => "notice.security_answers_accepted",
            Self::SecurityAnswersFailed => "notice.security_answers_failed",
            Self::PhoneChanged => "notice.phone_changed",
            Self::EmailChanged => "notice.email_changed",
            Self::AccountLocked => "notice.account_locked",
        }
    }

    /// (subject, text) in `language`. `at` is the event's time (Beijing time), `detail` a
    /// masked value.
    fn text(self, language: Language, at: &str, detail: &str) -> (&'static str, String) {
        let key = self.key();
        (
            messages::text_in(&format!("{key}.subject"), language),
            messages::format_in(key, language, &[("at", at), ("detail", detail)]),
        )
    }
}

/// `2026-11-22 10:30` in Beijing time (UTC+8), as the notices show it.
pub fn beijing_time(at: Timestamp) -> String {
    let shifted = at.plus_seconds(8 * 3600);
    let date = shifted.date();
    let seconds_of_day = shifted.millis().div_euclid(1000).rem_euclid(86_400);
    format!(
        "{}-{:02}-{:02} {:02}:{:02}",
        date.year,
        date.month,
        date.day,
        seconds_of_day / 3600,
        (seconds_of_day % 3600) / 60
    )
}

pub struct Messenger {
    pub clock: Arc<dyn Clock>,
    /// Events up to this checkpoint (in the log's global order) were handled by
    /// `mail_queue_v1`, which this process manager replaced: it builds its contacts from them
    /// but sends nothing for them again.
    pub quiet_until: xuexin_projections::Checkpoint,
}

/// Where the replaced mail queue stopped (the start on a database that never had it).
pub async fn replaced_queue_position(
    db: &xuexin_projections::Db,
) -> anyhow::Result<xuexin_projections::Checkpoint> {
    let row: Option<(i64, i64)> = xuexin_projections::on_db!(db, pool => {
        sqlx::query_as(
            "SELECT transaction_id, position FROM projection_checkpoints
             WHERE projection = 'mail_queue_v1'",
        )
        .fetch_optional(pool)
        .await?
    });
    Ok(
        row.map_or_else(Default::default, |(transaction_id, position)| {
            xuexin_projections::Checkpoint {
                transaction_id,
                position,
            }
        }),
    )
}

struct Contacts {
    phone: Option<String>,
    email: Option<String>,
    email_verified: bool,
}

async fn contacts(tx: &mut Tx, account_id: &str) -> Result<Contacts, ProjectionError> {
    let row: Option<(Option<String>, Option<String>, i64)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT phone, email, email_verified FROM messenger_contacts WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(conn)
        .await?
    });
    Ok(match row {
        Some((phone, email, verified)) => Contacts {
            phone,
            email,
            email_verified: verified != 0,
        },
        None => Contacts {
            phone: None,
            email: None,
            email_verified: false,
        },
    })
}

fn decode(event: &StoredEvent) -> Result<DomainEventKind, ProjectionError> {
    event.decode().map_err(|source| ProjectionError::Decode {
        position: event.position,
        event_type: event.event_type.clone(),
        source,
    })
}

/// An outbox row's columns, for [`write_outbox`]: its id (the event and the channel), channel,
/// kind, account, recipient, payload, expiry and the time it is queued at. None for an event
/// the mail queue this messenger replaced had handled (one row per event and channel, once).
#[allow(clippy::too_many_arguments)]
fn outbox_row(
    quiet_until: xuexin_projections::Checkpoint,
    event: &StoredEvent,
    channel: &str,
    kind: &str,
    recipient: &str,
    payload: Value,
    expires_at: Timestamp,
    now: Timestamp,
) -> Option<Vec<Param>> {
    if event.checkpoint() <= quiet_until {
        return None;
    }
    Some(vec![
        Param::Text(format!(
            "{}:{}:{channel}",
            event.aggregate_id, event.sequence
        )),
        Param::Text(channel.to_string()),
        Param::Text(kind.to_string()),
        Param::Text(event.aggregate_id.clone()),
        Param::Text(recipient.to_string()),
        Param::Text(payload.to_string()),
        Param::Int(expires_at.millis()),
        Param::Int(now.millis()),
    ])
}

/// Queues outbox rows in one statement, each at most once. Each is written in its account's
/// language as it is when the message is queued (none named when the messenger has no
/// contacts row for it), read in the statement that queues it.
async fn write_outbox(tx: &mut Tx, rows: &[Vec<Param>]) -> Result<(), ProjectionError> {
    let head = match tx {
        Tx::Postgres(_) => {
            "INSERT INTO message_outbox (id, channel, kind, account_id, recipient, payload, expires_at, created_at, next_attempt_at)
             SELECT column1, column2, column3, column4, column5,
                    (column6::jsonb || COALESCE((SELECT jsonb_build_object('language', language)
                                                 FROM messenger_contacts WHERE account_id = column4),
                                                '{}'::jsonb))::text,
                    column7, column8, column8
               FROM ("
        }
        Tx::Sqlite(_) => {
            "INSERT INTO message_outbox (id, channel, kind, account_id, recipient, payload, expires_at, created_at, next_attempt_at)
             SELECT column1, column2, column3, column4, column5,
                    json_patch(column6, COALESCE((SELECT json_object('language', language)
                                                  FROM messenger_contacts WHERE account_id = column4),
                                                 '{}')),
                    column7, column8, column8
               FROM ("
        }
    };
    // (`WHERE true`: SQLite reads an upsert after `INSERT … SELECT` only after a WHERE.)
    execute_rows(
        tx,
        head,
        &[
            "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT",
        ],
        ") AS queued WHERE true ON CONFLICT (id) DO NOTHING",
        rows,
    )
    .await?;
    Ok(())
}

impl Messenger {
    /// A notice to the bound phone and to the verified e-mail (or to `only`, an address the
    /// account just left).
    async fn notify(
        &self,
        tx: &mut Tx,
        event: &StoredEvent,
        notice: Notice,
        detail: &str,
        only: Option<(&str, &str)>,
    ) -> Result<(), ProjectionError> {
        let now = self.clock.now();
        let expires_at = event.time().plus_seconds(NOTICE_SECONDS);
        if expires_at <= now {
            return Ok(()); // met again long after (a reset checkpoint): too late to matter
        }
        let payload = json!({"at": event.time().millis(), "detail": detail});
        let targets: Vec<(String, String)> = match only {
            Some((channel, recipient)) => vec![(channel.to_string(), recipient.to_string())],
            None => {
                let contacts = contacts(tx, &event.aggregate_id).await?;
                let mut targets = Vec::new();
                if let Some(phone) = contacts.phone {
                    targets.push(("sms".to_string(), phone));
                }
                if let (Some(email), true) = (contacts.email, contacts.email_verified) {
                    targets.push(("email".to_string(), email));
                }
                targets
            }
        };
        let rows: Vec<Vec<Param>> = targets
            .into_iter()
            .filter_map(|(channel, recipient)| {
                outbox_row(
                    self.quiet_until,
                    event,
                    &channel,
                    notice.kind(),
                    &recipient,
                    payload.clone(),
                    expires_at,
                    now,
                )
            })
            .collect();
        write_outbox(tx, &rows).await
    }

    /// The outbox row of an `EmailVerificationRequested` event: the link's mail to `email`.
    fn verification_row(
        &self,
        event: &StoredEvent,
        email: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Option<Vec<Param>> {
        outbox_row(
            self.quiet_until,
            event,
            "email",
            VERIFY_EMAIL,
            email,
            json!({}),
            expires_at,
            now,
        )
    }

    /// A reset or change of the password: reset links still waiting to be sent are dead.
    async fn cancel_reset_links(tx: &mut Tx, account_id: &str) -> Result<(), ProjectionError> {
        tx_execute!(
            tx,
            "UPDATE message_outbox SET status = 'cancelled'
             WHERE account_id = $1 AND kind = $2 AND status = 'pending'",
            account_id,
            PASSWORD_RESET,
        )?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Projection for Messenger {
    fn name(&self) -> &'static str {
        QUEUE_NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    /// Replaying it would send every message again.
    fn rebuildable(&self) -> bool {
        false
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Account"])
    }

    fn event_types_of(&self, _aggregate_type: &str) -> Option<&'static [&'static str]> {
        Some(&[
            "RegistrationStarted",
            "EmailVerificationRequested",
            "EmailVerified",
            "PasswordResetRequested",
            "PasswordReset",
            "PasswordChanged",
            "SecurityAnswersAccepted",
            "AccountLocked",
            "SecurityAnswersFailed",
            "PhoneChanged",
            "LanguageChosen",
            "PhoneUnbound",
            "EmailChanged",
        ])
    }

    /// As `apply` one by one, but the verification mails of a run of events are queued in one
    /// statement (a busy log's mails are mostly these: resends and registrations). Any other
    /// event first writes what is queued, so that it sees (and cancels, or changes the
    /// language of) every earlier row.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let now = self.clock.now();
        let mut queued = Vec::new();
        for event in events {
            if event.aggregate_type == "Account" && event.event_type == "EmailVerificationRequested"
            {
                if let DomainEventKind::Account(AccountEvent::EmailVerificationRequested {
                    email,
                    expires_at,
                }) = decode(event)?
                {
                    if expires_at > now {
                        queued.extend(self.verification_row(event, &email, expires_at, now));
                    }
                    continue;
                }
            }
            write_outbox(tx, &queued).await?;
            queued.clear();
            self.apply(tx, event).await?;
        }
        write_outbox(tx, &queued).await
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Account" {
            return Ok(());
        }
        let DomainEventKind::Account(account_event) = decode(event)? else {
            return Ok(());
        };
        let id = event.aggregate_id.as_str();
        let now = self.clock.now();
        match account_event {
            AccountEvent::RegistrationStarted(details) => {
                tx_execute!(
                    tx,
                    "INSERT INTO messenger_contacts (account_id, phone, email, email_verified)
                     VALUES ($1, $2, $3, 0) ON CONFLICT (account_id) DO NOTHING",
                    id,
                    &details.phone,
                    &details.email,
                )?;
            }
            AccountEvent::EmailVerificationRequested { email, expires_at } if expires_at > now => {
                let row = self.verification_row(event, &email, expires_at, now);
                write_outbox(tx, row.as_slice()).await?;
            }
            AccountEvent::EmailVerified { email } => {
                tx_execute!(
                    tx,
                    "UPDATE messenger_contacts SET email = $2, email_verified = 1 WHERE account_id = $1",
                    id,
                    &email,
                )?;
            }
            AccountEvent::PasswordResetRequested { generation, .. } => {
                let expires_at = event.time().plus_seconds(RESET_LINK_SECONDS);
                let contacts = contacts(tx, id).await?;
                if let (Some(email), true, true) =
                    (contacts.email, contacts.email_verified, expires_at > now)
                {
                    write_outbox(
                        tx,
                        outbox_row(
                            self.quiet_until,
                            event,
                            "email",
                            PASSWORD_RESET,
                            &email,
                            json!({"generation": generation}),
                            expires_at,
                            now,
                        )
                        .as_slice(),
                    )
                    .await?;
                }
            }
            AccountEvent::PasswordReset { .. } => {
                Self::cancel_reset_links(tx, id).await?;
                self.notify(tx, event, Notice::PasswordReset, "", None)
                    .await?;
            }
            AccountEvent::PasswordChanged { .. } => {
                Self::cancel_reset_links(tx, id).await?;
                self.notify(tx, event, Notice::PasswordChanged, "", None)
                    .await?;
            }
            AccountEvent::SecurityAnswersAccepted => {
                self.notify(tx, event, Notice::SecurityAnswersAccepted, "", None)
                    .await?;
            }
            AccountEvent::AccountLocked { until, .. } => {
                let detail = beijing_time(until);
                self.notify(tx, event, Notice::AccountLocked, &detail, None)
                    .await?;
            }
            AccountEvent::SecurityAnswersFailed { .. } => {
                self.notify(tx, event, Notice::SecurityAnswersFailed, "", None)
                    .await?;
            }
            AccountEvent::PhoneChanged { old, new } => {
                tx_execute!(
                    tx,
                    "UPDATE messenger_contacts SET phone = $2 WHERE account_id = $1",
                    id,
                    &new,
                )?;
                if let Some(old) = old {
                    self.notify(
                        tx,
                        event,
                        Notice::PhoneChanged,
                        &mask_phone(&new),
                        Some(("sms", &old)),
                    )
                    .await?;
                }
            }
            AccountEvent::LanguageChosen { language } => {
                tx_execute!(
                    tx,
                    "UPDATE messenger_contacts SET language = $2 WHERE account_id = $1",
                    id,
                    language.tag(),
                )?;
            }
            AccountEvent::PhoneUnbound { .. } => {
                tx_execute!(
                    tx,
                    "UPDATE messenger_contacts SET phone = NULL WHERE account_id = $1",
                    id
                )?;
            }
            AccountEvent::EmailChanged { old, new } => {
                let before = contacts(tx, id).await?;
                tx_execute!(
                    tx,
                    "UPDATE messenger_contacts SET email = $2, email_verified = 0 WHERE account_id = $1",
                    id,
                    &new,
                )?;
                // The old address hears of it if it was ever confirmed as the account's.
                if let (Some(old), true) = (old, before.email_verified) {
                    self.notify(
                        tx,
                        event,
                        Notice::EmailChanged,
                        &mask_email(&new),
                        Some(("email", &old)),
                    )
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

pub struct MessageDelivery {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub mail: Arc<dyn MailSender>,
    pub sms: Arc<dyn SmsGateway>,
    pub public_url: String,
    pub wake: Arc<Notify>,
    /// Back-channel logouts to the partner platforms (channel `backchannel`).
    pub backchannel: BackchannelSender,
}

/// Sends OpenID Back-Channel Logout 1.0 tokens: a JWT signed with the ID-token key, posted as
/// `logout_token` to the platform's registered URI. Minted at send time, so a retry carries a
/// fresh `iat`/`exp` and a new `jti`.
#[derive(Clone)]
pub struct BackchannelSender {
    pub keys: crate::security::signing::SigningKeys,
    pub issuer: String,
    pub http: reqwest::Client,
    /// Development mode: loopback and private addresses may receive logouts (local test
    /// platforms). In production they are refused, so a platform's URI cannot make xuexin
    /// call into its own network.
    pub allow_private: bool,
}

/// The logout token's event member (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Whether `uri` names a loopback, private, link-local or unspecified address literally (or
/// `localhost`).
pub fn private_target(uri: &str) -> bool {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(inner) = authority.strip_prefix('[') {
        inner.split(']').next().unwrap_or("")
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

impl BackchannelSender {
    #[tracing::instrument(skip_all, fields(client_id = payload["client_id"].as_str().unwrap_or("")))]
    async fn send(&self, uri: &str, payload: &Value) -> anyhow::Result<()> {
        if !self.allow_private && private_target(uri) {
            anyhow::bail!("a back-channel URI on a private address is refused outside dev mode");
        }
        let now = unix_seconds();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "aud": payload["client_id"],
            "iat": now,
            "exp": now + 120,
            "jti": new_token(),
            "sub": payload["sub"],
            "sid": payload["sid"],
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        let token = self.keys.sign("logout+jwt", &claims).await?;
        let response = self
            .http
            .post(uri)
            .form(&[("logout_token", token)])
            .send()
            .await
            .context("the platform's back-channel URI did not answer")?;
        if response.status().is_success() {
            Ok(())
        } else {
            anyhow::bail!("the platform answered {}", response.status())
        }
    }
}

/// Seconds since the epoch, by the system clock (a logout token's `iat`).
fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: String,
    channel: String,
    kind: String,
    account_id: String,
    recipient: String,
    payload: String,
    expires_at: i64,
    attempts: i64,
    created_at: i64,
}

/// Messages claimed at once. Their claim must outlast their sending: a batch stops sending
/// after half the claim and gives the rest back.
const DELIVERY_BATCH: i64 = 100;

/// A message ready for its channel.
enum Outgoing {
    Mail(OutgoingMail),
    Sms(Phone, String),
    /// A back-channel logout: the platform's URI and the token's subject, sid and audience.
    Logout(String, Value),
}

impl MessageDelivery {
    /// Delivers what is due now; returns how many were sent.
    ///
    /// One statement claims a batch (a row another node claimed meanwhile no longer matches,
    /// so none is claimed twice) and one marks the batch's sent rows; only a failure or an
    /// expiry is written per row. A crash between sending and marking sends those messages
    /// again once their claim runs out, as a crash between one send and its mark always did.
    #[tracing::instrument(skip(self))]
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let mut sent = 0;
        loop {
            let (claimed, batch_sent) = self.deliver_batch().await?;
            sent += batch_sent;
            if claimed < DELIVERY_BATCH as usize {
                return Ok(sent);
            }
        }
    }

    /// One claimed batch: how many were claimed, and how many of them were sent.
    async fn deliver_batch(&self) -> anyhow::Result<(usize, usize)> {
        let now = self.clock.now().millis();
        let mut due: Vec<DueRow> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "UPDATE message_outbox SET next_attempt_at = $1
                 WHERE id IN (SELECT id FROM message_outbox
                               WHERE status = 'pending' AND next_attempt_at <= $2
                               ORDER BY next_attempt_at LIMIT $3)
                   AND status = 'pending' AND next_attempt_at <= $2
                 RETURNING id, channel, kind, account_id, recipient, payload, expires_at, attempts, created_at",
            )
            .bind(now + CLAIM_MILLIS)
            .bind(now)
            .bind(DELIVERY_BATCH)
            .fetch_all(pool)
            .await
            .context("failed to claim due messages")?
        });
        due.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let claimed = due.len();
        let tokens = self.mint_verification_tokens(&due, now).await?;
        let mut sent = Vec::with_capacity(due.len());
        let mut rows = due.into_iter();
        for row in rows.by_ref() {
            if row.expires_at <= now {
                db_execute!(
                    &self.db,
                    "UPDATE message_outbox SET status = 'expired' WHERE id = $1",
                    &row.id
                )?;
                continue;
            }
            let result = match self.prepare(&row, tokens.get(&row.id)).await {
                Ok(Outgoing::Mail(mail)) => self.mail.send(&mail).await,
                Ok(Outgoing::Sms(phone, text)) => self.sms.send(&phone, &text).await,
                Ok(Outgoing::Logout(uri, payload)) => self.backchannel.send(&uri, &payload).await,
                Err(error) => Err(error),
            };
            match result {
                Ok(()) => {
                    metrics::counter!("xuexin_outbox_sent_total", "channel" => row.channel.clone())
                        .increment(1);
                    sent.push(row.id);
                }
                Err(error) => {
                    metrics::counter!("xuexin_outbox_failures_total", "channel" => row.channel.clone())
                        .increment(1);
                    let retry_in = 5_000i64
                        .saturating_mul(1 << row.attempts.clamp(0, 10))
                        .min(3_600_000);
                    tracing::warn!(message = %row.id, channel = %row.channel, attempts = row.attempts + 1, error = format!("{error:#}"), "message delivery failed; will retry");
                    db_execute!(
                        &self.db,
                        "UPDATE message_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                         WHERE id = $1",
                        &row.id,
                        self.clock.now().millis() + retry_in,
                        format!("{error:#}"),
                    )?;
                }
            }
            if self.clock.now().millis() - now >= CLAIM_MILLIS / 2 {
                break; // slow channels: the rest go back before their claim could run out
            }
        }
        let unsent: Vec<String> = rows.map(|row| row.id).collect();
        self.update_each(&unsent, "next_attempt_at = $2", now)
            .await
            .context("failed to give back claimed messages")?;
        self.update_each(
            &sent,
            "status = 'sent', sent_at = $2, attempts = attempts + 1",
            self.clock.now().millis(),
        )
        .await
        .context("failed to mark messages sent")?;
        Ok((claimed, sent.len()))
    }

    /// `UPDATE message_outbox SET <set> WHERE id` is one of `ids`, in one statement; `set`
    /// may use `$2`, bound to `value`.
    async fn update_each(&self, ids: &[String], set: &str, value: i64) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Postgres(pool) => {
                sqlx::query(&format!(
                    "UPDATE message_outbox SET {set} WHERE id = ANY($1)"
                ))
                .bind(ids)
                .bind(value)
                .execute(pool)
                .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(&format!(
                    "UPDATE message_outbox SET {set} WHERE id IN (SELECT value FROM json_each($1))"
                ))
                .bind(serde_json::to_string(ids)?)
                .bind(value)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The link tokens of a batch's verification mails, minted and stored (only their hashes)
    /// in one statement; by message id.
    async fn mint_verification_tokens(
        &self,
        rows: &[DueRow],
        now: i64,
    ) -> anyhow::Result<HashMap<String, String>> {
        let tokens: HashMap<String, String> = rows
            .iter()
            .filter(|row| row.kind == VERIFY_EMAIL && row.expires_at > now)
            .map(|row| (row.id.clone(), new_token()))
            .collect();
        let stored: Vec<Vec<Param>> = rows
            .iter()
            .filter_map(|row| Some((row, tokens.get(&row.id)?)))
            .map(|(row, token)| {
                vec![
                    Param::Text(token_hash(token)),
                    Param::Text(row.account_id.clone()),
                    Param::Text(row.recipient.clone()),
                    Param::Text(VERIFY_EMAIL.into()),
                    Param::Int(now),
                    Param::Int(row.expires_at),
                ]
            })
            .collect();
        if stored.is_empty() {
            return Ok(tokens);
        }
        let mut tx = self.db.begin().await?;
        execute_rows(
            &mut tx,
            "INSERT INTO email_tokens (token_hash, account_id, email, purpose, created_at, expires_at)",
            &["TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT"],
            "",
            &stored,
        )
        .await
        .context("failed to store e-mail tokens")?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Writes the message; a verification mail carries the link `token` minted for it.
    async fn prepare(&self, row: &DueRow, token: Option<&String>) -> anyhow::Result<Outgoing> {
        let now = self.clock.now();
        let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
        // The language the message was queued in (zh-CN when none was named).
        let language = payload["language"]
            .as_str()
            .and_then(Language::from_tag)
            .unwrap_or_default();
        match row.kind.as_str() {
            "logout" if row.channel == "backchannel" => {
                Ok(Outgoing::Logout(row.recipient.clone(), payload))
            }
            VERIFY_EMAIL => {
                let token = token.context("a verification mail without its token")?;
                let link = format!("{}/verify-email?token={token}", self.public_url);
                let until = beijing_time(Timestamp::from_millis(row.expires_at));
                Ok(Outgoing::Mail(OutgoingMail {
                    to: row.recipient.clone(),
                    subject: messages::text_in("mail.verify_email.subject", language).to_string(),
                    body: messages::format_in(
                        "mail.verify_email",
                        language,
                        &[("until", &until), ("link", &link)],
                    ),
                }))
            }
            PASSWORD_RESET => {
                let generation = payload["generation"]
                    .as_u64()
                    .context("a reset mail without its generation")?;
                let token = crate::store::tickets::issue_ticket(
                    &self.db,
                    &row.account_id,
                    crate::store::tickets::Stage::Reset,
                    Some("email"),
                    generation as u32,
                    Timestamp::from_millis(row.expires_at),
                    now,
                )
                .await?;
                let link = format!("{}/reset-password?token={token}", self.public_url);
                let until = beijing_time(Timestamp::from_millis(row.expires_at));
                Ok(Outgoing::Mail(OutgoingMail {
                    to: row.recipient.clone(),
                    subject: messages::text_in("mail.password_reset.subject", language).to_string(),
                    body: messages::format_in(
                        "mail.password_reset",
                        language,
                        &[("until", &until), ("link", &link)],
                    ),
                }))
            }
            kind => {
                let notice =
                    Notice::parse(kind).with_context(|| format!("unknown message kind {kind}"))?;
                let at = beijing_time(Timestamp::from_millis(
                    payload["at"]
                        .as_i64()
                        .unwrap_or(row.expires_at - NOTICE_SECONDS * 1000),
                ));
                let detail = payload["detail"].as_str().unwrap_or("");
                let (subject, text) = notice.text(language, &at, detail);
                match row.channel.as_str() {
                    "sms" => {
                        let phone = Phone::parse(&row.recipient)
                            .map_err(|_| anyhow::anyhow!("a notice to an invalid phone"))?;
                        Ok(Outgoing::Sms(phone, text))
                    }
                    _ => Ok(Outgoing::Mail(OutgoingMail {
                        to: row.recipient.clone(),
                        subject: subject.to_string(),
                        body: messages::format_in("mail.greeting", language, &[("text", &text)]),
                    })),
                }
            }
        }
    }

    pub async fn run(self: Arc<Self>, poll: Duration, mut shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Err(error) = self.deliver_due().await {
                tracing::error!(error = format!("{error:#}"), "message delivery loop failed");
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
}

/// A verification token, if it is live; marks it used. Single use, even under concurrency.
pub async fn consume_email_token(
    db: &Db,
    token: &str,
    purpose: &str,
    now: Timestamp,
) -> anyhow::Result<Option<(String, String)>> {
    let hash = token_hash(token);
    let row: Option<(String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "UPDATE email_tokens SET consumed_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3
             RETURNING account_id, email",
        )
        .bind(&hash)
        .bind(purpose)
        .bind(now.millis())
        .fetch_optional(pool)
        .await
        .context("failed to consume an e-mail token")?
    });
    Ok(row)
}

#[cfg(test)]
mod tests {

    #[test]
    fn private_back_channel_targets_are_recognised() {
        for uri in [
            "http://127.0.0.1:8080/bc",
            "http://localhost/bc",
            "https://10.1.2.3/bc",
            "https://192.168.0.9:8443/bc",
            "https://172.20.0.1/bc",
            "http://[::1]:9000/bc",
            "https://[fd00::1]/bc",
            "https://169.254.169.254/latest",
        ] {
            assert!(super::private_target(uri), "{uri}");
        }
        for uri in [
            "https://yz.example.cn/bc",
            "https://8.8.8.8/bc",
            "https://172.32.0.1/",
        ] {
            assert!(!super::private_target(uri), "{uri}");
        }
    }

    use super::*;

    #[test]
    fn notices_show_beijing_time() {
        // 2026-11-22T02:30:00Z is 10:30 in Beijing.
        let at = Timestamp::parse_rfc3339("2026-11-22T02:30:00Z").unwrap();
        assert_eq!(beijing_time(at), "2026-11-22 10:30");
        let late = Timestamp::parse_rfc3339("2026-11-22T18:05:00Z").unwrap();
        assert_eq!(beijing_time(late), "2026-11-23 02:05");
    }
}
