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
    control_characters_are_refused_in_paths_queries_and_every_field_but_free_text,
    a_name_needs_two_letters,
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

/// Issue 13, item 5: NUL and C0 controls are refused in path segments, query parameters and
/// every string field (422 `control_character`), newlines only allowed in free text; nothing
/// reaches the log, on either backend.
async fn control_characters_are_refused_in_paths_queries_and_every_field_but_free_text(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let in_path = app
        .post(
            "/api/v1/oauth/we%00chat/authorize",
            &json!({"purpose": "login"}),
        )
        .await;
    assert_eq!(
        in_path.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        in_path.text
    );
    assert_eq!(in_path.code(), "control_character");
    let in_query = app
        .get("/api/v1/oauth/wechat/callback?code=a%00b&state=s", None)
        .await;
    assert_eq!(
        in_query.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        in_query.text
    );
    assert_eq!(in_query.code(), "control_character");
    // A newline is a control character in a login name.
    let newline = app
        .post(
            "/api/v1/sessions",
            &json!({"login": "138\n00138000", "password": "x"}),
        )
        .await;
    assert_eq!(
        newline.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        newline.text
    );
    assert!(newline
        .field_errors()
        .contains(&("login".to_string(), "control_character".to_string())));

    // A name change's reason is free text: a newline is fine there, a NUL is not.
    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    let events = app.event_count().await;
    let nul = app
        .post_authorized(
            "/api/v1/me/name",
            &token,
            &json!({"current_password": person.password, "name": "王晓明", "reason": "a\u{0}b"}),
        )
        .await;
    assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nul.text);
    assert!(nul
        .field_errors()
        .contains(&("reason".to_string(), "control_character".to_string())));
    assert_eq!(app.event_count().await, events, "a NUL reached the log");
    let two_lines = app
        .post_authorized(
            "/api/v1/me/name",
            &token,
            &json!({"current_password": person.password, "name": "王晓明",
                    "reason": "户籍更名\n派出所证明已上传"}),
        )
        .await;
    assert_eq!(two_lines.status, StatusCode::ACCEPTED, "{}", two_lines.text);
    let requested = app.events_of_type("NameChangeRequested").await;
    assert_eq!(requested.len(), 1);
    assert!(requested[0].1.to_string().contains("\\n"));
}

/// Issue 13, item 5: a name made only of combining marks is no name.
async fn a_name_needs_two_letters(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["\u{301}\u{301}\u{301}", "王"] {
        let mut person = Person::random();
        person.name = name.to_string();
        let refused = app
            .post("/api/v1/registrations", &person.form("000000"))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert!(
            refused
                .field_errors()
                .contains(&("name".to_string(), "name_format".to_string())),
            "{name:?}: {}",
            refused.text
        );
    }
    assert_eq!(app.event_count().await, 0);
}
