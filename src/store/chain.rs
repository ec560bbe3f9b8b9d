//! Tamper evidence: every event's metadata carries `prev_hash` (its aggregate's previous event
//! hash) and `hash`, a SHA-256 over the previous hash, the event's identity, its payload and
//! the rest of its metadata, all in canonical JSON (keys sorted, no white space).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The `prev_hash` of an aggregate's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// JSON with object keys sorted at every level, so that the same value always hashes the same
/// way whatever order a database hands its keys back in.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

pub struct ChainInput<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a Value,
    /// The metadata as stored; its `hash` entry, if any, is left out of the hash.
    pub metadata: &'a Value,
}

pub fn event_hash(input: &ChainInput<'_>) -> String {
    let mut metadata: Map<String, Value> = input.metadata.as_object().cloned().unwrap_or_default();
    metadata.remove("hash");
    let document = json!({
        "aggregate_type": input.aggregate_type,
        "aggregate_id": input.aggregate_id,
        "sequence": input.sequence,
        "event_type": input.event_type,
        "event_version": input.event_version,
        "payload": input.payload,
        "metadata": Value::Object(metadata),
    });
    hex::encode(Sha256::digest(canonical_json(&document).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_change_the_canonical_form() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"y":2,"x":1}],"c":"z"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"c":"z","d":[1,{"x":1,"y":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"z","d":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn any_change_to_payload_or_metadata_changes_the_hash() {
        let payload = json!({"email": "a@b.cn"});
        let metadata = json!({"actor": "anonymous", "prev_hash": GENESIS_HASH});
        let input = ChainInput {
            aggregate_type: "Account",
            aggregate_id: "x",
            sequence: 1,
            event_type: "EmailVerified",
            event_version: "1.0",
            payload: &payload,
            metadata: &metadata,
        };
        let original = event_hash(&input);
        let edited_payload = json!({"email": "c@d.cn"});
        assert_ne!(
            original,
            event_hash(&ChainInput {
                payload: &edited_payload,
                ..input
            })
        );
        let edited_metadata = json!({"actor": "system:x", "prev_hash": GENESIS_HASH});
        let input = ChainInput {
            aggregate_type: "Account",
            aggregate_id: "x",
            sequence: 1,
            event_type: "EmailVerified",
            event_version: "1.0",
            payload: &payload,
            metadata: &edited_metadata,
        };
        assert_ne!(original, event_hash(&input));
        // The stored hash itself is not part of what is hashed.
        let with_hash = json!({"actor": "anonymous", "prev_hash": GENESIS_HASH, "hash": original});
        let input = ChainInput {
            metadata: &with_hash,
            ..input
        };
        assert_eq!(
            original,
            event_hash(&ChainInput {
                payload: &payload,
                ..input
            })
        );
    }
}
