//! What every operation shares, added to the generated document in one place rather than in
//! each `#[utoipa::path]`: errors are `application/problem+json`; every answer carries
//! `x-request-id`; 423, 429 and 503 may carry `Retry-After`; a replayed command carries
//! `Idempotent-Replayed`; every POST documents `Idempotency-Key`; and the answers that the
//! router and the extractors give before a handler runs (400, 405, 413, 415) and the overload
//! limits' 503 are documented on every operation they can reach.

use super::idempotency;
use serde_json::{json, Map, Value};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];
const PROBLEM_JSON: &str = "application/problem+json";

/// The served document: utoipa's, completed.
pub fn complete(document: utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(document).unwrap_or_else(|_| json!({}));
    add_components(&mut document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return document;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if let Some(operation) = operation.as_object_mut() {
                complete_operation(path, method, operation);
            }
        }
    }
    document
}

fn reference(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

fn problem_content() -> Value {
    json!({ PROBLEM_JSON: { "schema": reference("schemas", "ProblemDocument") } })
}

fn add_components(document: &mut Value) {
    let Some(root) = document.as_object_mut() else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("components is an object");

    let headers = json!({
        "RequestId": {
            "description": "The request's id: the caller's `x-request-id` if it sent one, else a \
                            new UUID. It is in the logs and in the events the request wrote.",
            "required": true,
            "schema": { "type": "string" }
        },
        "RetryAfter": {
            "description": "Seconds to wait before trying again.",
            "required": false,
            "schema": { "type": "integer", "minimum": 1 }
        },
        "IdempotentReplayed": {
            "description": "`true` when this is the kept answer to an earlier request with the \
                            same `Idempotency-Key` and body; nothing ran again.",
            "required": false,
            "schema": { "type": "string", "enum": ["true"] }
        }
    });
    let parameters = json!({
        "RequestId": {
            "name": "x-request-id",
            "in": "header",
            "required": false,
            "description": "An id for this request, echoed in the answer's `x-request-id`, the \
                            logs and the events it writes; a UUID is made if it is absent.",
            "schema": { "type": "string" }
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Repeat-safe key (1–255 visible ASCII characters). The first answer \
                            to a key is kept; a repeat with the same body gets it back with \
                            `Idempotent-Replayed: true`, without running anything; the same key \
                            with another body is refused (422 `idempotency_key_reused`); a \
                            repeat while the first is still running gets 409 \
                            `idempotency_in_progress`. Scoped to the path and the caller's \
                            session. A malformed key is a 400 `idempotency_key_invalid`.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }
        },
        "IdempotencyKeyIgnored": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Accepted and ignored here: this answer holds a secret (a token, a \
                            ticket, a `state`) that is never kept, or the operation is \
                            idempotent by itself, so a repeat runs again.",
            "schema": { "type": "string" }
        }
    });
    let problem = |description: &str| {
        json!({
            "description": description,
            "headers": { "x-request-id": reference("headers", "RequestId") },
            "content": problem_content()
        })
    };
    let retried = |description: &str| {
        let mut response = problem(description);
        response["headers"]["Retry-After"] = reference("headers", "RetryAfter");
        response
    };
    let responses = json!({
        "BadRequest": problem(
            "Malformed request: JSON that does not parse or has a value of the wrong type \
             (`invalid_json`, naming the field), a bad query or path parameter, or a malformed \
             `Idempotency-Key` (`idempotency_key_invalid`)."
        ),
        "MethodNotAllowed": problem(
            "The path exists but does not take this method (`method_not_allowed`)."
        ),
        "PayloadTooLarge": problem("The body is larger than the operation takes."),
        "UnsupportedMediaType": problem(
            "The body is not `application/json` (see the operation's request body)."
        ),
        "ControlCharacter": problem(
            "A string in a path segment, a query parameter or the body holds NUL or another \
             control character (`control_character`, naming the field; newlines are allowed \
             only in free-text fields); or, where the operation keeps answers, its \
             `Idempotency-Key` was used with another body (`idempotency_key_reused`)."
        ),
        "IdempotencyConflict": retried(
            "A request with this `Idempotency-Key` is still running \
             (`idempotency_in_progress`, with `Retry-After`), or its answer held a secret and \
             was not kept (`idempotency_answer_not_stored`)."
        ),
        "NotCaughtUp": retried(
            "The read models did not reach the `position` asked for in time (`read_timeout`); \
             or the service is overloaded (`overloaded`) or the request took too long \
             (`request_timeout`). Retry after `Retry-After` seconds."
        ),
        "Unavailable": retried(
            "The service is overloaded (`overloaded`: too many requests at once) or the request \
             took too long (`request_timeout`); retry after `Retry-After` seconds."
        )
    });
    for (kind, values) in [
        ("headers", headers),
        ("parameters", parameters),
        ("responses", responses),
    ] {
        let entry = components
            .entry(kind)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("components entries are objects");
        if let Value::Object(values) = values {
            for (name, value) in values {
                entry.entry(name).or_insert(value);
            }
        }
    }
}

fn complete_operation(path: &str, method: &str, operation: &mut Map<String, Value>) {
    let is_post = method == "post";
    let has_body = operation.contains_key("requestBody");
    let replayable = is_post && !idempotency::excluded(&concrete(path));
    let takes_strings = has_body
        || operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" || p["in"] == "path"));
    let reads_a_position = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p["in"] == "query" && p["name"] == "position")
        });

    // Parameters: `x-request-id` everywhere, `Idempotency-Key` on every POST (once).
    let parameters = operation
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("parameters is an array");
    parameters.retain(|p| {
        let header = p["in"] == "header";
        let name = p["name"].as_str().unwrap_or("").to_ascii_lowercase();
        !(header && (name == "idempotency-key" || name == "x-request-id"))
    });
    parameters.push(reference("parameters", "RequestId"));
    if is_post {
        parameters.push(reference(
            "parameters",
            if replayable {
                "IdempotencyKey"
            } else {
                "IdempotencyKeyIgnored"
            },
        ));
    }

    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, name, wanted) in [
        ("400", "BadRequest", true),
        ("405", "MethodNotAllowed", true),
        ("413", "PayloadTooLarge", has_body),
        ("415", "UnsupportedMediaType", has_body),
        ("422", "ControlCharacter", takes_strings || replayable),
        ("409", "IdempotencyConflict", replayable),
        ("503", "NotCaughtUp", reads_a_position),
        ("503", "Unavailable", !reads_a_position),
    ] {
        if !wanted {
            continue;
        }
        match responses.get_mut(status) {
            None => {
                responses.insert(status.to_string(), reference("responses", name));
            }
            // The operation's own answer of that status: say what else it can mean.
            Some(Value::Object(own)) if !own.contains_key("$ref") && status != "400" => {
                let extra = match name {
                    "IdempotencyConflict" => {
                        "; or the `Idempotency-Key` is in use (`idempotency_in_progress`, \
                         `idempotency_answer_not_stored`)"
                    }
                    "ControlCharacter" => {
                        "; or a string holds a control character (`control_character`), or the \
                         `Idempotency-Key` was used with another body (`idempotency_key_reused`)"
                    }
                    "NotCaughtUp" => {
                        "; or the read models did not reach `position` (`read_timeout`); or the \
                         service is overloaded (`overloaded`, `request_timeout`)"
                    }
                    "Unavailable" => {
                        "; or the service is overloaded (`overloaded`, `request_timeout`)"
                    }
                    _ => "",
                };
                if let Some(Value::String(description)) = own.get_mut("description") {
                    if !description.contains(extra) {
                        description.push_str(extra);
                    }
                }
            }
            Some(_) => {}
        }
    }
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        if response.contains_key("$ref") {
            continue;
        }
        let code: u16 = status.parse().unwrap_or(0);
        if code >= 400 {
            // Errors are sent as problem+json, whatever the annotation said.
            let content = response
                .entry("content")
                .or_insert_with(problem_content)
                .as_object_mut()
                .expect("content is an object");
            if let Some(media) = content.remove("application/json") {
                content.insert(PROBLEM_JSON.to_string(), media);
            }
            if content.is_empty() {
                *content = problem_content().as_object().cloned().expect("an object");
            }
        }
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers is an object");
        headers.insert("x-request-id".into(), reference("headers", "RequestId"));
        if matches!(code, 409 | 423 | 429 | 503) {
            headers.insert("Retry-After".into(), reference("headers", "RetryAfter"));
        }
        if replayable && code < 500 {
            headers.insert(
                "Idempotent-Replayed".into(),
                reference("headers", "IdempotentReplayed"),
            );
        }
    }
}

/// A path template with each `{parameter}` filled, for the idempotency exclusions (which look
/// at a path's shape).
fn concrete(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => in_parameter = true,
            '}' => {
                in_parameter = false;
                out.push('x');
            }
            _ if !in_parameter => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_filled_for_the_exclusions() {
        assert_eq!(
            concrete("/api/v1/oauth/{provider}/authorize"),
            "/api/v1/oauth/x/authorize"
        );
        assert!(idempotency::excluded(&concrete(
            "/api/v1/schools/{school_code}/record-imports"
        )));
        assert!(!idempotency::excluded(&concrete("/api/v1/registrations")));
    }
}
