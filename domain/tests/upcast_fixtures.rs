//! Every event type at every version it was ever stored in, checked in as a fixture
//! (`fixtures/events/<Aggregate>/<Event>@<version>.json`: the `event_version` and `payload` of
//! an `events` row, and for an older version the `upcast` payload it must become). Each is
//! upcast, decoded into the current event enum and encoded again; every current event type
//! must have a fixture at its current version, and every upcaster one at the version it reads.
//! Fixtures are never edited: a new version gets a new file.

use cqrs_es::DomainEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use xuexin_domain::account::AccountEvent;
use xuexin_domain::identity::IdentityEvent;
use xuexin_domain::login_name::LoginNameEvent;
use xuexin_domain::platform::PlatformEvent;
use xuexin_domain::record::RecordEvent;
use xuexin_domain::school::SchoolEvent;
use xuexin_domain::support::SupportEvent;
use xuexin_domain::upcast::{self, current_version};

struct Fixture {
    path: PathBuf,
    aggregate_type: String,
    event_type: String,
    version: String,
    payload: Value,
    upcast: Option<Value>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut out = Vec::new();
    for aggregate in std::fs::read_dir(&dir).expect("the fixtures directory") {
        let aggregate = aggregate.unwrap().path();
        for file in std::fs::read_dir(&aggregate).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let field = |key: &str| json[key].as_str().unwrap_or_default().to_string();
            let fixture = Fixture {
                aggregate_type: field("aggregate_type"),
                event_type: field("event_type"),
                version: field("event_version"),
                payload: json["payload"].clone(),
                upcast: json.get("upcast").cloned(),
                path,
            };
            // The file is named after what it holds.
            let expected = format!("{}@{}.json", fixture.event_type, fixture.version);
            assert_eq!(
                fixture.path.file_name().unwrap().to_str().unwrap(),
                expected,
                "{}",
                fixture.path.display()
            );
            assert_eq!(
                aggregate.file_name().unwrap().to_str().unwrap(),
                fixture.aggregate_type,
                "{}",
                fixture.path.display()
            );
            out.push(fixture);
        }
    }
    out
}

/// Upcasts, decodes, encodes; returns what the current code reads the stored payload as.
fn read<E: DomainEvent + DeserializeOwned + Serialize>(fixture: &Fixture) -> Value {
    let name = fixture.path.display();
    let (version, payload) = upcast::upcast(
        &fixture.aggregate_type,
        &fixture.event_type,
        &fixture.version,
        fixture.payload.clone(),
    );
    assert_eq!(
        version,
        current_version(&fixture.aggregate_type, &fixture.event_type),
        "{name}: not upcast to the current version"
    );
    let event: E = serde_json::from_value(payload.clone())
        .unwrap_or_else(|e| panic!("{name}: does not decode after upcasting: {e}"));
    assert_eq!(event.event_type(), fixture.event_type, "{name}");
    assert_eq!(
        event.event_version(),
        version,
        "{name}: event_version() and the upcasters disagree"
    );
    let encoded = serde_json::to_value(&event).unwrap();
    assert_eq!(
        encoded, payload,
        "{name}: the upcast payload is not exactly what the current type writes"
    );
    encoded
}

#[test]
fn every_fixture_upcasts_and_decodes_into_the_current_type() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 59, "only {} fixtures", fixtures.len());
    for fixture in &fixtures {
        let name = fixture.path.display();
        let read = match fixture.aggregate_type.as_str() {
            "Account" => read::<AccountEvent>(fixture),
            "Identity" => read::<IdentityEvent>(fixture),
            "LoginName" => read::<LoginNameEvent>(fixture),
            "School" => read::<SchoolEvent>(fixture),
            "Platform" => read::<PlatformEvent>(fixture),
            "StudentRecord" => read::<RecordEvent>(fixture),
            "SupportTicket" => read::<SupportEvent>(fixture),
            other => panic!("{name}: unknown aggregate type {other}"),
        };
        let current = current_version(&fixture.aggregate_type, &fixture.event_type);
        if fixture.version == current {
            assert_eq!(
                read, fixture.payload,
                "{name}: a current payload was changed"
            );
            assert!(
                fixture.upcast.is_none(),
                "{name}: `upcast` is for older versions"
            );
        } else {
            let expected = fixture
                .upcast
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: an older version needs `upcast`"));
            assert_eq!(&read, expected, "{name}");
        }
    }
}

#[test]
fn every_event_type_has_a_fixture_at_its_current_version_and_every_upcaster_one_to_read() {
    let have: BTreeSet<(String, String, String)> = fixtures()
        .into_iter()
        .map(|f| (f.aggregate_type, f.event_type, f.version))
        .collect();
    let mut missing = Vec::new();
    for schema in xuexin_domain::schema::catalog() {
        let key = (
            schema.aggregate_type.to_string(),
            schema.event_type.clone(),
            schema.version.clone(),
        );
        if !have.contains(&key) {
            missing.push(format!("{}/{}@{}.json", key.0, key.1, key.2));
        }
    }
    for step in upcast::all() {
        let key = (
            step.aggregate_type.to_string(),
            step.event_type.to_string(),
            step.from_version.to_string(),
        );
        if !have.contains(&key) {
            missing.push(format!("{}/{}@{}.json", key.0, key.1, key.2));
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures missing under domain/tests/fixtures/events: {missing:?}"
    );
    // No fixture for an event type that no longer exists.
    let known: BTreeSet<(String, String)> = xuexin_domain::schema::catalog()
        .into_iter()
        .map(|s| (s.aggregate_type.to_string(), s.event_type))
        .collect();
    for (aggregate, event, version) in &have {
        assert!(
            known.contains(&(aggregate.clone(), event.clone())),
            "{aggregate}/{event}@{version}: no such event type"
        );
    }
}

/// The payload as the current type writes it, if it decodes at all.
fn reencoded<E: DeserializeOwned + Serialize>(payload: &Value) -> Option<Value> {
    serde_json::from_value::<E>(payload.clone())
        .ok()
        .map(|event| serde_json::to_value(event).unwrap())
}

#[test]
fn an_older_payload_is_not_the_current_shape() {
    // What makes each version real: a stored payload of an older version either does not
    // decode into the current type (a required field is missing) or is not what the current
    // type writes (so it would be read and published in a shape no schema describes).
    let older: Vec<Fixture> = fixtures()
        .into_iter()
        .filter(|f| f.upcast.is_some())
        .collect();
    assert!(!older.is_empty());
    for fixture in &older {
        let as_is = match fixture.aggregate_type.as_str() {
            "Account" => reencoded::<AccountEvent>(&fixture.payload),
            "Identity" => reencoded::<IdentityEvent>(&fixture.payload),
            "LoginName" => reencoded::<LoginNameEvent>(&fixture.payload),
            "School" => reencoded::<SchoolEvent>(&fixture.payload),
            "SupportTicket" => reencoded::<SupportEvent>(&fixture.payload),
            _ => reencoded::<RecordEvent>(&fixture.payload),
        };
        assert_ne!(
            as_is.as_ref(),
            Some(&fixture.payload),
            "{} is already the current shape: no new version was needed",
            fixture.path.display()
        );
    }
}
