//! Events as subscribers read them from the log, in global order.

use serde::Serialize;
use serde_json::Value;
use xuexin_domain::account::{Account, AccountEvent};
use xuexin_domain::identity::{Identity, IdentityEvent};
use xuexin_domain::login_name::{LoginName, LoginNameEvent};
use xuexin_domain::record::{RecordEvent, StudentRecord};
use xuexin_domain::school::{School, SchoolEvent};
use xuexin_domain::support::{SupportEvent, SupportTicket};
use xuexin_domain::Timestamp;

use cqrs_es::Aggregate;

/// A place in the global order. On PostgreSQL events are read by `(transaction_id, position)`
/// below the oldest running transaction, so one that commits late is never skipped; on
/// SQLite (one writer) `position` is commit order and `transaction_id` is always 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Checkpoint {
    pub transaction_id: i64,
    pub position: i64,
}

impl Checkpoint {
    pub const START: Self = Self {
        transaction_id: 0,
        position: 0,
    };
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub position: i64,
    pub transaction_id: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
}

impl StoredEvent {
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            transaction_id: self.transaction_id,
            position: self.position,
        }
    }

    /// The time the event was recorded (metadata `time`); the Unix epoch if absent.
    pub fn time(&self) -> Timestamp {
        self.metadata_str("time")
            .and_then(Timestamp::parse_rfc3339)
            .unwrap_or(Timestamp::from_millis(0))
    }

    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }

    /// The payload as the domain type of its aggregate (deserialized from the stored value in
    /// place, without copying it).
    pub fn decode(&self) -> Result<DomainEventKind, serde_json::Error> {
        use serde::Deserialize;
        Ok(match self.aggregate_type.as_str() {
            Account::TYPE => DomainEventKind::Account(Deserialize::deserialize(&self.payload)?),
            Identity::TYPE => DomainEventKind::Identity(Deserialize::deserialize(&self.payload)?),
            LoginName::TYPE => DomainEventKind::LoginName(Deserialize::deserialize(&self.payload)?),
            StudentRecord::TYPE => {
                DomainEventKind::Record(Deserialize::deserialize(&self.payload)?)
            }
            School::TYPE => DomainEventKind::School(Deserialize::deserialize(&self.payload)?),
            SupportTicket::TYPE => {
                DomainEventKind::Support(Deserialize::deserialize(&self.payload)?)
            }
            _ => DomainEventKind::Other,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum DomainEventKind {
    Account(AccountEvent),
    Identity(IdentityEvent),
    LoginName(LoginNameEvent),
    Record(RecordEvent),
    School(SchoolEvent),
    Support(SupportEvent),
    /// An aggregate this build does not read (added by a later version, or not a projection's
    /// concern).
    Other,
}
