use crate::helpers::{random_phone, spawn_app, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    a_repeated_command_returns_the_first_result_and_writes_nothing,
    a_key_reused_for_another_request_is_refused,
    responses_holding_tickets_or_tokens_are_never_kept,
    a_generated_initial_password_is_never_stored_nor_replayed,
    an_unfinished_key_answers_with_retry_after_and_is_taken_over_after_the_setting,
    housekeeping_deletes_idempotency_records_after_their_window,
);

async fn stored_idempotency_rows(
    app: &crate::helpers::TestApp,
) -> Vec<(Option<i64>, Option<String>)> {
    xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT status_code, response_body FROM idempotency_keys")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

/// The conscription office's answer holds the generated initial password: the key is
/// honoured (the repeat does not register twice) but only the status is kept, and the repeat
/// is told the answer cannot be replayed.
async fn a_generated_initial_password_is_never_stored_nor_replayed(backend: Backend) {
    let app = spawn_app(backend).await;
    let office = app
        .staff_token("conscription_office", Some("某县人民政府征兵办公室"))
        .await;
    let young = Person::random();
    let body = json!({"name": young.name, "document_type": "resident_id_card",
                      "document_number": young.document_number});
    let send = || {
        app.send(
            app.client
                .post(format!("{}/api/v1/conscription/accounts", app.address))
                .bearer_auth(&office)
                .header("idempotency-key", "office-1")
                .json(&body),
        )
    };
    let created = send().await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let initial = created.body["initial_password"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = stored_idempotency_rows(&app).await;
    assert_eq!(rows.len(), 1);
    for (status, body) in &rows {
        assert_eq!(*status, Some(201));
        assert!(
            !body.clone().unwrap_or_default().contains(&initial),
            "{body:?}"
        );
    }
    let repeated = send().await;
    assert_eq!(repeated.status, StatusCode::CONFLICT, "{}", repeated.text);
    assert_eq!(repeated.code(), "idempotency_answer_not_stored");
    assert_eq!(repeated.body["original_status"], 201);
    assert!(!repeated.text.contains(&initial));
    assert_eq!(app.events_of_type("RegistrationStarted").await.len(), 1);
}

/// A crash leaves a claimed key with no answer: a repeat is told when to come back, and may
/// take the key over once `idempotency_takeover` has passed.
async fn an_unfinished_key_answers_with_retry_after_and_is_taken_over_after_the_setting(
    backend: Backend,
) {
    use sha2::Digest;
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.idempotency_takeover = std::time::Duration::from_secs(120)
    })
    .await;
    let phone = random_phone();
    let body = json!({"phone": phone, "purpose": "register"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let fingerprint = hex::encode(sha2::Sha256::digest(&bytes));
    let abandoned = |created_at: i64| {
        let db = app.db.clone();
        let fingerprint = fingerprint.clone();
        async move {
            xuexin_projections::db_execute!(
                &db,
                "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, created_at)
                 VALUES ($1, $2, $3, $4)",
                "/api/v1/sms-codes|anonymous",
                "crashed-1",
                fingerprint.as_str(),
                created_at,
            )
        }
    };
    let send = || {
        app.send(
            app.client
                .post(format!("{}/api/v1/sms-codes", app.address))
                .header("idempotency-key", "crashed-1")
                .header("content-type", "application/json")
                .body(bytes.clone()),
        )
    };
    let now = app.state.clock.now().millis();
    abandoned(now - 20_000).await.unwrap();
    let waiting = send().await;
    assert_eq!(waiting.status, StatusCode::CONFLICT, "{}", waiting.text);
    assert_eq!(waiting.code(), "idempotency_in_progress");
    let retry_after: u64 = waiting.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((90..=100).contains(&retry_after), "{retry_after}");

    xuexin_projections::db_execute!(&app.db, "DELETE FROM idempotency_keys").unwrap();
    abandoned(now - 121_000).await.unwrap();
    let taken_over = send().await;
    assert_eq!(
        taken_over.status,
        StatusCode::ACCEPTED,
        "{}",
        taken_over.text
    );
}

async fn housekeeping_deletes_idempotency_records_after_their_window(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.idempotency_window = std::time::Duration::from_secs(3600)
    })
    .await;
    let now = app.state.clock.now().millis();
    for (key, created_at) in [("old", now - 3_601_000), ("recent", now - 60_000)] {
        xuexin_projections::db_execute!(
            &app.db,
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, created_at,
                                           status_code, response_body)
             VALUES ($1, $2, $3, $4, 202, '{}')",
            "/api/v1/sms-codes|anonymous",
            key,
            "x",
            created_at,
        )
        .unwrap();
    }
    xuexin::housekeeping::sweep(&app.state.housekeeper())
        .await
        .unwrap();
    let left: Vec<(String,)> = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT idempotency_key FROM idempotency_keys")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(left, vec![("recent".to_string(),)]);
}

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
