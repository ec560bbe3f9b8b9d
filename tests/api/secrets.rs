//! No secret — password, SMS code, link token, security answer, raw ID number — appears in any
//! event, log line or response (other than the one channel that must carry it: the SMS for
//! the code, the mail for the link, the login response for the bearer token).

use crate::helpers::{captured_logs, spawn_app, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(planted_secrets_never_leak);

async fn planted_secrets_never_leak(backend: Backend) {
    let app = spawn_app(backend).await;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let person = Person {
        password: format!("Planted-{tag}-Pw!"),
        ..Person::random()
    };
    let wrong_password = format!("Wrong-{tag}-Pw!");
    let answers = [
        format!("answer1{tag}"),
        format!("answer2{tag}"),
        format!("answer3{tag}"),
    ];

    let code = app.registration_code(&person.phone).await;
    let mut form = person.form(&code);
    form["security_questions"] = json!([
        {"question": "您母亲的生日?", "answer": answers[0]},
        {"question": "您父亲的生日?", "answer": answers[1]},
        {"question": "您最喜欢的星?", "answer": answers[2]},
    ]);
    let registered = app.post("/api/v1/registrations", &form).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let link_token = app.verification_token(&person.email).await;
    let confirmed = app
        .post(
            "/api/v1/email-verifications/confirm",
            &json!({"token": link_token}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(
        app.login(&person.phone, &wrong_password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (session, position) = app
        .login_ok(&person.document_number, &person.password)
        .await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&session))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    // A refused registration echoes nothing back either.
    let mut again = form.clone();
    let other_phone = crate::helpers::random_phone();
    again["sms_code"] = json!(app.registration_code(&other_phone).await);
    again["phone"] = json!(other_phone);
    let refused = app.post("/api/v1/registrations", &again).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    app.post_authorized("/api/v1/logout", &session, &json!({}))
        .await;

    let events = app.all_events_text().await;
    let logs = captured_logs();
    let responses = app.responses.lock().unwrap().clone();
    let id_upper = person.document_number.to_uppercase();
    let never_anywhere = [
        ("password", person.password.as_str()),
        ("wrong password", wrong_password.as_str()),
        ("answer 1", answers[0].as_str()),
        ("answer 2", answers[1].as_str()),
        ("answer 3", answers[2].as_str()),
        ("ID number", id_upper.as_str()),
    ];
    for (what, secret) in never_anywhere {
        assert!(!events.contains(secret), "the {what} is in an event");
        assert!(!logs.contains(secret), "the {what} is in the log");
        for (path, body) in &responses {
            assert!(
                !body.contains(secret),
                "the {what} is in a response to {path}"
            );
        }
    }
    let delivered_only = [
        ("SMS code", code.as_str(), "/api/v1/dev/outbox"),
        ("link token", link_token.as_str(), "/api/v1/dev/outbox"),
        ("session token", session.as_str(), "/api/v1/sessions"),
    ];
    for (what, secret, channel) in delivered_only {
        assert!(!events.contains(secret), "the {what} is in an event");
        assert!(!logs.contains(secret), "the {what} is in the log");
        for (path, body) in &responses {
            if path != channel {
                assert!(
                    !body.contains(secret),
                    "the {what} is in a response to {path}"
                );
            }
        }
    }
    // The phone is in responses only masked.
    for (path, body) in &responses {
        if path != "/api/v1/dev/outbox" {
            assert!(
                !body.contains(&person.phone),
                "the full phone is in a response to {path}"
            );
        }
    }
    // And at rest: the code and tokens are stored only hashed.
    let stored: Vec<(String,)> = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT code_hash FROM sms_codes UNION ALL SELECT token_hash FROM email_tokens UNION ALL SELECT token_hash FROM sessions")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    for (value,) in stored {
        assert_ne!(value, code);
        assert_ne!(value, link_token);
        assert_ne!(value, session);
    }
}
