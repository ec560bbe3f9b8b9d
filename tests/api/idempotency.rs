use crate::helpers::{random_phone, spawn_app, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    a_repeated_command_returns_the_first_result_and_writes_nothing,
    a_key_reused_for_another_request_is_refused,
    responses_holding_tickets_or_tokens_are_never_kept,
);

/// Recovery tickets, reset tokens and OAuth states are secrets: a command sent with an
/// `Idempotency-Key` still runs, but its response is not stored.
async fn responses_holding_tickets_or_tokens_are_never_kept(backend: Backend) {
    let app = crate::recovery::recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (captcha_id, captcha_answer) = app.captcha().await;
    let started = app
        .send(
            app.client
                .post(format!("{}/api/v1/password-recoveries", app.address))
                .header("idempotency-key", "recovery-1")
                .json(&json!({"username": person.phone, "captcha_id": captcha_id,
                              "captcha_answer": captcha_answer})),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let ticket = started.body["ticket"].as_str().unwrap().to_string();
    app.post(
        "/api/v1/password-recoveries/sms-codes",
        &json!({"ticket": ticket}),
    )
    .await;
    let code = app.latest_code(&person.phone).await;
    let verified = app
        .send(
            app.client
                .post(format!(
                    "{}/api/v1/password-recoveries/sms-verifications",
                    app.address
                ))
                .header("idempotency-key", "recovery-2")
                .json(&json!({"ticket": ticket, "sms_code": code})),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let reset_token = verified.body["reset_token"].as_str().unwrap().to_string();
    let stored: Vec<(Option<String>,)> = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT response_body FROM idempotency_keys")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    for (body,) in stored {
        let body = body.unwrap_or_default();
        assert!(
            !body.contains(&ticket) && !body.contains(&reset_token),
            "{body}"
        );
    }
}

async fn a_repeated_command_returns_the_first_result_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = random_phone();
    let body = json!({"phone": phone, "purpose": "register"});
    let send = || {
        app.send(
            app.client
                .post(format!("{}/api/v1/sms-codes", app.address))
                .header("idempotency-key", "sms-1")
                .json(&body),
        )
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.text);
    assert_eq!(first.body, second.body);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(
        app.outbox(&phone).await.len(),
        1,
        "the repeat sent a second SMS"
    );

    let person = Person {
        phone: phone.clone(),
        ..Person::random()
    };
    let code = app.latest_code(&phone).await;
    let register = || {
        app.send(
            app.client
                .post(format!("{}/api/v1/registrations", app.address))
                .header("idempotency-key", "registration-1")
                .json(&person.form(&code)),
        )
    };
    let first = register().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let events = app.event_count().await;
    let repeat = register().await;
    assert_eq!(repeat.status, StatusCode::CREATED, "{}", repeat.text);
    assert_eq!(repeat.body, first.body);
    assert_eq!(app.event_count().await, events);
}

async fn a_key_reused_for_another_request_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |phone: String| {
        app.send(
            app.client
                .post(format!("{}/api/v1/sms-codes", app.address))
                .header("idempotency-key", "shared-key")
                .json(&json!({"phone": phone, "purpose": "register"})),
        )
    };
    assert_eq!(post(random_phone()).await.status, StatusCode::ACCEPTED);
    let other = post(random_phone()).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.code(), "idempotency_key_reused");
}
