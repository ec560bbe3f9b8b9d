use crate::helpers::{spawn_app, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_projections::login_index;

on_both_backends!(
    a_verification_link_works_once,
    an_expired_link_is_refused,
    resending_is_limited_and_says_nothing_about_unknown_addresses,
    a_resend_mails_what_the_log_says_whether_or_not_the_index_was_current,
);

async fn a_verification_link_works_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let token = app.verification_token(&person.email).await;
    let mail = &app.outbox(&person.email).await[0];
    assert_eq!(mail["subject"], "学信网 CHSI 邮箱验证");
    assert!(mail["body"]
        .as_str()
        .unwrap()
        .contains("/verify-email?token="));

    let page = app.get(&format!("/verify-email?token={token}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("完成验证"));

    let first = app
        .post(
            "/api/v1/email-verifications/confirm",
            &json!({"token": token}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["email"], person.email);
    let again = app
        .post(
            "/api/v1/email-verifications/confirm",
            &json!({"token": token}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.code(), "email_token_invalid");
    let made_up = app
        .post(
            "/api/v1/email-verifications/confirm",
            &json!({"token": "not-a-token"}),
        )
        .await;
    assert_eq!(made_up.code(), "email_token_invalid");
    assert_eq!(
        app.event_types(&account_id)
            .await
            .iter()
            .filter(|t| *t == "EmailVerified")
            .count(),
        1
    );
}

async fn an_expired_link_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let token = app.verification_token(&person.email).await;
    xuexin_projections::db_execute!(&app.db, "UPDATE email_tokens SET expires_at = 0").unwrap();
    let expired = app
        .post(
            "/api/v1/email-verifications/confirm",
            &json!({"token": token}),
        )
        .await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST, "{}", expired.text);
    assert_eq!(expired.code(), "email_token_invalid");
}

async fn resending_is_limited_and_says_nothing_about_unknown_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    app.verification_token(&person.email).await;

    // The account's first mail went out at registration; a resend makes a second.
    let resend = app
        .post(
            "/api/v1/email-verifications",
            &json!({"email": person.email}),
        )
        .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.outbox(&person.email).await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no second mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let too_soon = app
        .post(
            "/api/v1/email-verifications",
            &json!({"email": person.email}),
        )
        .await;
    assert_eq!(
        too_soon.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        too_soon.text
    );
    assert_eq!(too_soon.code(), "email_rate_limited");

    let unknown = app
        .post(
            "/api/v1/email-verifications",
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.body, resend.body);
    assert!(app.outbox("nobody@example.com").await.is_empty());

    // Both links work (each is single use).
    let mails = app.outbox(&person.email).await;
    assert_eq!(mails.len(), 2);
}

/// On PostgreSQL a resend counts, looks up and queues in one statement when the login index
/// is current, and counts there but looks up again after waiting when it is not; on SQLite it
/// takes one step at a time. Either way: a verified address gets no mail, an unverified one
/// gets its mail, and each request is counted once.
async fn a_resend_mails_what_the_log_says_whether_or_not_the_index_was_current(backend: Backend) {
    let app = spawn_app(backend).await;
    let (waiting, verified) = (Person::random(), Person::random());
    app.register_ok(&waiting).await;
    app.register_ok(&verified).await;
    let token = app.verification_token(&verified.email).await;
    app.confirm_email_ok(&token).await;
    app.verification_token(&waiting.email).await;
    app.settle().await;

    // The index is current: a verified address is answered like any other, and mailed nothing.
    app.resend_ok(&verified.email).await;
    app.settle_queued().await;
    app.settle().await;
    assert_eq!(app.outbox(&verified.email).await.len(), 1);

    // The index's stored checkpoint set back before every claim: not current, so the resend
    // waits for the index and looks again, and still mails the unverified address.
    let saved = app.stored_checkpoint(login_index::NAME).await;
    app.store_checkpoint(login_index::NAME, (0, 0)).await;
    app.resend_ok(&waiting.email).await;
    app.settle_queued().await;
    app.store_checkpoint(login_index::NAME, saved).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.outbox(&waiting.email).await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no second mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Counted once, though it looked twice.
    let bucket = format!(
        "email-resend:{}/%",
        login_name_id(LoginNameKind::Email, &waiting.email)
    );
    let counted: i64 = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_scalar("SELECT count FROM rate_limits WHERE bucket LIKE $1")
            .bind(&bucket)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(counted, 1);
}

on_both_backends!(bad_input_on_the_email_and_login_endpoints_is_named_and_writes_nothing);

async fn bad_input_on_the_email_and_login_endpoints_is_named_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let resend = app
        .post(
            "/api/v1/email-verifications",
            &json!({"email": "not-an-address"}),
        )
        .await;
    assert_eq!(resend.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        resend.field_errors(),
        vec![("email".into(), "email_format".into())]
    );
    let confirm = app
        .post("/api/v1/email-verifications/confirm", &json!({}))
        .await;
    assert_eq!(confirm.status, StatusCode::BAD_REQUEST);
    assert_eq!(confirm.code(), "email_token_invalid");
    let login = app.post("/api/v1/sessions", &json!({})).await;
    assert_eq!(login.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        login.field_errors(),
        vec![
            ("login".into(), "login_required".into()),
            ("password".into(), "password_required".into())
        ]
    );
    let wrong_type = app
        .post(
            "/api/v1/sessions",
            &json!({"login": ["x"], "password": "y"}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.field_errors()[0].0, "login");
    assert_eq!(app.event_count().await, 0);
}
