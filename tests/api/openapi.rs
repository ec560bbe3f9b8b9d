//! The OpenAPI document is kept true: it is valid OpenAPI (checked by a real validator,
//! `scripts/validate-openapi`); every documented operation exists and answers with a
//! documented status, whose body has the documented schema's required fields; errors are
//! documented as `application/problem+json`; the shared headers and answers are on every
//! operation; closed sets are enums and request fields the service needs are required.

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

on_both_backends!(
    every_documented_operation_exists_and_answers_as_documented,
    the_served_document_is_valid_openapi,
);

/// Follows a `$ref` (`#/components/<kind>/<name>`) to what it names.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let mut parts = reference.trim_start_matches("#/").split('/');
            let (Some(section), Some(kind), Some(name)) =
                (parts.next(), parts.next(), parts.next())
            else {
                panic!("unexpected reference {reference}");
            };
            &document[section][kind][name]
        }
        None => schema,
    }
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), operation));
        }
    }
    out
}

/// `scripts/validate-openapi` (openapi-spec-validator, installed by the script if missing)
/// must accept the document exactly as served.
async fn the_served_document_is_valid_openapi(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK);
    let file = std::env::temp_dir().join(format!(
        "xuexin-openapi-{}-{}.json",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&file, &response.text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate-openapi");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} with python3 (Python 3 is needed): {e}",
                script.display()
            )
        });
    let _ = std::fs::remove_file(&file);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the served OpenAPI document is invalid:\n{report}"
    );
    assert!(report.contains("valid OpenAPI 3.1"), "{report}");

    let document = response.body;
    let mut ids = HashSet::new();
    for (path, method, operation) in operations(&document) {
        let id = operation["operationId"].as_str().expect("an operation id");
        assert!(
            ids.insert(id.to_string()),
            "operation id {id} is not unique"
        );
        let responses = operation["responses"].as_object().unwrap();
        for status in ["400", "405"] {
            assert!(
                responses.contains_key(status),
                "{method} {path}: no {status}"
            );
        }
        if operation.get("requestBody").is_some() {
            for status in ["413", "415"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
        for (status, response) in responses {
            let response = resolve(&document, response);
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{method} {path} {status}: x-request-id is not documented"
            );
            if status.as_str() >= "400" {
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
            }
            if status == "429" || status == "503" {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{method} {path} {status}: no Retry-After"
                );
            }
        }
        let headers: Vec<&Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&document, p))
            .filter(|p| p["in"] == "header")
            .collect();
        let idempotency = headers
            .iter()
            .filter(|p| p["name"] == "Idempotency-Key")
            .count();
        assert_eq!(
            idempotency,
            usize::from(method == "post"),
            "{method} {path}: Idempotency-Key documented {idempotency} times"
        );
    }
    let registrations = &document["paths"]["/api/v1/registrations"]["post"];
    assert!(
        registrations["responses"]["201"]["headers"]["Idempotent-Replayed"].is_object(),
        "Idempotent-Replayed is not documented"
    );

    let schemas = &document["components"]["schemas"];
    let form = &schemas["RegistrationRequest"];
    let required: Vec<&str> = form["required"]
        .as_array()
        .expect("RegistrationRequest has required fields")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "phone",
        "sms_code",
        "password",
        "name",
        "document_type",
        "accept_terms",
    ] {
        assert!(required.contains(&field), "{field} is not required");
    }
    for field in ["email", "security_questions", "re_register"] {
        assert!(!required.contains(&field), "{field} is required");
    }
    // `answers` defaults to empty (`#[serde(default)]`): not required.
    let answers: Vec<&Value> = schemas["AnswersRequest"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert!(!answers.contains(&&json!("answers")));
    let document_type = resolve(&document, &form["properties"]["document_type"]);
    assert_eq!(
        document_type["enum"],
        json!([
            "resident_id_card",
            "overseas_chinese_id_or_passport",
            "other"
        ])
    );
    let sms = &schemas["SmsCodeRequest"]["properties"]["purpose"];
    assert_eq!(resolve(&document, sms)["enum"], json!(["register"]));
    let conclusion = &schemas["ConclusionRequest"]["properties"];
    assert_eq!(
        resolve(&document, &conclusion["conclusion"])["enum"],
        json!(["correct", "wrong"])
    );
    assert_eq!(
        resolve(&document, &conclusion["check_type"])["enum"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let status = &schemas["RegistrationResponse"]["properties"]["status"];
    assert!(resolve(&document, status)["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("PendingIdentityReview")));
}

async fn every_documented_operation_exists_and_answers_as_documented(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(document.status, StatusCode::OK);
    let document = document.body;
    let paths = document["paths"].as_object().expect("paths");
    for expected in [
        "/api/v1/registrations",
        "/api/v1/sms-codes",
        "/api/v1/sessions",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/email-verifications",
        "/api/v1/email-verifications/confirm",
        "/api/v1/password-checks",
        "/api/v1/captchas",
        "/api/v1/username-recoveries",
        "/api/v1/password-recoveries",
        "/api/v1/password-resets",
        "/api/v1/me/password",
        "/api/v1/me/phone",
        "/api/v1/me/history",
        "/api/v1/oauth/{provider}/authorize",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    let mut checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let url = format!("{}{path}", app.address);
            let request = match method.as_str() {
                "get" => app.client.get(&url),
                "post" => app.client.post(&url).json(&json!({})),
                "put" => app.client.put(&url).json(&json!({})),
                "delete" => app.client.delete(&url),
                other => panic!("undocumented method handling for {other}"),
            };
            let response = app.send(request).await;
            let status = response.status.as_u16().to_string();
            // A routed operation may answer 404 itself (an unknown `{provider}`), but never
            // with the router's own `not_found`.
            assert!(
                !(response.status == StatusCode::NOT_FOUND && response.code() == "not_found")
                    && response.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            let documented = resolve(&document, &operation["responses"][&status]);
            assert!(
                documented.is_object(),
                "{method} {path} answered {status}, which is not documented: {}",
                response.text
            );
            if let Some(schema) = documented["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| &media["schema"])
            {
                let schema = resolve(&document, schema);
                for field in schema["required"].as_array().into_iter().flatten() {
                    let field = field.as_str().unwrap();
                    assert!(
                        response.body.get(field).is_some(),
                        "{method} {path} {status}: `{field}` missing from {}",
                        response.text
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} operations checked");

    let unknown = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");
    assert_eq!(unknown.headers["content-type"], "application/problem+json");
    assert!(unknown.headers.contains_key("x-request-id"));
}
