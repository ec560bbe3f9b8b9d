//! The edge: control characters, strict JSON, problem+json for every refusal.

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    control_characters_are_refused_before_any_handler,
    session_bodies_are_parsed_strictly,
    refusals_of_the_framework_are_problem_json,
    a_position_past_the_log_answers_at_once,
);

async fn control_characters_are_refused_before_any_handler(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post(
            "/api/v1/password-recoveries",
            &json!({"login": "13800138000", "captcha_id": "a\u{0}b", "captcha_answer": "x"}),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text
    );
    assert_eq!(response.code(), "control_character");
    assert!(response
        .field_errors()
        .contains(&("captcha_id".to_string(), "control_character".to_string())));
    assert_eq!(app.event_count().await, 0);
}

async fn session_bodies_are_parsed_strictly(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = format!("{}/api/v1/sessions", app.address);
    let raw = |content_type: &'static str, body: &'static str| {
        app.client
            .post(url.clone())
            .header("content-type", content_type)
            .body(body)
    };
    let trailing = app
        .send(raw(
            "application/json",
            r#"{"login":"a","password":"b"} garbage"#,
        ))
        .await;
    assert_eq!(
        trailing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        trailing.text
    );
    assert_eq!(trailing.code(), "malformed_json");
    let array = app
        .send(raw("application/json", r#"[{"login":"a"}]"#))
        .await;
    assert_eq!(array.status, StatusCode::BAD_REQUEST, "{}", array.text);
    assert_eq!(array.code(), "malformed_json");
    let evil = app
        .send(raw(
            "application/vnd.evil+json",
            r#"{"login":"a","password":"b"}"#,
        ))
        .await;
    assert_eq!(
        evil.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        evil.text
    );
    assert_eq!(evil.code(), "unsupported_media_type");
}

async fn refusals_of_the_framework_are_problem_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let method = app
        .send(
            app.client
                .put(format!("{}/api/v1/registrations", app.address)),
        )
        .await;
    assert_eq!(
        method.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        method.text
    );
    assert_eq!(method.headers["content-type"], "application/problem+json");
    assert_eq!(method.body["status"], 405);
    assert_eq!(method.code(), "method_not_allowed");

    let big = "x".repeat(70 * 1024);
    let large = app
        .send(
            app.client
                .post(format!("{}/api/v1/sessions", app.address))
                .header("content-type", "application/json")
                .body(format!(r#"{{"login":"{big}"}}"#)),
        )
        .await;
    assert_eq!(
        large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        large.text
    );
    assert_eq!(large.headers["content-type"], "application/problem+json");
    assert_eq!(large.code(), "payload_too_large");

    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    let query = app.get("/api/v1/me?position=abc", Some(&token)).await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST, "{}", query.text);
    assert_eq!(query.headers["content-type"], "application/problem+json");
    assert_eq!(query.code(), "malformed_query");
    let past_i64 = app
        .get("/api/v1/me?position=99999999999999999999", Some(&token))
        .await;
    assert_eq!(past_i64.code(), "malformed_query");
}

async fn a_position_past_the_log_answers_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let (token, position) = app.register_and_login(&person).await;
    let started = std::time::Instant::now();
    let ahead = app
        .get(
            &format!("/api/v1/me?position={}", position + 1000),
            Some(&token),
        )
        .await;
    assert_eq!(ahead.status, StatusCode::BAD_REQUEST, "{}", ahead.text);
    assert_eq!(ahead.code(), "position_ahead_of_log");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
