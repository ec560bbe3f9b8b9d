//! Upcasters: stored payloads of older event versions are rewritten into the current shape
//! before they are deserialized, so that aggregates, projections, the audit views and the NATS
//! relay only ever see current types. Each upcaster takes one (aggregate, event, version) to
//! the next version; they chain. Stored rows are never rewritten (the log is append-only and
//! hashed as written).
//!
//! Adding a version (docs/events.md, Versions): bump the event's `event_version`, add the
//! upcaster from the previous version here, and add a fixture of the new version beside the
//! old ones in `domain/tests/fixtures/events/`; never edit an existing fixture.

use serde_json::{Map, Value};

pub struct Upcaster {
    pub aggregate_type: &'static str,
    pub event_type: &'static str,
    pub from_version: &'static str,
    pub to_version: &'static str,
    pub upcast: fn(Value) -> Value,
}

/// Every upcaster this build knows, oldest first.
pub fn all() -> &'static [Upcaster] {
    &[
        Upcaster {
            aggregate_type: "Account",
            event_type: "RegistrationStarted",
            from_version: "1.0",
            to_version: "1.1",
            upcast: registration_started_1_1,
        },
        Upcaster {
            aggregate_type: "Identity",
            event_type: "IdentityBound",
            from_version: "1.0",
            to_version: "1.1",
            upcast: identity_bound_1_1,
        },
    ]
}

/// The fields of an externally tagged payload `{"<event_type>": {…}}`, if it is one.
fn fields<'a>(payload: &'a mut Value, event_type: &str) -> Option<&'a mut Map<String, Value>> {
    payload.get_mut(event_type).and_then(Value::as_object_mut)
}

/// `RegistrationStarted` 1.0 → 1.1: re-registration (我要重新注册) and 继续注册 added
/// `identity_claim` and `phone_claim`. A registration without them bound a free identity and
/// claimed a free phone. 1.0 events written after the fields existed (before the version was
/// bumped) already carry them and keep their values.
fn registration_started_1_1(mut payload: Value) -> Value {
    if let Some(details) = fields(&mut payload, "RegistrationStarted") {
        details
            .entry("identity_claim")
            .or_insert_with(|| Value::from("bind"));
        details
            .entry("phone_claim")
            .or_insert_with(|| Value::from("claim"));
    }
    payload
}

/// `IdentityBound` 1.0 → 1.1: identities registered by a conscription office record the
/// office in `protected_by`. Before that, no identity was protected: `null`. 1.0 events
/// written after the field existed keep their value.
fn identity_bound_1_1(mut payload: Value) -> Value {
    if let Some(bound) = fields(&mut payload, "IdentityBound") {
        bound.entry("protected_by").or_insert(Value::Null);
    }
    payload
}

/// The version every event type starts at.
pub const FIRST_VERSION: &str = "1.0";

/// The version an event type's payloads are upcast to: the end of its upcasters' chain from
/// [`FIRST_VERSION`]. What the type's `DomainEvent::event_version` writes today.
pub fn current_version(aggregate_type: &str, event_type: &str) -> String {
    let mut version = FIRST_VERSION;
    while let Some(step) = next_step(aggregate_type, event_type, version) {
        version = step.to_version;
    }
    version.to_string()
}

/// The upcaster that reads this version of this event type, if there is one.
fn next_step(aggregate_type: &str, event_type: &str, version: &str) -> Option<&'static Upcaster> {
    all().iter().find(|u| {
        u.aggregate_type == aggregate_type
            && u.event_type == event_type
            && u.from_version == version
    })
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
    while let Some(step) = next_step(aggregate_type, event_type, &version) {
        payload = (step.upcast)(payload);
        version = step.to_version.to_string();
    }
    (version, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_chain_from_the_first_and_unknown_types_stay_as_they_are() {
        assert_eq!(current_version("Account", "RegistrationStarted"), "1.1");
        assert_eq!(current_version("Identity", "IdentityBound"), "1.1");
        assert_eq!(current_version("Account", "LoginSucceeded"), FIRST_VERSION);
        let (version, payload) = upcast("Account", "NoSuchEvent", "1.0", json!({"x": 1}));
        assert_eq!((version.as_str(), payload), ("1.0", json!({"x": 1})));
        // A payload at the current version is left alone.
        let current = json!({"IdentityBound": {"protected_by": "某办公室"}});
        assert_eq!(
            upcast("Identity", "IdentityBound", "1.1", current.clone()),
            ("1.1".to_string(), current)
        );
    }

    #[test]
    fn a_1_0_payload_that_already_has_the_new_fields_keeps_their_values() {
        let (version, payload) = upcast(
            "Account",
            "RegistrationStarted",
            "1.0",
            json!({"RegistrationStarted": {"identity_claim": "re_register", "phone_claim": "take_over"}}),
        );
        assert_eq!(version, "1.1");
        assert_eq!(
            payload,
            json!({"RegistrationStarted": {"identity_claim": "re_register", "phone_claim": "take_over"}})
        );
        let (_, payload) = upcast(
            "Identity",
            "IdentityBound",
            "1.0",
            json!({"IdentityBound": {"protected_by": "某县人民政府征兵办公室"}}),
        );
        assert_eq!(
            payload["IdentityBound"]["protected_by"],
            "某县人民政府征兵办公室"
        );
    }
}
