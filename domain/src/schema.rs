//! JSON Schemas of the events, one per event type, derived from the event enums (`schemars`).
//!
//! A payload schema describes the payload at the event type's current version, externally
//! tagged as the store keeps it: `{"<EventType>": {…fields…}}`, or the bare string
//! `"<EventType>"` for an event without fields. Objects are closed (`additionalProperties:
//! false`): a payload of that version has exactly these fields, and a new field comes with a
//! new version (`crate::upcast`). The service wraps these into the schemas of the messages it
//! publishes (`docs/events/<Aggregate>/<Event>.schema.json`).

use crate::account::Account;
use crate::identity::Identity;
use crate::login_name::LoginName;
use crate::platform::Platform;
use crate::record::StudentRecord;
use crate::school::School;
use crate::support::SupportTicket;
use cqrs_es::Aggregate;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// One event type's payload schema.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSchema {
    pub aggregate_type: &'static str,
    pub event_type: String,
    /// The version every stored payload of this type is upcast to before it is read.
    pub version: String,
    /// The variant's documentation, when it has some.
    pub description: Option<String>,
    /// The payload at `version`, as stored and read.
    pub payload: Value,
    /// The definitions `payload` refers to (`#/$defs/<name>`), and only those.
    pub definitions: Map<String, Value>,
}

/// Every aggregate type the store holds.
pub const AGGREGATE_TYPES: [&str; 7] = [
    Account::TYPE,
    Identity::TYPE,
    LoginName::TYPE,
    Platform::TYPE,
    School::TYPE,
    StudentRecord::TYPE,
    SupportTicket::TYPE,
];

/// The schema of every event type of every aggregate, in declaration order.
pub fn catalog() -> Vec<EventSchema> {
    let mut all = of::<Account>();
    all.extend(of::<Identity>());
    all.extend(of::<LoginName>());
    all.extend(of::<Platform>());
    all.extend(of::<School>());
    all.extend(of::<StudentRecord>());
    all.extend(of::<SupportTicket>());
    all
}

/// The event types of one aggregate, as the derive enumerates the enum's variants.
pub fn event_types(aggregate_type: &str) -> Vec<String> {
    catalog()
        .into_iter()
        .filter(|schema| schema.aggregate_type == aggregate_type)
        .map(|schema| schema.event_type)
        .collect()
}

fn of<A>() -> Vec<EventSchema>
where
    A: Aggregate,
    A::Event: JsonSchema,
{
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let root = generator.into_root_schema_for::<A::Event>().to_value();
    let mut definitions = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for definition in definitions.values_mut() {
        close_objects(definition);
    }
    let variants: Vec<Value> = match root.get("oneOf").or_else(|| root.get("anyOf")) {
        Some(Value::Array(variants)) => variants.clone(),
        _ => vec![root.clone()],
    };
    let mut out = Vec::new();
    for variant in variants {
        let description = variant
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        for (event_type, mut payload) in split_variant(&variant) {
            close_objects(&mut payload);
            if let Value::Object(map) = &mut payload {
                map.remove("description");
            }
            let used = referenced(&payload, &definitions);
            let version = crate::upcast::current_version(A::TYPE, &event_type);
            out.push(EventSchema {
                aggregate_type: A::TYPE,
                event_type,
                version,
                description: description.clone(),
                payload,
                definitions: definitions
                    .iter()
                    .filter(|(name, _)| used.contains(name.as_str()))
                    .map(|(name, schema)| (name.clone(), schema.clone()))
                    .collect(),
            });
        }
    }
    out
}

/// One `oneOf` entry of an externally tagged enum: an object with the variant's name as its
/// only property, or a string naming one (`const`) or several (`enum`) fieldless variants.
fn split_variant(variant: &Value) -> Vec<(String, Value)> {
    if let Some(name) = variant.get("const").and_then(Value::as_str) {
        return vec![(name.to_string(), unit_variant(name))];
    }
    if let Some(names) = variant.get("enum").and_then(Value::as_array) {
        return names
            .iter()
            .filter_map(Value::as_str)
            .map(|name| (name.to_string(), unit_variant(name)))
            .collect();
    }
    match variant.get("properties").and_then(Value::as_object) {
        Some(properties) if properties.len() == 1 => properties
            .keys()
            .map(|name| (name.clone(), variant.clone()))
            .collect(),
        _ => panic!("not an externally tagged enum variant: {variant}"),
    }
}

fn unit_variant(name: &str) -> Value {
    serde_json::json!({"type": "string", "const": name})
}

/// `additionalProperties: false` on every object schema that lists its properties and says
/// nothing about others (maps, which say what their values are, stay open).
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The names of the definitions `schema` refers to, directly or through other definitions.
fn referenced(schema: &Value, definitions: &Map<String, Value>) -> BTreeSet<String> {
    fn refs(schema: &Value, out: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                    if let Some(name) = target.strip_prefix("#/$defs/") {
                        out.push(name.to_string());
                    }
                }
                map.values().for_each(|value| refs(value, out));
            }
            Value::Array(items) => items.iter().for_each(|value| refs(value, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut pending = Vec::new();
    refs(schema, &mut pending);
    while let Some(name) = pending.pop() {
        if seen.insert(name.clone()) {
            if let Some(definition) = definitions.get(&name) {
                refs(definition, &mut pending);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_schema_named_as_its_event_type() {
        let catalog = catalog();
        let names: Vec<&str> = catalog.iter().map(|s| s.event_type.as_str()).collect();
        assert!(names.contains(&"RegistrationStarted"));
        assert!(
            names.contains(&"SecurityAnswersAccepted"),
            "a fieldless event"
        );
        assert!(names.contains(&"RecordPhotoAttached"));
        let unique: BTreeSet<(&str, &str)> = catalog
            .iter()
            .map(|s| (s.aggregate_type, s.event_type.as_str()))
            .collect();
        assert_eq!(unique.len(), catalog.len(), "an event type twice");
        for aggregate in AGGREGATE_TYPES {
            assert!(!event_types(aggregate).is_empty(), "{aggregate}");
        }
    }

    #[test]
    fn payloads_are_externally_tagged_closed_and_carry_their_definitions() {
        let catalog = catalog();
        let started = catalog
            .iter()
            .find(|s| s.event_type == "RegistrationStarted")
            .unwrap();
        assert_eq!(
            started.payload["required"],
            serde_json::json!(["RegistrationStarted"])
        );
        assert_eq!(started.payload["additionalProperties"], false);
        // RegistrationDetails, and what it refers to (DocumentSummary → DocumentType).
        for name in ["RegistrationDetails", "DocumentSummary", "DocumentType"] {
            assert!(started.definitions.contains_key(name), "{name}");
        }
        assert_eq!(
            started.definitions["RegistrationDetails"]["additionalProperties"],
            false
        );
        let accepted = catalog
            .iter()
            .find(|s| s.event_type == "SecurityAnswersAccepted")
            .unwrap();
        assert_eq!(accepted.payload["const"], "SecurityAnswersAccepted");
        assert!(accepted.definitions.is_empty());
        // A map of fields stays a map.
        let registered = catalog
            .iter()
            .find(|s| s.event_type == "RecordRegistered")
            .unwrap();
        let fields = &registered.payload["properties"]["RecordRegistered"]["properties"]["fields"];
        assert_eq!(fields["additionalProperties"]["type"], "string", "{fields}");
    }
}
