//! Command execution: load an aggregate (its snapshot and the events after it, in one query),
//! let it handle a command, append its events with metadata and the hash chain through the
//! group commit (one statement for the appends of concurrent commands), and retry from a fresh
//! load when another writer got there first. Answers the committed position so a client can
//! read its own write.

use super::chain::{event_hash, ChainInput, GENESIS_HASH};
use super::group_commit::{AppendError, GroupCommit};
use crate::faults;
use anyhow::Context;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::{Map, Value};
use std::collections::HashMap;
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

/// Why a load failed: a stale snapshot (load again without it) or a bad event.
enum Fold {
    Snapshot,
    Event(anyhow::Error),
}

pub struct EventStore {
    db: Db,
    appends: GroupCommit,
    clock: Arc<dyn Clock>,
    snapshot_every: usize,
    committed: Arc<Notify>,
}

/// One row of an aggregate load: the snapshot (`last_hash` set, no event type) or an event.
type LoadRow = (
    i64,
    Option<String>,
    Option<String>,
    sqlx::types::Json<Value>,
    Option<sqlx::types::Json<Value>>,
    Option<String>,
);

impl EventStore {
    pub fn new(db: Db, clock: Arc<dyn Clock>, snapshot_every: usize) -> Self {
        let committed = Arc::new(Notify::new());
        Self {
            appends: GroupCommit::new(db.clone(), committed.clone()),
            db,
            clock,
            snapshot_every: snapshot_every.max(1),
            committed,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Notified after every commit; projectors wait on it.
    pub fn commits(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    /// The highest log position this node's appends have committed.
    pub fn committed_head(&self) -> Arc<std::sync::atomic::AtomicI64> {
        self.appends.head()
    }

    /// The aggregate as of its last event: its snapshot (if any, and of this code's schema)
    /// and the events after it, in one query.
    #[tracing::instrument(skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load<A: Aggregate>(&self, aggregate_id: &str) -> anyhow::Result<Loaded<A>> {
        let rows = self.read_aggregate::<A>(aggregate_id, true).await?;
        match self.fold::<A>(rows) {
            Ok(loaded) => Ok(loaded),
            // A snapshot that no longer decodes is only a cache miss.
            Err(Fold::Snapshot) => {
                let rows = self.read_aggregate::<A>(aggregate_id, false).await?;
                self.fold::<A>(rows).map_err(|e| match e {
                    Fold::Snapshot => anyhow::anyhow!("an unexpected snapshot row"),
                    Fold::Event(error) => error,
                })
            }
            Err(Fold::Event(error)) => Err(error),
        }
    }

    async fn read_aggregate<A: Aggregate>(
        &self,
        aggregate_id: &str,
        with_snapshot: bool,
    ) -> anyhow::Result<Vec<LoadRow>> {
        // The snapshot row sorts first: its sequence is below every event's after it.
        let rows: Vec<LoadRow> = on_db!(&self.db, pool => {
            // Untyped NULLs take the other branch's types on both backends.
            sqlx::query_as(
                "WITH s AS (
                    SELECT sequence, last_hash, payload FROM aggregate_snapshots
                    WHERE aggregate_type = $1 AND aggregate_id = $2 AND schema_version = $3
                      AND $4)
                SELECT sequence, NULL, NULL, payload, NULL, last_hash FROM s
                UNION ALL
                SELECT e.sequence, e.event_type, e.event_version, e.payload, e.metadata, NULL
                FROM events e
                WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
                  AND e.sequence > COALESCE((SELECT sequence FROM s), 0)
                ORDER BY 1",
            )
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(SNAPSHOT_SCHEMA_VERSION)
            .bind(with_snapshot)
            .fetch_all(pool)
            .await
            .context("failed to load an aggregate")?
        });
        Ok(rows)
    }

    /// [`Self::load`] for many aggregates in one query (a worker's batch of commands): each
    /// from its snapshot, if it has one, and the events after it. An aggregate with no events
    /// is absent from the answer.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregates = ids.len()))]
    pub async fn load_each<A: Aggregate>(
        &self,
        ids: &[String],
    ) -> anyhow::Result<HashMap<String, Loaded<A>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        type Row = (
            String,
            i64,
            Option<String>,
            Option<String>,
            sqlx::types::Json<Value>,
            Option<sqlx::types::Json<Value>>,
            Option<String>,
        );
        // As in `read_aggregate`, each aggregate's snapshot row sorts first.
        let rows: Vec<Row> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "WITH s AS (
                    SELECT aggregate_id, sequence, last_hash, payload FROM aggregate_snapshots
                    WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND schema_version = $3)
                SELECT aggregate_id, sequence, NULL, NULL, payload, NULL, last_hash FROM s
                UNION ALL
                SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload,
                       e.metadata, NULL
                FROM events e LEFT JOIN s ON s.aggregate_id = e.aggregate_id
                WHERE e.aggregate_type = $1 AND e.aggregate_id = ANY($2)
                  AND e.sequence > COALESCE(s.sequence, 0)
                ORDER BY 1, 2",
                )
                .bind(A::TYPE)
                .bind(ids)
                .bind(SNAPSHOT_SCHEMA_VERSION)
                .fetch_all(pool)
                .await
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "WITH s AS (
                    SELECT aggregate_id, sequence, last_hash, payload FROM aggregate_snapshots
                    WHERE aggregate_type = $1 AND schema_version = $3
                      AND aggregate_id IN (SELECT value FROM json_each($2)))
                SELECT aggregate_id, sequence, NULL, NULL, payload, NULL, last_hash FROM s
                UNION ALL
                SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload,
                       e.metadata, NULL
                FROM events e LEFT JOIN s ON s.aggregate_id = e.aggregate_id
                WHERE e.aggregate_type = $1
                  AND e.aggregate_id IN (SELECT value FROM json_each($2))
                  AND e.sequence > COALESCE(s.sequence, 0)
                ORDER BY 1, 2",
                )
                .bind(A::TYPE)
                .bind(serde_json::to_string(ids)?)
                .bind(SNAPSHOT_SCHEMA_VERSION)
                .fetch_all(pool)
                .await
            }
        }
        .context("failed to load aggregates")?;
        let mut by_id: std::collections::BTreeMap<String, Vec<LoadRow>> = Default::default();
        for (id, sequence, event_type, event_version, payload, metadata, hash) in rows {
            by_id.entry(id).or_default().push((
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
                hash,
            ));
        }
        let mut loaded = HashMap::with_capacity(by_id.len());
        for (id, rows) in by_id {
            let aggregate = match self.fold::<A>(rows) {
                Ok(aggregate) => aggregate,
                // A snapshot that no longer decodes: this one is loaded alone, without it.
                Err(Fold::Snapshot) => self.load::<A>(&id).await?,
                Err(Fold::Event(error)) => return Err(error),
            };
            loaded.insert(id, aggregate);
        }
        Ok(loaded)
    }

    fn fold<A: Aggregate>(&self, rows: Vec<LoadRow>) -> Result<Loaded<A>, Fold> {
        let mut loaded = Loaded {
            aggregate: A::default(),
            sequence: 0,
            last_hash: GENESIS_HASH.to_string(),
            snapshot_sequence: 0,
        };
        for (sequence, event_type, event_version, payload, metadata, snapshot_hash) in rows {
            let (Some(event_type), Some(event_version)) = (event_type, event_version) else {
                loaded.aggregate =
                    serde_json::from_value::<A>(payload.0).map_err(|_| Fold::Snapshot)?;
                loaded.sequence = sequence as usize;
                loaded.snapshot_sequence = sequence as usize;
                loaded.last_hash = snapshot_hash.unwrap_or_else(|| GENESIS_HASH.to_string());
                continue;
            };
            let (_, payload) =
                xuexin_domain::upcast::upcast(A::TYPE, &event_type, &event_version, payload.0);
            let event: A::Event = serde_json::from_value(payload)
                .with_context(|| format!("failed to decode {} {event_type} #{sequence}", A::TYPE))
                .map_err(Fold::Event)?;
            loaded.aggregate.apply(event);
            loaded.sequence = sequence as usize;
            if let Some(hash) = metadata
                .as_ref()
                .and_then(|m| m.0.get("hash"))
                .and_then(Value::as_str)
            {
                loaded.last_hash = hash.to_string();
            }
        }
        Ok(loaded)
    }

    /// Loads the aggregate, runs the command, appends the events. On a lost race the whole
    /// cycle runs again against the new state, so the aggregate's rules decide the outcome.
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
        self.execute_from(aggregate_id, None, command, services, metadata)
            .await
    }

    /// [`Self::execute`], with the aggregate as the caller has just loaded it for the first
    /// attempt (a login loads the account to check the name, then runs the command on it).
    /// The append's sequence check still decides: if the aggregate changed since, the command
    /// runs again from a fresh load.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id))]
    pub async fn execute_from<A>(
        &self,
        aggregate_id: &str,
        mut loaded: Option<Loaded<A>>,
        command: A::Command,
        services: &A::Services,
        metadata: &CommandMetadata,
    ) -> Result<Committed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        for attempt in 0..MAX_ATTEMPTS {
            let loaded = match loaded.take() {
                Some(loaded) => loaded,
                None => self.load::<A>(aggregate_id).await?,
            };
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
            let last = serialized.last().map_or(0, |e| e.sequence);
            let hash = serialized
                .last()
                .and_then(|e| e.metadata.get("hash"))
                .and_then(Value::as_str)
                .unwrap_or(GENESIS_HASH)
                .to_string();
            match self.appends.append(serialized).await {
                Ok(position) => {
                    faults::hit("store.after_commit");
                    if last - loaded.snapshot_sequence >= self.snapshot_every {
                        if let Err(error) = self
                            .write_snapshot(aggregate_id, &aggregate, last, &hash)
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
                Err(AppendError::Conflict) => {
                    tracing::debug!(attempt, "lost a write race; retrying from a fresh load");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(AppendError::Store(error)) => {
                    return Err(ExecuteError::Store(anyhow::anyhow!(error)))
                }
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
            match self.appends.append(serialized).await {
                Ok(position) => {
                    return Ok(BatchOutcome {
                        results,
                        position: Some(position),
                    });
                }
                Err(AppendError::Conflict) => {
                    tracing::debug!(
                        attempt,
                        "a batch lost a write race; retrying from a fresh load"
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(AppendError::Store(error)) => {
                    return Err(ExecuteError::Store(anyhow::anyhow!(error)))
                }
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
                // One statement per number of ids: not kept in the statement cache.
                let mut query = sqlx::query_as(&sql).persistent(unique.len() == 1).bind(A::TYPE);
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
