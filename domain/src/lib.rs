//! xuexin's domain: aggregates, commands, events, value types and process-manager rules.
//! Pure: no I/O, no runtime, no database. Time, randomness and hashing come in through the
//! small traits in `time`, `hashing` and `values::document::KeyedHasher`.

pub mod account;
pub mod actor;
pub mod hashing;
pub mod holding;
pub mod identity;
pub mod ids;
pub mod login_name;
pub mod platform;
pub mod record;
pub mod registration;
pub mod roles;
pub mod schema;
pub mod school;
pub mod support;
pub mod time;
pub mod upcast;
pub mod values;

pub use actor::Actor;
pub use ids::{AccountId, LoginNameKind, LoginVia};
pub use time::{CivilDate, Clock, Timestamp};
