//! Command execution over the postgres-es / sqlite-es repositories: load an aggregate (from a
//! snapshot and the events after it), let it handle a command, append its events with
//! metadata and the hash chain, and retry from a fresh load when another writer got there
//! first. Answers the committed position so a client can read its own write.

use super::chain::{event_hash, ChainInput, GENESIS_HASH};
use crate::faults;
use anyhow::Context;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use postgres_es::PostgresEventRepository;
use serde_json::{Map, Value};
use sqlite_es::SqliteEventRepository;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use xuexin_domain::{Actor, Clock};
use xuexin_projections::{db_execute, on_db, Db};

/// Bump when any aggregate's serialized state changes shape: older snapshots are then ignored.
pub const SNAPSHOT_SCHEMA_VERSION: i64 = 2;
const MAX_ATTEMPTS: u32 = 60;

/// Who and what caused a command; stored in every event's metadata (all but the User-Agent,
/// which only a session opened by the command keeps, to name its device).
#[derive(Clone, Debug)]
pub struct CommandMetadata {
    pub actor: Actor,
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// For a process manager's command: the position of the command's event it descends from
    /// (`caused_by` in the metadata; `?settled=` follows it).
    pub caused_by: Option<i64>,
}

impl CommandMetadata {
    pub fn system(process: &str) -> Self {
        Self {
            actor: Actor::System(process.to_string()),
            request_id: uuid::Uuid::new_v4().to_string(),
            client_ip: None,
            user_agent: None,
            caused_by: None,
        }
    }
}

pub struct Loaded<A> {
    pub aggregate: A,
    pub sequence: usize,
    last_hash: String,
    snapshot_sequence: usize,
}

/// What a command wrote. `position` is the log position of its last event (`None` when the
/// command changed nothing).
pub struct Committed<A: Aggregate> {
    pub aggregate: A,
    pub events: Vec<A::Event>,
    pub position: Option<i64>,
}

/// What a batch did: per command its events or its refusal, and the last position written.
pub struct BatchOutcome<A: Aggregate> {
    pub results: Vec<Result<Vec<A::Event>, A::Error>>,
    pub position: Option<i64>,
}

pub enum ExecuteError<E> {
    /// The aggregate refused the command.
    Domain(E),
    /// Other writers kept winning the race for this aggregate.
    Contention,
    Store(anyhow::Error),
}

impl<E: fmt::Debug> fmt::Debug for ExecuteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(e) => write!(f, "Domain({e:?})"),
            Self::Contention => f.write_str("Contention"),
            Self::Store(e) => write!(f, "Store({e:#})"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ExecuteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(e) => write!(f, "{e}"),
            Self::Contention => f.write_str("too many concurrent writers for one aggregate"),
            Self::Store(e) => write!(f, "event store error: {e:#}"),
        }
    }
}

impl<E> From<anyhow::Error> for ExecuteError<E> {
    fn from(value: anyhow::Error) -> Self {
        Self::Store(value)
    }
}

enum Repository {
    Postgres(PostgresEventRepository),
    Sqlite(SqliteEventRepository),
}

enum PersistFailure {
    Conflict,
    Other(anyhow::Error),
}

pub struct EventStore {
    db: Db,
    repository: Repository,
    clock: Arc<dyn Clock>,
    snapshot_every: usize,
    committed: Arc<Notify>,
}

impl EventStore {
    pub fn new(db: Db, clock: Arc<dyn Clock>, snapshot_every: usize) -> Self {
        let repository = match &db {
            Db::Postgres(pool) => Repository::Postgres(PostgresEventRepository::new(pool.clone())),
            Db::Sqlite(pool) => Repository::Sqlite(SqliteEventRepository::new(pool.clone())),
        };
        Self {
            db,
            repository,
            clock,
            snapshot_every: snapshot_every.max(1),
            committed: Arc::new(Notify::new()),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Notified after every commit; projectors wait on it.
    pub fn commits(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    /// The aggregate as of its last event.
    #[tracing::instrument(skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load<A: Aggregate>(&self, aggregate_id: &str) -> anyhow::Result<Loaded<A>> {
        let snapshot = self.read_snapshot::<A>(aggregate_id).await?;
        let (mut aggregate, mut sequence, mut last_hash) =
            snapshot.unwrap_or_else(|| (A::default(), 0, GENESIS_HASH.to_string()));
        let snapshot_sequence = sequence;
        let serialized = if sequence == 0 {
            match &self.repository {
                Repository::Postgres(r) => r.get_events::<A>(aggregate_id).await,
                Repository::Sqlite(r) => r.get_events::<A>(aggregate_id).await,
            }
        } else {
            match &self.repository {
                Repository::Postgres(r) => r.get_last_events::<A>(aggregate_id, sequence).await,
                Repository::Sqlite(r) => r.get_last_events::<A>(aggregate_id, sequence).await,
            }
        }
        .map_err(|e| anyhow::anyhow!("failed to load events: {e}"))?;
        for event in serialized {
            let (_, payload) = xuexin_domain::upcast::upcast(
                &event.aggregate_type,
                &event.event_type,
                &event.event_version,
                event.payload,
            );
            let payload: A::Event = serde_json::from_value(payload).with_context(|| {
                format!(
                    "failed to decode {} {} #{}",
                    A::TYPE,
                    event.event_type,
                    event.sequence
                )
            })?;
            aggregate.apply(payload);
            sequence = event.sequence;
            if let Some(hash) = event.metadata.get("hash").and_then(Value::as_str) {
                last_hash = hash.to_string();
            }
        }
        Ok(Loaded {
            aggregate,
            sequence,
            last_hash,
            snapshot_sequence,
        })
    }

    /// Loads the aggregate, runs the command, appends the events. On a lost race the whole
    /// cycle runs again against the new state, so the aggregate's rules decide the outcome.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id))]
    pub async fn execute<A>(
        &self,
        aggregate_id: &str,
        command: A::Command,
        services: &A::Services,
        metadata: &CommandMetadata,
    ) -> Result<Committed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let loaded = self.load::<A>(aggregate_id).await?;
            let mut aggregate = loaded.aggregate;
            let sink = EventSink::<A>::default();
            aggregate
                .handle(command.clone(), services, &sink)
                .await
                .map_err(ExecuteError::Domain)?;
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Committed {
                    aggregate,
                    events,
                    position: None,
                });
            }
            let serialized = self.serialize::<A>(
                aggregate_id,
                loaded.sequence,
                &loaded.last_hash,
                &events,
                metadata,
            )?;
            match self.persist::<A>(&serialized).await {
                Ok(()) => {
                    let last = serialized.last().map_or(0, |e| e.sequence);
                    self.committed.notify_waiters();
                    faults::hit("store.after_commit");
                    let position = self.position_of(A::TYPE, aggregate_id, last).await?;
                    if last - loaded.snapshot_sequence >= self.snapshot_every {
                        let hash = serialized
                            .last()
                            .and_then(|e| e.metadata.get("hash"))
                            .and_then(Value::as_str)
                            .unwrap_or(GENESIS_HASH);
                        if let Err(error) = self
                            .write_snapshot(aggregate_id, &aggregate, last, hash)
                            .await
                        {
                            tracing::warn!(error = %error, "failed to write a snapshot");
                        }
                    }
                    return Ok(Committed {
                        aggregate,
                        events,
                        position: Some(position),
                    });
                }
                Err(PersistFailure::Conflict) => {
                    tracing::debug!(attempt, "lost a write race; retrying from a fresh load");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(PersistFailure::Other(error)) => return Err(ExecuteError::Store(error)),
            }
        }
        Err(ExecuteError::Contention)
    }

    /// Runs many commands, each on its own aggregate, and appends all their events in one
    /// transaction (imports). Each command sees the events of the commands before it on the
    /// same aggregate. On a lost race the whole batch runs again from a fresh load.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, commands = commands.len()))]
    pub async fn execute_batch<A>(
        &self,
        commands: &[(String, A::Command)],
        services: &A::Services,
        metadata: &CommandMetadata,
    ) -> Result<BatchOutcome<A>, ExecuteError<A::Error>>
    where
        A: Aggregate + Clone,
        A::Command: Clone,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let ids: Vec<String> = commands.iter().map(|(id, _)| id.clone()).collect();
            let mut loaded = self.load_many::<A>(&ids).await?;
            let mut results = Vec::with_capacity(commands.len());
            let mut serialized = Vec::new();
            for (id, command) in commands {
                let entry = loaded.entry(id.clone()).or_insert_with(|| Loaded {
                    aggregate: A::default(),
                    sequence: 0,
                    last_hash: GENESIS_HASH.to_string(),
                    snapshot_sequence: 0,
                });
                let sink = EventSink::<A>::default();
                let before = entry.aggregate.clone();
                match entry
                    .aggregate
                    .handle(command.clone(), services, &sink)
                    .await
                {
                    Ok(()) => {
                        let events = sink.collect().await;
                        let mut written = self.serialize::<A>(
                            id,
                            entry.sequence,
                            &entry.last_hash,
                            &events,
                            metadata,
                        )?;
                        if let Some(last) = written.last() {
                            entry.sequence = last.sequence;
                            if let Some(hash) = last.metadata.get("hash").and_then(Value::as_str) {
                                entry.last_hash = hash.to_string();
                            }
                        }
                        serialized.append(&mut written);
                        results.push(Ok(events));
                    }
                    // A refused command leaves its aggregate as it was before the command.
                    Err(error) => {
                        entry.aggregate = before;
                        results.push(Err(error));
                    }
                }
            }
            if serialized.is_empty() {
                return Ok(BatchOutcome {
                    results,
                    position: None,
                });
            }
            match self.persist::<A>(&serialized).await {
                Ok(()) => {
                    self.committed.notify_waiters();
                    let last = &serialized[serialized.len() - 1];
                    let position = self
                        .position_of(A::TYPE, &last.aggregate_id, last.sequence)
                        .await?;
                    return Ok(BatchOutcome {
                        results,
                        position: Some(position),
                    });
                }
                Err(PersistFailure::Conflict) => {
                    tracing::debug!(
                        attempt,
                        "a batch lost a write race; retrying from a fresh load"
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(PersistFailure::Other(error)) => return Err(ExecuteError::Store(error)),
            }
        }
        Err(ExecuteError::Contention)
    }

    /// Loads many aggregates of one type with one query (no snapshots: used for aggregates
    /// with short histories, such as student records).
    async fn load_many<A: Aggregate>(
        &self,
        ids: &[String],
    ) -> anyhow::Result<std::collections::HashMap<String, Loaded<A>>> {
        type Row = super::row::EventRow;
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let rows: Vec<Row> = match &self.db {
            Db::Postgres(pool) => sqlx::query_as(
                "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata FROM events
                 WHERE aggregate_type = $1 AND aggregate_id = ANY($2) ORDER BY aggregate_id, sequence",
            )
            .bind(A::TYPE)
            .bind(unique.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .fetch_all(pool)
            .await
            .context("failed to load aggregates")?,
            Db::Sqlite(pool) => {
                let placeholders: Vec<String> = (0..unique.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata FROM events
                     WHERE aggregate_type = $1 AND aggregate_id IN ({}) ORDER BY aggregate_id, sequence",
                    if placeholders.is_empty() { "NULL".to_string() } else { placeholders.join(", ") }
                );
                let mut query = sqlx::query_as(&sql).bind(A::TYPE);
                for id in &unique {
                    query = query.bind(id.as_str());
                }
                query.fetch_all(pool).await.context("failed to load aggregates")?
            }
        };
        let mut loaded: std::collections::HashMap<String, Loaded<A>> =
            std::collections::HashMap::new();
        for mut row in rows {
            let (_, payload) = row.upcast_payload(A::TYPE);
            let metadata = row.take_metadata();
            let (aggregate_id, sequence, event_type) =
                (row.aggregate_id, row.sequence, row.event_type);
            let event: A::Event = serde_json::from_value(payload)
                .with_context(|| format!("failed to decode {} {event_type}", A::TYPE))?;
            let entry = loaded.entry(aggregate_id).or_insert_with(|| Loaded {
                aggregate: A::default(),
                sequence: 0,
                last_hash: GENESIS_HASH.to_string(),
                snapshot_sequence: 0,
            });
            entry.aggregate.apply(event);
            entry.sequence = sequence as usize;
            if let Some(hash) = metadata.get("hash").and_then(Value::as_str) {
                entry.last_hash = hash.to_string();
            }
        }
        Ok(loaded)
    }

    fn serialize<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
        last_hash: &str,
        events: &[A::Event],
        metadata: &CommandMetadata,
    ) -> anyhow::Result<Vec<SerializedEvent>> {
        let time = self.clock.now().to_rfc3339();
        let mut prev_hash = last_hash.to_string();
        let mut out = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let sealed = seal::<A>(
                aggregate_id,
                last_sequence + offset + 1,
                &prev_hash,
                event,
                metadata,
                &time,
            )?;
            if let Some(hash) = sealed.metadata.get("hash").and_then(Value::as_str) {
                prev_hash = hash.to_string();
            }
            out.push(sealed);
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
    ) -> Result<(), PersistFailure> {
        let result = match &self.repository {
            Repository::Postgres(r) => r.persist::<A>(events, None).await,
            Repository::Sqlite(r) => r.persist::<A>(events, None).await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(PersistenceError::OptimisticLockError) => Err(PersistFailure::Conflict),
            Err(PersistenceError::UnknownError(error))
            | Err(PersistenceError::ConnectionError(error)) => {
                if is_retryable_sqlite(error.as_ref()) {
                    Err(PersistFailure::Conflict)
                } else {
                    Err(PersistFailure::Other(anyhow::anyhow!(
                        "failed to append events: {error}"
                    )))
                }
            }
            Err(other) => Err(PersistFailure::Other(anyhow::anyhow!(
                "failed to append events: {other}"
            ))),
        }
    }

    async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> anyhow::Result<i64> {
        let (position,): (i64,) = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT position FROM events
                 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
            )
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(sequence as i64)
            .fetch_one(pool)
            .await
            .context("failed to read the committed position")?
        });
        Ok(position)
    }

    async fn read_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> anyhow::Result<Option<(A, usize, String)>> {
        let row: Option<(i64, i64, String, sqlx::types::Json<Value>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT sequence, schema_version, last_hash, payload FROM aggregate_snapshots
                 WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(A::TYPE)
            .bind(aggregate_id)
            .fetch_optional(pool)
            .await
            .context("failed to read a snapshot")?
        });
        let Some((sequence, schema, last_hash, payload)) = row else {
            return Ok(None);
        };
        if schema != SNAPSHOT_SCHEMA_VERSION {
            return Ok(None);
        }
        // A snapshot that no longer decodes is only a cache miss.
        Ok(serde_json::from_value::<A>(payload.0)
            .ok()
            .map(|aggregate| (aggregate, sequence as usize, last_hash)))
    }

    async fn write_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
        aggregate: &A,
        sequence: usize,
        last_hash: &str,
    ) -> anyhow::Result<()> {
        let payload = serde_json::to_value(aggregate)?;
        db_execute!(
            &self.db,
            "INSERT INTO aggregate_snapshots
                (aggregate_type, aggregate_id, sequence, schema_version, last_hash, payload)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
             SET sequence = excluded.sequence, schema_version = excluded.schema_version,
                 last_hash = excluded.last_hash, payload = excluded.payload
             WHERE aggregate_snapshots.sequence < excluded.sequence",
            A::TYPE,
            aggregate_id,
            sequence as i64,
            SNAPSHOT_SCHEMA_VERSION,
            last_hash,
            sqlx::types::Json(&payload),
        )?;
        Ok(())
    }
}

/// SQLite reports a lost race on the event key as a UNIQUE violation, and a busy database as
/// BUSY/LOCKED; both mean "load again and retry".
fn is_retryable_sqlite(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let Some(sqlx::Error::Database(database_error)) = error.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    matches!(
        database_error.code().as_deref(),
        Some("1555" | "2067" | "5" | "6" | "261" | "517")
    )
}

/// One event as it is stored: its payload, and metadata with the actor, request, client
/// address, time and the hash chain (`prev_hash`, then `hash` over all of it).
pub fn seal<A: Aggregate>(
    aggregate_id: &str,
    sequence: usize,
    prev_hash: &str,
    event: &A::Event,
    metadata: &CommandMetadata,
    time: &str,
) -> anyhow::Result<SerializedEvent> {
    let payload = serde_json::to_value(event).context("failed to encode an event")?;
    let mut meta = Map::new();
    meta.insert("actor".into(), metadata.actor.to_metadata().into());
    meta.insert("request_id".into(), metadata.request_id.clone().into());
    if let Some(ip) = &metadata.client_ip {
        meta.insert("client_ip".into(), ip.clone().into());
    }
    if let Some(root) = metadata.caused_by {
        meta.insert("caused_by".into(), root.into());
    }
    meta.insert("time".into(), time.into());
    meta.insert("prev_hash".into(), prev_hash.into());
    let mut meta = Value::Object(meta);
    let event_type = event.event_type();
    let event_version = event.event_version();
    let hash = event_hash(&ChainInput {
        aggregate_type: A::TYPE,
        aggregate_id,
        sequence: sequence as i64,
        event_type: &event_type,
        event_version: &event_version,
        payload: &payload,
        metadata: &meta,
    });
    if let Value::Object(map) = &mut meta {
        map.insert("hash".into(), hash.into());
    }
    Ok(SerializedEvent::new(
        aggregate_id.to_string(),
        sequence,
        A::TYPE.to_string(),
        event_type,
        event_version,
        payload,
        meta,
    ))
}

fn backoff(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let ceiling = 2u64.saturating_pow(attempt.min(6)).max(2);
    Duration::from_millis(u64::from(nanos) % ceiling)
}
