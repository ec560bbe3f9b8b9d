//! Bulk loader: accounts as the registration saga writes them — real event types, serialized
//! by the domain's own serde, with the service's metadata and hash chain — streamed into the
//! `events` table with `COPY`, not through the hashing path. The read models are then built by
//! the service's own `xuexin projections rebuild`, and every process manager (mail, tasks, the
//! NATS relay) is moved to the end of the log so that the history sends nothing.
//!
//! Account `i` has phone `139` + `i` (8 digits), e-mail `u<i>@bench.example` (verified for
//! even `i`), a resident ID derived from `i`, and the password [`PASSWORD`].

use crate::support::xuexin_binary;
use anyhow::Context;
use cqrs_es::Aggregate;
use serde_json::Value;
use sqlx::Connection;
use std::process::Command;
use std::time::Instant;
use xuexin::security::digest::DigestKey;
use xuexin::security::hashing::{hash_now, HashingParams};
use xuexin::store::chain::GENESIS_HASH;
use xuexin::store::event_store::seal;
use xuexin::store::CommandMetadata;
use xuexin_domain::account::{
    Account, AccountEvent, AccountStatus, IdentityClaimMode, PhoneClaimMode, RegistrationChannel,
    RegistrationDetails,
};
use xuexin_domain::identity::{Identity, IdentityEvent};
use xuexin_domain::ids::{identity_id, login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameEvent};
use xuexin_domain::time::{civil_from_days, Timestamp};
use xuexin_domain::values::document::{mask_document_number, resident_id_check_char};
use xuexin_domain::values::{document_number_digest, DocumentSummary, DocumentType, Phone};
use xuexin_domain::{AccountId, Actor};

pub const PASSWORD: &str = "Bench-Passw0rd!2026";
/// The digest key the loader and the service under test share (hex, 32 bytes).
pub const DIGEST_KEY_HEX: &str = "6265e63861ab4e1ebf3ed7f6a3a0e1a94c6e2b4f8e1d2c3b4a59687766554433";

pub fn phone(i: usize) -> String {
    format!("139{i:08}")
}

pub fn email(i: usize) -> String {
    format!("u{i}@bench.example")
}

pub fn email_verified(i: usize) -> bool {
    i % 2 == 0
}

/// A valid, unique resident ID for `i` (up to 36,500,000 distinct): the birth date walks
/// from 1970-01-01 one day per 1,000 people, the sequence number is `i % 1000`.
pub fn resident_id(region: &str, i: usize) -> String {
    let date = civil_from_days((i / 1000) as i64);
    let first17 = format!(
        "{region}{:04}{:02}{:02}{:03}",
        date.year,
        date.month,
        date.day,
        i % 1000
    );
    let check = resident_id_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

pub fn digest_key() -> DigestKey {
    DigestKey::new(hex::decode(DIGEST_KEY_HEX).unwrap_or_default())
}

/// One aggregate's events in the making: its sequence and hash chain so far.
struct Chain {
    sequence: usize,
    last_hash: String,
}

struct Writer {
    rows: Vec<u8>,
    events: u64,
    time: String,
    now: Timestamp,
}

fn copy_escape(text: &str, out: &mut Vec<u8>) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

impl Writer {
    /// Seals the event as the event store does and adds it as one `COPY` row.
    fn push<A: Aggregate>(
        &mut self,
        aggregate_id: &str,
        chain: &mut Chain,
        event: &A::Event,
        metadata: &CommandMetadata,
    ) -> anyhow::Result<()> {
        chain.sequence += 1;
        let sealed = seal::<A>(
            aggregate_id,
            chain.sequence,
            &chain.last_hash,
            event,
            metadata,
            &self.time,
        )?;
        if let Some(hash) = sealed.metadata.get("hash").and_then(Value::as_str) {
            chain.last_hash = hash.to_string();
        }
        for (index, field) in [
            sealed.aggregate_type,
            sealed.aggregate_id,
            sealed.sequence.to_string(),
            sealed.event_type,
            sealed.event_version,
            sealed.payload.to_string(),
            sealed.metadata.to_string(),
        ]
        .iter()
        .enumerate()
        {
            if index > 0 {
                self.rows.push(b'\t');
            }
            copy_escape(field, &mut self.rows);
        }
        self.rows.push(b'\n');
        self.events += 1;
        Ok(())
    }

    /// An aggregate's first event.
    fn start<A: Aggregate>(
        &mut self,
        aggregate_id: &str,
        event: &A::Event,
        metadata: &CommandMetadata,
    ) -> anyhow::Result<Chain> {
        let mut chain = Chain {
            sequence: 0,
            last_hash: GENESIS_HASH.to_string(),
        };
        self.push::<A>(aggregate_id, &mut chain, event, metadata)?;
        Ok(chain)
    }

    fn claim(
        &mut self,
        account_id: AccountId,
        kind: LoginNameKind,
        value: &str,
        metadata: &CommandMetadata,
    ) -> anyhow::Result<()> {
        self.start::<LoginName>(
            &login_name_id(kind, value).to_string(),
            &LoginNameEvent::LoginNameClaimed {
                account_id,
                kind,
                value: value.to_string(),
            },
            metadata,
        )?;
        Ok(())
    }

    /// The events a completed self-service registration leaves, in the saga's order.
    fn account(&mut self, i: usize, password_hash: &str, key: &DigestKey) -> anyhow::Result<()> {
        let account_id = AccountId::new_random();
        let id = account_id.to_string();
        let by_person = CommandMetadata {
            actor: Actor::Account(id.clone()),
            request_id: uuid::Uuid::new_v4().to_string(),
            client_ip: None,
            user_agent: None,
            caused_by: None,
        };
        let phone = Phone::parse(&phone(i))
            .map_err(|e| anyhow::anyhow!("bad generated phone: {e:?}"))?
            .as_str()
            .to_string();
        let email = email(i);
        let number = resident_id("110105", i);
        let digest = document_number_digest(key, &number);
        let document = DocumentSummary {
            kind: DocumentType::ResidentIdCard,
            number_digest: digest.clone(),
            masked: mask_document_number(&number),
        };
        let details = RegistrationDetails {
            name: format!("测试{}", i % 1000),
            phone: Some(phone.clone()),
            document: document.clone(),
            email: Some(email.clone()),
            password_hash: password_hash.to_string(),
            security_questions: Vec::new(),
            channel: RegistrationChannel::SelfService,
            terms_accepted: true,
            identity_claim: IdentityClaimMode::Bind,
            phone_claim: PhoneClaimMode::Claim,
        };
        let mut account =
            self.start::<Account>(&id, &AccountEvent::RegistrationStarted(details), &by_person)?;
        self.claim(account_id, LoginNameKind::Phone, &phone, &by_person)?;
        self.start::<Identity>(
            &identity_id(DocumentType::ResidentIdCard, &digest).to_string(),
            &IdentityEvent::IdentityBound {
                account_id,
                document,
                protected_by: None,
            },
            &by_person,
        )?;
        self.claim(account_id, LoginNameKind::Email, &email, &by_person)?;
        for event in [
            AccountEvent::Registered {
                status: AccountStatus::Active,
            },
            AccountEvent::EmailVerificationRequested {
                email: email.clone(),
                expires_at: self.now.plus_seconds(86_400),
            },
        ] {
            self.push::<Account>(&id, &mut account, &event, &by_person)?;
        }
        if email_verified(i) {
            let by_link = CommandMetadata {
                actor: Actor::Anonymous,
                request_id: uuid::Uuid::new_v4().to_string(),
                client_ip: None,
                user_agent: None,
                caused_by: None,
            };
            self.push::<Account>(
                &id,
                &mut account,
                &AccountEvent::EmailVerified { email },
                &by_link,
            )?;
        }
        Ok(())
    }
}

pub struct Loaded {
    pub accounts: usize,
    pub events: u64,
    pub load_seconds: f64,
    pub rebuild_seconds: f64,
}

/// Streams accounts `from..` into the database until `accounts` are written or, with
/// `max_events`, until the log holds that many events. Then rebuilds the read models.
pub async fn load(
    database_url: &str,
    accounts: usize,
    max_events: Option<u64>,
) -> anyhow::Result<Loaded> {
    migrate(database_url)?;
    let params = HashingParams::OWASP;
    let password_hash = hash_now(params, &xuexin_domain::values::Secret::new(PASSWORD));
    let key = digest_key();
    let mut connection = sqlx::PgConnection::connect(database_url)
        .await
        .context("the benchmark database is unreachable")?;
    let now = xuexin_domain::Clock::now(&xuexin::clock::SystemClock);
    let started = Instant::now();
    let mut written = 0usize;
    let mut events = 0u64;
    const BATCH: usize = 10_000;
    while written < accounts && max_events.is_none_or(|m| events < m) {
        let mut writer = Writer {
            rows: Vec::with_capacity(BATCH * 7 * 700),
            events: 0,
            time: now.to_rfc3339(),
            now,
        };
        let end = (written + BATCH).min(accounts);
        while written < end && max_events.is_none_or(|m| events + writer.events < m) {
            writer.account(written, &password_hash, &key)?;
            written += 1;
        }
        // Sent as many CopyData messages of at most 1 MiB (one message of the whole batch, tens
        // of MiB, once stalled with both ends waiting), and bounded in time so a stall fails.
        let copied = tokio::time::timeout(std::time::Duration::from_secs(300), async {
            let mut copy = connection
                .copy_in_raw(
                    "COPY events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata) FROM STDIN",
                )
                .await?;
            for chunk in writer.rows.chunks(1 << 20) {
                copy.send(chunk).await?;
            }
            copy.finish().await
        })
        .await;
        match copied {
            Ok(result) => {
                result.context("COPY into events failed")?;
            }
            Err(_) => anyhow::bail!("COPY into events stalled for 300 s"),
        }
        events += writer.events;
        let rate = events as f64 / started.elapsed().as_secs_f64();
        eprint!("\r  loaded {written} accounts, {events} events ({rate:.0} events/s)   ");
    }
    eprintln!();
    // A database that has been running has statistics; a freshly loaded one gets them now.
    sqlx::query("ANALYZE events")
        .execute(&mut connection)
        .await?;
    let load_seconds = started.elapsed().as_secs_f64();
    connection.close().await?;

    let started = Instant::now();
    let status = Command::new(xuexin_binary()?)
        .args(["projections", "rebuild"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .status()
        .context("failed to run xuexin projections rebuild")?;
    anyhow::ensure!(status.success(), "xuexin projections rebuild failed");
    let rebuild_seconds = started.elapsed().as_secs_f64();
    skip_history(database_url).await?;
    settle(database_url).await?;
    Ok(Loaded {
        accounts: written,
        events,
        load_seconds,
        rebuild_seconds,
    })
}

/// After a bulk load PostgreSQL has work of its own to do — vacuuming and analysing the new
/// rows, writing the dirty pages out — that would otherwise run during the first
/// measurements: do it now, so they measure the service, not the load's aftermath.
pub async fn settle(database_url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("VACUUM (ANALYZE)")
        .execute(&mut connection)
        .await
        .context("VACUUM after the load failed")?;
    sqlx::query("CHECKPOINT")
        .execute(&mut connection)
        .await
        .context("CHECKPOINT after the load failed (the benchmark connects as a superuser)")?;
    connection.close().await?;
    eprintln!(
        "  vacuumed, analysed and checkpointed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn migrate(database_url: &str) -> anyhow::Result<()> {
    let status = Command::new(xuexin_binary()?)
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .status()
        .context("failed to run xuexin migrate")?;
    anyhow::ensure!(status.success(), "xuexin migrate failed");
    Ok(())
}

/// The log's last (transaction_id, position).
pub async fn log_end(connection: &mut sqlx::PgConnection) -> anyhow::Result<(i64, i64)> {
    let end: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events
          ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_optional(&mut *connection)
    .await?;
    Ok(end.unwrap_or((0, 0)))
}

/// Moves the process managers (mail, tasks) and the NATS relays past the loaded history, and
/// drops mail still waiting to be sent.
pub async fn skip_history(database_url: &str) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    let (transaction_id, position) = log_end(&mut connection).await?;
    let rebuildable: Vec<String> = xuexin::rebuild::rebuildable()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    for projection in xuexin_projections::all()
        .iter()
        .map(|p| p.name().to_string())
        .filter(|name| !rebuildable.contains(name))
        .chain([xuexin::messenger::QUEUE_NAME.to_string()])
    {
        sqlx::query(
            "INSERT INTO projection_checkpoints (projection, transaction_id, position)
             VALUES ($1, $2, $3) ON CONFLICT (projection)
             DO UPDATE SET transaction_id = $2, position = $3",
        )
        .bind(&projection)
        .bind(transaction_id)
        .bind(position)
        .execute(&mut connection)
        .await?;
    }
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, transaction_id, position)
         VALUES ($1, $2, $3) ON CONFLICT (relay) DO UPDATE SET transaction_id = $2, position = $3",
    )
    .bind(format!("nats:{}", crate::nats::STREAM))
    .bind(transaction_id)
    .bind(position)
    .execute(&mut connection)
    .await?;
    // Mail an earlier run on a reused dataset queued and did not send yet would be sent during
    // this run's measurements.
    sqlx::query("DELETE FROM message_outbox WHERE status = 'pending'")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// The same width of row as an e-mail resend writes, for the `pgbench` baseline.
pub async fn sample_row(connection: &mut sqlx::PgConnection) -> anyhow::Result<(String, String)> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT payload::text, metadata::text FROM events
          WHERE event_type = 'EmailVerificationRequested' ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(&mut *connection)
    .await?;
    row.context("no EmailVerificationRequested event to copy the width of")
}
