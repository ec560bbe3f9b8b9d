//! The NATS JetStream relay: tails the log in global order and publishes every event to the
//! stream (`XUEXIN_EVENTS`, subjects `xuexin.events.<Aggregate>.<Event>`), with the event's
//! unique id as `Nats-Msg-Id` so that JetStream drops the repeats a restart sends again.
//!
//! Publishes are asynchronous with a bounded window; the checkpoint moves only after JetStream
//! acknowledged every event up to it. While NATS is away, commands keep succeeding and the
//! relay retries; the backlog drains when NATS is back. Nothing secret leaves: password,
//! answer and code hashes are redacted, the client address is left out, and phones are masked
//! unless the stream is configured as internal.

use crate::shutdown::Shutdown;
use crate::store::log::{read_after, Selection};
use crate::store::tail::{self, LogTail, HELD_BACK_RETRY};
use anyhow::Context;
use async_nats::jetstream::{self, context::Publish, stream};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use xuexin_domain::values::mask_phone;
use xuexin_projections::{db_execute, on_db, Checkpoint, Db, StoredEvent};

pub const SUBJECT_PREFIX: &str = "xuexin.events";
/// How long JetStream remembers a message id (a restart's repeats fall inside it).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub nats_url: String,
    pub stream: String,
    /// Phones unmasked (an internal stream); secrets are never published.
    pub internal: bool,
    /// Events read per batch.
    pub batch: i64,
    /// Publishes in flight before the oldest ack is awaited.
    pub window: usize,
    /// The name under which the checkpoint is kept.
    pub name: String,
}

impl RelayConfig {
    pub fn new(nats_url: &str, stream: &str, internal: bool) -> Self {
        Self {
            nats_url: nats_url.to_string(),
            stream: stream.to_string(),
            internal,
            batch: 5000,
            window: 1024,
            name: format!("nats:{stream}"),
        }
    }
}

/// `xuexin.events.Account.PasswordReset`
pub fn subject_of(event: &StoredEvent) -> String {
    format!(
        "{SUBJECT_PREFIX}.{}.{}",
        event.aggregate_type, event.event_type
    )
}

/// The event's unique id: its aggregate and sequence (`Account:3f…:7`).
pub fn message_id(event: &StoredEvent) -> String {
    format!(
        "{}:{}:{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    )
}

fn looks_like_phone(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Masks every phone (an E.164 string) at any depth.
fn mask_phones(value: &mut Value) {
    match value {
        Value::String(text) if looks_like_phone(text) => *text = mask_phone(text),
        Value::Object(map) => map.values_mut().for_each(mask_phones),
        Value::Array(items) => items.iter_mut().for_each(mask_phones),
        _ => {}
    }
}

/// The message as published. Fields in alphabetical order: its bytes are those of the `Value`
/// that [`message_body`] returns (whose map sorts its keys), without building that map.
#[derive(serde::Serialize)]
struct Message<'a> {
    actor: &'a Value,
    aggregate_id: &'a str,
    aggregate_type: &'a str,
    event_type: &'a str,
    event_version: &'a str,
    hash: &'a Value,
    id: String,
    payload: Value,
    position: i64,
    request_id: &'a Value,
    sequence: i64,
    time: &'a Value,
}

static NULL: Value = Value::Null;

/// Secrets redacted and, unless the stream is internal, phones masked.
fn cleaned(mut payload: Value, internal: bool) -> Value {
    crate::audit::redact(&mut payload);
    if !internal {
        mask_phones(&mut payload);
    }
    payload
}

fn message(event: &StoredEvent, payload: Value) -> Message<'_> {
    let meta = |key: &str| event.metadata.get(key).unwrap_or(&NULL);
    Message {
        actor: meta("actor"),
        aggregate_id: &event.aggregate_id,
        aggregate_type: &event.aggregate_type,
        event_type: &event.event_type,
        event_version: &event.event_version,
        hash: meta("hash"),
        id: message_id(event),
        payload,
        position: event.position,
        request_id: meta("request_id"),
        sequence: event.sequence,
        time: meta("time"),
    }
}

/// The message body: the event's identity, time, actor and payload, cleaned for publishing.
pub fn message_body(event: &StoredEvent, internal: bool) -> Value {
    serde_json::to_value(message(event, cleaned(event.payload.clone(), internal)))
        .unwrap_or(Value::Null)
}

/// The published bytes of an event, taking its payload (no copy of it is made).
fn encode(event: &mut StoredEvent, internal: bool) -> serde_json::Result<Vec<u8>> {
    let payload = cleaned(std::mem::take(&mut event.payload), internal);
    serde_json::to_vec(&message(event, payload))
}

pub async fn load_checkpoint(db: &Db, name: &str) -> anyhow::Result<Checkpoint> {
    let row: Option<(i64, i64)> = on_db!(db, pool => {
        sqlx::query_as("SELECT transaction_id, position FROM relay_checkpoints WHERE relay = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .context("failed to read the relay checkpoint")?
    });
    Ok(
        row.map_or_else(Checkpoint::default, |(transaction_id, position)| {
            Checkpoint {
                transaction_id,
                position,
            }
        }),
    )
}

/// Moves the stored checkpoint from `from` to `to`; false if another relay of the same name
/// moved it first (then nothing changes).
async fn save_checkpoint(
    db: &Db,
    name: &str,
    from: Checkpoint,
    to: Checkpoint,
) -> anyhow::Result<bool> {
    let updated = db_execute!(
        db,
        "INSERT INTO relay_checkpoints (relay, transaction_id, position) VALUES ($1, $4, $5)
         ON CONFLICT (relay) DO UPDATE SET transaction_id = excluded.transaction_id,
                                           position = excluded.position
         WHERE relay_checkpoints.transaction_id = $2 AND relay_checkpoints.position = $3",
        name,
        from.transaction_id,
        from.position,
        to.transaction_id,
        to.position,
    )
    .context("failed to save the relay checkpoint")?;
    Ok(updated == 1)
}

/// Creates the stream if it is missing (file storage, the duplicate window above).
pub async fn ensure_stream(context: &jetstream::Context, name: &str) -> anyhow::Result<()> {
    context
        .get_or_create_stream(stream::Config {
            name: name.to_string(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("failed to create stream {name}: {e}"))?;
    Ok(())
}

pub struct Relay {
    db: Db,
    config: RelayConfig,
    /// The node's log tail, shared with its projectors (`None`: read the database).
    tail: Option<std::sync::Arc<LogTail>>,
    /// The stored checkpoint as this relay last read or wrote it, so that a drain does not
    /// read it again (`None`: read it). Writes are fenced on it: if another relay of the same
    /// name moved it, the write changes nothing and the next drain reads it afresh.
    stored: xuexin_projections::checkpoint::Known,
}

impl Relay {
    pub fn new(db: Db, config: RelayConfig) -> Self {
        Self {
            db,
            config,
            tail: None,
            stored: Default::default(),
        }
    }

    /// The stored checkpoint: the copy kept since the last read or write, or the database's.
    async fn stored_checkpoint(&self) -> anyhow::Result<Checkpoint> {
        if let Some(known) = self.stored.get() {
            return Ok(known);
        }
        let stored = load_checkpoint(&self.db, &self.config.name).await?;
        self.stored.set(Some(stored));
        Ok(stored)
    }

    /// Whether this node has committed events past what the relay has published, which its
    /// last read could not see yet (on PostgreSQL, an older transaction was still open).
    fn held_back(&self) -> bool {
        match (&self.tail, self.stored.get()) {
            (Some(tail), Some(at)) => tail::held_back(&self.db, tail.committed_head(), at.position),
            _ => false,
        }
    }

    /// Moves the stored checkpoint from `from` to `to` (fenced: see `stored`).
    async fn store(&self, from: Checkpoint, to: Checkpoint) -> anyhow::Result<()> {
        // Unknown until the write is answered.
        self.stored.set(None);
        if save_checkpoint(&self.db, &self.config.name, from, to).await? {
            self.stored.set(Some(to));
        } else {
            tracing::debug!("another relay moved the checkpoint; reading it again");
        }
        Ok(())
    }

    /// Reads the log through the node's tail, as its projectors do.
    pub fn with_tail(mut self, tail: std::sync::Arc<LogTail>) -> Self {
        self.tail = Some(tail);
        self
    }

    /// A batch after `from`, for a relay that must see the committed head `seen` (`None`:
    /// read the database whatever the tail holds).
    async fn read(&self, from: Checkpoint, seen: Option<i64>) -> anyhow::Result<Vec<StoredEvent>> {
        match &self.tail {
            Some(tail) => {
                tail.read(from, self.config.batch, seen, Selection::everything())
                    .await
            }
            None => read_after(&self.db, from, self.config.batch).await,
        }
    }

    /// Publishes everything after the checkpoint, a batch at a time; returns how many events
    /// went out. The next batch is read while the current one is being published, and the
    /// checkpoint moves after each batch's acks.
    /// `seen`: the committed head a relay woken by a local commit must see (`LogTail::read`).
    #[tracing::instrument(skip_all, fields(stream = %self.config.stream))]
    pub async fn drain(
        &self,
        context: &jetstream::Context,
        seen: Option<i64>,
    ) -> anyhow::Result<usize> {
        let checkpoint = self.stored_checkpoint().await?;
        let mut stored = checkpoint;
        let mut events = self.read(checkpoint, seen).await?;
        let mut published = 0;
        // The end of the last batch JetStream acked, not stored yet: it is stored while the
        // next batch is published.
        let mut acked: Option<Checkpoint> = None;
        while let Some(last) = events.last().map(StoredEvent::checkpoint) {
            let full = events.len() as i64 >= self.config.batch;
            let next = async {
                if full {
                    self.read(last, None).await
                } else {
                    Ok(Vec::new())
                }
            };
            let store = async {
                match acked {
                    Some(at) => self.store(stored, at).await,
                    None => Ok(()),
                }
            };
            let count = events.len();
            let (sent, next, saved) = tokio::join!(self.publish(context, events), next, store);
            saved?;
            if let Some(at) = acked {
                stored = at;
            }
            sent?;
            // Every event of the batch is stored in the stream: the checkpoint may move there.
            acked = Some(last);
            published += count;
            events = next?;
        }
        if let Some(at) = acked {
            self.store(stored, at).await?;
        }
        Ok(published)
    }

    /// Publishes the events with at most `window` awaiting acks; returns once all are acked.
    async fn publish(
        &self,
        context: &jetstream::Context,
        events: Vec<StoredEvent>,
    ) -> anyhow::Result<()> {
        let mut in_flight = VecDeque::with_capacity(self.config.window);
        for mut event in events {
            if in_flight.len() >= self.config.window {
                let ack: async_nats::jetstream::context::PublishAckFuture =
                    in_flight.pop_front().context("window bookkeeping")?;
                ack.await
                    .map_err(|e| anyhow::anyhow!("no ack from JetStream: {e}"))?;
            }
            let body =
                encode(&mut event, self.config.internal).context("failed to encode a message")?;
            let ack = context
                .send_publish(
                    subject_of(&event),
                    Publish::build()
                        .payload(body.into())
                        .message_id(message_id(&event)),
                )
                .await
                .map_err(|e| anyhow::anyhow!("failed to publish: {e}"))?;
            in_flight.push_back(ack);
        }
        while let Some(ack) = in_flight.pop_front() {
            ack.await
                .map_err(|e| anyhow::anyhow!("no ack from JetStream: {e}"))?;
        }
        Ok(())
    }

    /// Runs until shutdown: connects (and reconnects), publishes, and waits for new events.
    pub async fn run(self, commits: std::sync::Arc<tokio::sync::Notify>, mut shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let connected = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(2))
                .retry_on_initial_connect()
                .connect(&self.config.nats_url)
                .await;
            let client = match connected {
                Ok(client) => client,
                Err(error) => {
                    tracing::warn!(%error, "NATS is unreachable; events wait in the log");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.wait() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let mut context = jetstream::new(client);
            context.set_timeout(Duration::from_secs(5));
            if let Err(error) = ensure_stream(&context, &self.config.stream).await {
                tracing::warn!(error = format!("{error:#}"), "JetStream is not ready");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            tracing::info!(stream = %self.config.stream, "relaying events to NATS JetStream");
            let mut by_commit = false;
            loop {
                if shutdown.is_triggered() {
                    return;
                }
                // Listening before the drain: a commit during it wakes the next one at once.
                let notified = commits.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let seen = match (&self.tail, by_commit) {
                    (Some(tail), true) => Some(tail.committed_head()),
                    _ => None,
                };
                match self.drain(&context, seen).await {
                    Ok(published) => {
                        backoff = Duration::from_millis(200);
                        if published > 0 {
                            tracing::debug!(published, "events relayed");
                        }
                        // The drain read to the end of the log: wait for the next commit
                        // here, or the clock for another node's. On PostgreSQL a commit of
                        // this node can be out of reach while an older transaction is open:
                        // look again soon, as projectors do.
                        let held_back = self.held_back();
                        let wait = if held_back {
                            HELD_BACK_RETRY
                        } else {
                            Duration::from_millis(250)
                        };
                        by_commit = tokio::select! {
                            _ = &mut notified => true,
                            _ = tokio::time::sleep(wait) => false,
                            _ = shutdown.wait() => return,
                        };
                        if !by_commit && !held_back {
                            // Another relay of the same name may have moved the checkpoint.
                            self.stored.set(None);
                        }
                    }
                    Err(error) => {
                        // Nothing after the checkpoint is lost: the next round sends it again
                        // and JetStream drops what it already has (same message id).
                        tracing::warn!(error = format!("{error:#}"), "relay interrupted");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.wait() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        by_commit = false;
                        if context.get_stream(&self.config.stream).await.is_err() {
                            break; // reconnect and make sure the stream exists
                        }
                    }
                }
            }
        }
    }
}

/// The JSON of a message as `xuexin events tail` prints it.
pub fn tail_line(subject: &str, payload: &[u8]) -> String {
    let body: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    json!({"subject": subject, "event": body}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: Value) -> StoredEvent {
        StoredEvent {
            position: 7,
            transaction_id: 0,
            aggregate_type: "Account".into(),
            aggregate_id: "a1".into(),
            sequence: 3,
            event_type: "PhoneChanged".into(),
            event_version: "1.0".into(),
            payload,
            metadata: json!({"actor": "account:a1", "client_ip": "10.0.0.1", "time": "2026-11-23T00:00:00.000Z"}),
        }
    }

    #[test]
    fn phones_are_masked_and_secrets_never_leave() {
        let stored = event(
            json!({"PhoneChanged": {"old": "+8613612341011", "new": "+447911123456"},
                                   "password_hash": "$argon2id$v=19$x"}),
        );
        let body = message_body(&stored, false);
        let text = body.to_string();
        assert!(text.contains("136****1011"), "{text}");
        assert!(
            !text.contains("13612341011") && !text.contains("7911123456"),
            "{text}"
        );
        assert!(
            !text.contains("argon2") && !text.contains("10.0.0.1"),
            "{text}"
        );
        assert_eq!(body["id"], "Account:a1:3");
        assert_eq!(subject_of(&stored), "xuexin.events.Account.PhoneChanged");
        // An internal stream keeps phones, never secrets.
        let internal = message_body(&stored, true).to_string();
        assert!(internal.contains("+8613612341011") && !internal.contains("argon2"));
    }

    #[test]
    fn the_published_bytes_are_the_message_body() {
        for internal in [false, true] {
            let mut stored = event(
                json!({"PhoneChanged": {"old": null, "new": "+8613612341011"},
                                          "answer_hash": "$argon2id$v=19$y"}),
            );
            stored.metadata["hash"] = json!("ab12");
            stored.metadata["request_id"] = json!("r-1");
            let body = serde_json::to_vec(&message_body(&stored, internal)).unwrap();
            assert_eq!(encode(&mut stored, internal).unwrap(), body);
        }
    }
}
