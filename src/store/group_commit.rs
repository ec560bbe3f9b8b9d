//! Group commit (ADR 0023): the appends of concurrent commands reach the database together.
//!
//! Every append goes to one writer task per event store. The writer takes what is waiting
//! (up to [`MAX_ROWS`] events) and writes it as one multi-row `INSERT … RETURNING`: a
//! single statement, so a single transaction and a single round trip, whatever the number of
//! commands in it. While that statement runs the next commands queue up, so batches grow with
//! the load and stay at one command when the node is idle; nothing waits on a timer.
//!
//! Each command's events keep the sequence numbers it computed from its own load, and the
//! events' primary key still decides races. When a grouped statement fails on that key, the
//! writer writes the batch's commands again one at a time: those that did not lose commit,
//! and the one that lost answers `Conflict` and its command is retried alone from a fresh
//! load. A statement is atomic, so a crash leaves a batch wholly written or not at all, and
//! no command is answered before its statement has committed.

use cqrs_es::persist::SerializedEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot, Notify};
use xuexin_projections::Db;

/// The most events one statement carries (SQLite allows 32,766 bound values; 7 a row).
pub const MAX_ROWS: usize = 1_000;

/// Why an append did not commit.
#[derive(Debug)]
pub enum AppendError {
    /// Another writer got to one of the aggregate's sequence numbers first (or, on SQLite, the
    /// database was busy): load again and retry.
    Conflict,
    Store(String),
}

struct Request {
    events: Vec<SerializedEvent>,
    reply: oneshot::Sender<Result<i64, AppendError>>,
}

/// The handle every command appends through; the writer task starts at the first append.
pub struct GroupCommit {
    db: Db,
    committed: Arc<Notify>,
    head: Arc<AtomicI64>,
    sender: OnceLock<mpsc::UnboundedSender<Request>>,
}

impl GroupCommit {
    pub fn new(db: Db, committed: Arc<Notify>) -> Self {
        Self {
            db,
            committed,
            head: Arc::new(AtomicI64::new(0)),
            sender: OnceLock::new(),
        }
    }

    /// The highest log position this writer has committed (0 before its first statement).
    pub fn head(&self) -> Arc<AtomicI64> {
        self.head.clone()
    }

    /// Appends one command's events (all of them or none) and answers the log position of the
    /// last one once the statement that carried them has committed.
    pub async fn append(&self, events: Vec<SerializedEvent>) -> Result<i64, AppendError> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(
                self.db.clone(),
                self.committed.clone(),
                self.head.clone(),
                receiver,
            ));
            sender
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Request { events, reply })
            .map_err(|_| AppendError::Store("the event writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AppendError::Store("the event writer has stopped".into()))?
    }
}

async fn run(
    db: Db,
    committed: Arc<Notify>,
    head: Arc<AtomicI64>,
    mut receiver: mpsc::UnboundedReceiver<Request>,
) {
    let mut written = Written::default();
    while let Some(first) = receiver.recv().await {
        let mut rows = first.events.len();
        let mut batch = vec![first];
        while rows < MAX_ROWS {
            match receiver.try_recv() {
                Ok(request) => {
                    rows += request.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let batch = written.refuse_sure_losers(batch);
        if batch.is_empty() {
            continue;
        }
        write(&db, batch, &mut written, &head).await;
        // One wakeup for the projectors per statement, not per command.
        committed.notify_waiters();
    }
}

/// The highest sequence this writer has committed for each aggregate it wrote recently.
///
/// Sequences have no gaps, so an event at or below that number would fail on the primary key.
/// Refusing it before the statement keeps one stale command from sending the whole batch
/// down the one-at-a-time path: two commands on one account that loaded the same state, or a
/// command that loaded before the previous batch committed. The primary key still decides
/// every race this writer cannot see (another node, another process).
#[derive(Default)]
struct Written(HashMap<(String, String), i64>);

impl Written {
    /// Bounds the memory (about a megabyte): races happen between commands milliseconds apart,
    /// and forgetting only means a stale command is found by the database.
    const MAX_AGGREGATES: usize = 10_000;

    /// Answers `Conflict` at once to each command that would reuse a sequence number already
    /// written, or taken by an earlier command of the same batch; passes on the rest.
    fn refuse_sure_losers(&mut self, batch: Vec<Request>) -> Vec<Request> {
        let mut taken = HashMap::new();
        batch
            .into_iter()
            .filter_map(|request| {
                let loses = request.events.iter().any(|e| {
                    let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
                    let highest = taken.get(&key).or_else(|| self.0.get(&key));
                    highest.is_some_and(|h| e.sequence as i64 <= *h)
                });
                if loses {
                    let _ = request.reply.send(Err(AppendError::Conflict));
                    return None;
                }
                raise(&mut taken, &request.events);
                Some(request)
            })
            .collect()
    }

    fn record(&mut self, events: &[SerializedEvent]) {
        if self.0.len() >= Self::MAX_AGGREGATES {
            self.0.clear();
        }
        raise(&mut self.0, events);
    }
}

fn raise(highest: &mut HashMap<(String, String), i64>, events: &[SerializedEvent]) {
    for e in events {
        let h = highest
            .entry((e.aggregate_type.clone(), e.aggregate_id.clone()))
            .or_insert(i64::MIN);
        *h = (*h).max(e.sequence as i64);
    }
}

#[tracing::instrument(skip_all, fields(commands = batch.len()))]
async fn write(db: &Db, batch: Vec<Request>, written: &mut Written, head: &AtomicI64) {
    let events: Vec<&SerializedEvent> = batch.iter().flat_map(|r| r.events.iter()).collect();
    match insert(db, &events).await {
        Ok(positions) => {
            metrics::counter!("xuexin_event_append_statements_total").increment(1);
            metrics::counter!("xuexin_event_append_commands_total").increment(batch.len() as u64);
            for request in &batch {
                written.record(&request.events);
            }
            raise_head(head, &positions);
            answer(batch, &positions)
        }
        Err(Failure::Key) if batch.len() > 1 => {
            tracing::debug!(
                commands = batch.len(),
                "a grouped append lost a race; writing its commands one at a time"
            );
            for request in batch {
                let events: Vec<&SerializedEvent> = request.events.iter().collect();
                let result = match insert(db, &events).await {
                    Ok(positions) => {
                        metrics::counter!("xuexin_event_append_statements_total").increment(1);
                        metrics::counter!("xuexin_event_append_commands_total").increment(1);
                        written.record(&request.events);
                        raise_head(head, &positions);
                        last_position(&request.events, &positions)
                    }
                    Err(failure) => Err(failure.into()),
                };
                let _ = request.reply.send(result);
            }
        }
        Err(failure) => {
            let shared = match failure {
                Failure::Key | Failure::Busy => None,
                Failure::Other(message) => Some(message),
            };
            for request in batch {
                let _ = request.reply.send(Err(match &shared {
                    None => AppendError::Conflict,
                    Some(message) => AppendError::Store(message.clone()),
                }));
            }
        }
    }
}

type Key = (String, String, i64);

fn raise_head(head: &AtomicI64, positions: &HashMap<Key, i64>) {
    if let Some(highest) = positions.values().max() {
        head.fetch_max(*highest, Ordering::AcqRel);
    }
}

fn answer(batch: Vec<Request>, positions: &HashMap<Key, i64>) {
    for request in batch {
        let result = last_position(&request.events, positions);
        let _ = request.reply.send(result);
    }
}

fn last_position(
    events: &[SerializedEvent],
    positions: &HashMap<Key, i64>,
) -> Result<i64, AppendError> {
    events
        .iter()
        .filter_map(|e| {
            positions.get(&(
                e.aggregate_type.clone(),
                e.aggregate_id.clone(),
                e.sequence as i64,
            ))
        })
        .max()
        .copied()
        .ok_or_else(|| AppendError::Store("the append returned no position".into()))
}

enum Failure {
    /// The events' primary key: another writer has one of these sequence numbers.
    Key,
    /// SQLite was busy or locked.
    Busy,
    Other(String),
}

impl From<Failure> for AppendError {
    fn from(value: Failure) -> Self {
        match value {
            Failure::Key | Failure::Busy => Self::Conflict,
            Failure::Other(message) => Self::Store(message),
        }
    }
}

/// One statement for all the events; answers each event's position.
async fn insert(db: &Db, events: &[&SerializedEvent]) -> Result<HashMap<Key, i64>, Failure> {
    let text = |value: &serde_json::Value| value.to_string();
    let rows: Result<Vec<(String, String, i64, i64)>, sqlx::Error> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "INSERT INTO events
                    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT t, i, s, et, ev, p::json, m::json
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                             $6::text[], $7::text[]) WITH ORDINALITY AS u(t, i, s, et, ev, p, m, n)
                 ORDER BY n
                 RETURNING aggregate_type, aggregate_id, sequence, position",
            )
            .bind(events.iter().map(|e| e.aggregate_type.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.aggregate_id.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.sequence as i64).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.event_version.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| text(&e.payload)).collect::<Vec<_>>())
            .bind(events.iter().map(|e| text(&e.metadata)).collect::<Vec<_>>())
            .fetch_all(pool)
            .await
        }
        Db::Sqlite(pool) => {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; events.len()].join(", ");
            let sql = format!(
                "INSERT INTO events
                    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES {values}
                 RETURNING aggregate_type, aggregate_id, sequence, position"
            );
            // Each batch size is a statement of its own: only the one-row form is worth a
            // place in the connection's statement cache.
            let mut query = sqlx::query_as(&sql).persistent(events.len() == 1);
            for e in events {
                query = query
                    .bind(e.aggregate_type.as_str())
                    .bind(e.aggregate_id.as_str())
                    .bind(e.sequence as i64)
                    .bind(e.event_type.as_str())
                    .bind(e.event_version.as_str())
                    .bind(text(&e.payload))
                    .bind(text(&e.metadata));
            }
            query.fetch_all(pool).await
        }
    };
    match rows {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|(t, i, s, position)| ((t, i, s), position))
            .collect()),
        Err(error) => Err(classify(error)),
    }
}

fn classify(error: sqlx::Error) -> Failure {
    if let sqlx::Error::Database(database_error) = &error {
        match database_error.code().as_deref() {
            // PostgreSQL's unique_violation; SQLite's PRIMARY KEY and UNIQUE constraints.
            Some("23505" | "1555" | "2067") => return Failure::Key,
            // SQLite's BUSY and LOCKED and their extended codes.
            Some("5" | "6" | "261" | "517") => return Failure::Busy,
            _ => {}
        }
    }
    Failure::Other(format!("failed to append events: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        id: &str,
        sequence: usize,
    ) -> (Request, oneshot::Receiver<Result<i64, AppendError>>) {
        let (reply, answer) = oneshot::channel();
        let event = SerializedEvent {
            aggregate_id: id.into(),
            sequence,
            aggregate_type: "Account".into(),
            event_type: "LanguageChosen".into(),
            event_version: "1".into(),
            payload: serde_json::Value::Null,
            metadata: serde_json::Value::Null,
        };
        let request = Request {
            events: vec![event],
            reply,
        };
        (request, answer)
    }

    fn refused(answer: &mut oneshot::Receiver<Result<i64, AppendError>>) -> bool {
        matches!(answer.try_recv(), Ok(Err(AppendError::Conflict)))
    }

    #[test]
    fn a_command_that_reuses_a_taken_sequence_is_refused_before_the_statement() {
        let mut written = Written::default();
        let (a, mut a_answer) = request("a", 3);
        let (a_again, mut a_again_answer) = request("a", 3);
        let (b, mut b_answer) = request("b", 3);
        let kept = written.refuse_sure_losers(vec![a, a_again, b]);
        assert_eq!(
            kept.len(),
            2,
            "the second command on `a` at 3 loses inside the batch"
        );
        assert!(refused(&mut a_again_answer));
        assert!(!refused(&mut a_answer) && !refused(&mut b_answer));
        for request in &kept {
            written.record(&request.events);
        }

        // After the batch committed, a command that loaded before it is stale; the next
        // sequence, and an aggregate never written, go through.
        let (stale, mut stale_answer) = request("a", 2);
        let (next, _) = request("a", 4);
        let (other, _) = request("c", 1);
        let kept = written.refuse_sure_losers(vec![stale, next, other]);
        assert!(refused(&mut stale_answer));
        let kept: Vec<_> = kept
            .iter()
            .map(|r| r.events[0].aggregate_id.as_str())
            .collect();
        assert_eq!(kept, ["a", "c"]);
    }
}
