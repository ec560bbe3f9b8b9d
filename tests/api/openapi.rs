//! The OpenAPI document is kept true: every documented operation exists and answers with a
//! documented status, whose body has the documented schema's required fields.

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(every_documented_operation_exists_and_answers_as_documented);

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
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
            let documented = &operation["responses"][&status];
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
}
