//! Upcasters: stored payloads of older event versions are rewritten into the current shape
//! before they are deserialized, so that aggregates and projections only ever see current
//! types. Each upcaster takes one (aggregate, event, version) to the next version; they chain.

use serde_json::Value;

pub struct Upcaster {
    pub aggregate_type: &'static str,
    pub event_type: &'static str,
    pub from_version: &'static str,
    pub to_version: &'static str,
    pub upcast: fn(Value) -> Value,
}

/// Every upcaster this build knows, oldest first. Empty while every event is at 1.0.
pub fn all() -> &'static [Upcaster] {
    &[]
}

/// The version every event type starts at.
pub const FIRST_VERSION: &str = "1.0";

/// The version an event type's payloads are upcast to: the end of its upcasters' chain from
/// [`FIRST_VERSION`]. What the type's `DomainEvent::event_version` writes today.
pub fn current_version(aggregate_type: &str, event_type: &str) -> String {
    let mut version = FIRST_VERSION.to_string();
    while let Some(step) = all().iter().find(|u| {
        u.aggregate_type == aggregate_type
            && u.event_type == event_type
            && u.from_version == version
    }) {
        version = step.to_version.to_string();
    }
    version
}

/// Brings a stored payload up to the current version of its event type.
pub fn upcast(
    aggregate_type: &str,
    event_type: &str,
    version: &str,
    payload: Value,
) -> (String, Value) {
    let mut version = version.to_string();
    let mut payload = payload;
    while let Some(step) = all().iter().find(|u| {
        u.aggregate_type == aggregate_type
            && u.event_type == event_type
            && u.from_version == version
    }) {
        payload = (step.upcast)(payload);
        version = step.to_version.to_string();
    }
    (version, payload)
}
