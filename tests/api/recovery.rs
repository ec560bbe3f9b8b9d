//! 找回用户名 and 找回密码 over HTTP (seeds 000, 002): captcha, the three recovery methods, the
//! reset, and every refusal with its stable code and nothing changed.

use crate::helpers::{relaxed_limits, spawn_app_with, Backend, Person, TestApp, TestResponse};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    captchas_are_single_use_and_required,
    find_username_answers_masked_and_the_same_shape_when_unknown,
    find_username_refuses_after_five_failures_per_document_or_client,
    password_reset_by_sms_end_to_end,
    a_token_of_one_step_cannot_skip_the_next,
    expired_codes_and_tickets_are_refused,
    password_reset_by_email_link_and_every_link_dies_after_a_reset,
    security_questions_reset_and_notices,
    three_wrong_answers_close_the_questions_for_a_day,
    nothing_bound_and_unknown_names_get_the_same_answer,
    unknown_and_known_usernames_take_about_the_same_time,
    housekeeping_removes_only_long_expired_rows,
);

fn mask(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

pub async fn recovery_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        relaxed_limits(config);
        config.trust_forwarded_for = true;
    })
    .await
}

impl TestApp {
    /// A new captcha and its answer (dev mode writes the answer to the outbox).
    pub async fn captcha(&self) -> (String, String) {
        let created = self.post("/api/v1/captchas", &json!({})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert!(created.body["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"));
        let id = created.body["captcha_id"].as_str().unwrap().to_string();
        let outbox = self.outbox(&id).await;
        let answer = outbox[0]["body"].as_str().unwrap().to_string();
        (id, answer)
    }

    pub async fn post_from(&self, ip: &str, path: &str, body: &Value) -> TestResponse {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .header("x-forwarded-for", ip)
                .json(body),
        )
        .await
    }

    pub async fn find_username(&self, ip: &str, name: &str, document_number: &str) -> TestResponse {
        let (captcha_id, captcha_answer) = self.captcha().await;
        self.post_from(
            ip,
            "/api/v1/username-recoveries",
            &json!({
                "name": name,
                "document_number": document_number,
                "captcha_id": captcha_id,
                "captcha_answer": captcha_answer,
            }),
        )
        .await
    }

    pub async fn start_recovery(&self, username: &str) -> TestResponse {
        let (captcha_id, captcha_answer) = self.captcha().await;
        self.post(
            "/api/v1/password-recoveries",
            &json!({"username": username, "captcha_id": captcha_id, "captcha_answer": captcha_answer}),
        )
        .await
    }

    /// Starts recovery for `username`; returns the start ticket.
    pub async fn recovery_ticket(&self, username: &str) -> String {
        let started = self.start_recovery(username).await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        started.body["ticket"].as_str().unwrap().to_string()
    }

    /// The SMS path up to the reset token.
    pub async fn reset_token_by_sms(&self, phone: &str) -> String {
        let ticket = self.recovery_ticket(phone).await;
        let sent = self
            .post(
                "/api/v1/password-recoveries/sms-codes",
                &json!({"ticket": ticket}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
        assert_eq!(sent.body["sent_to"], mask(phone));
        let code = self.latest_code(phone).await;
        let verified = self
            .post(
                "/api/v1/password-recoveries/sms-verifications",
                &json!({"ticket": ticket, "sms_code": code}),
            )
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
        verified.body["reset_token"].as_str().unwrap().to_string()
    }

    pub async fn reset_password(&self, token: &str, password: &str) -> TestResponse {
        self.post(
            "/api/v1/password-resets",
            &json!({"token": token, "password": password, "password_confirmation": password}),
        )
        .await
    }

    /// Every reset-link token mailed to `email`, newest first.
    pub async fn reset_links(&self, email: &str) -> Vec<String> {
        let marker = "/reset-password?token=";
        self.outbox(email)
            .await
            .iter()
            .filter_map(|m| m["body"].as_str())
            .filter_map(|body| {
                body.find(marker).map(|start| {
                    body[start + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect()
                })
            })
            .collect()
    }

    pub async fn verify_email(&self, email: &str) {
        let token = self.verification_token(email).await;
        let confirmed = self
            .post(
                "/api/v1/email-verifications/confirm",
                &json!({"token": token}),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    }

    /// Waits for a captured message to `to` whose body contains `needle`.
    pub async fn wait_for_message(&self, to: &str, needle: &str) -> String {
        for _ in 0..200 {
            if let Some(body) = self
                .outbox(to)
                .await
                .iter()
                .filter_map(|m| m["body"].as_str())
                .find(|b| b.contains(needle))
            {
                return body.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message with {needle:?} reached {to}");
    }
}

fn security_form(person: &Person, code: &str) -> Value {
    let mut form = person.form(code);
    form["security_questions"] = json!([
        {"question": "您母亲的生日?", "answer": "三月初八"},
        {"question": "您小学的名字?", "answer": "Hong Xing Primary"},
        {"question": "您最喜欢的老师?", "answer": "李老师"},
    ]);
    form
}

pub(crate) async fn register_with_questions(app: &TestApp, person: &Person) -> String {
    let code = app.registration_code(&person.phone).await;
    let registered = app
        .post("/api/v1/registrations", &security_form(person, &code))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    registered.body["account_id"].as_str().unwrap().to_string()
}

async fn captchas_are_single_use_and_required(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;

    let missing = app
        .post(
            "/api/v1/username-recoveries",
            &json!({"name": person.name, "document_number": person.document_number}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing
        .field_errors()
        .contains(&("captcha_answer".into(), "captcha_required".into())));

    let (id, answer) = app.captcha().await;
    let wrong = app
        .post(
            "/api/v1/username-recoveries",
            &json!({"name": person.name, "document_number": person.document_number,
                    "captcha_id": id, "captcha_answer": "zzzz"}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text
    );
    assert!(wrong
        .field_errors()
        .contains(&("captcha_answer".into(), "captcha_invalid".into())));
    // One attempt per captcha: the right answer after a wrong one is refused too.
    let retried = app
        .post(
            "/api/v1/username-recoveries",
            &json!({"name": person.name, "document_number": person.document_number,
                    "captcha_id": id, "captcha_answer": answer}),
        )
        .await;
    assert!(retried
        .field_errors()
        .contains(&("captcha_answer".into(), "captcha_invalid".into())));

    let (id, answer) = app.captcha().await;
    let body = json!({"username": person.phone, "captcha_id": id, "captcha_answer": answer});
    let first = app.post("/api/v1/password-recoveries", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = app.post("/api/v1/password-recoveries", &body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again
        .field_errors()
        .contains(&("captcha_answer".into(), "captcha_invalid".into())));

    // An expired captcha is refused.
    let (id, answer) = app.captcha().await;
    xuexin_projections::db_execute!(&app.db, "UPDATE captchas SET expires_at = 0").unwrap();
    let expired = app
        .post(
            "/api/v1/password-recoveries",
            &json!({"username": person.phone, "captcha_id": id, "captcha_answer": answer}),
        )
        .await;
    assert!(expired
        .field_errors()
        .contains(&("captcha_answer".into(), "captcha_invalid".into())));
}

async fn find_username_answers_masked_and_the_same_shape_when_unknown(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;

    let found = app
        .find_username(
            "10.0.0.1",
            &person.name,
            &person.document_number.to_lowercase(),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(found.body["found"], true);
    assert_eq!(found.body["username"], mask(&person.phone));
    assert!(!found.text.contains(&person.phone));

    let stranger = Person::random();
    let missing = app
        .find_username("10.0.0.2", &stranger.name, &stranger.document_number)
        .await;
    let wrong_name = app
        .find_username("10.0.0.3", "李四", &person.document_number)
        .await;
    for answer in [&missing, &wrong_name] {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["found"], false);
        assert!(answer.body["username"].is_null());
        assert_eq!(answer.body["message"], "证件号码和姓名不符合");
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&answer.body), keys(&found.body));
    }

    let bad = app.find_username("10.0.0.4", "1", "").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = bad.field_errors();
    assert!(fields.contains(&("name".into(), "name_format".into())));
    assert!(fields.contains(&("document_number".into(), "id_number_format".into())));
}

async fn find_username_refuses_after_five_failures_per_document_or_client(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;

    // Per document number, from different clients.
    for i in 0..5 {
        let wrong = app
            .find_username(&format!("10.1.0.{i}"), "李四", &person.document_number)
            .await;
        assert_eq!(wrong.status, StatusCode::OK, "{}", wrong.text);
        assert_eq!(wrong.body["found"], false);
    }
    let refused = app
        .find_username("10.1.1.1", &person.name, &person.document_number)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "find_username_rate_limited");
    assert_eq!(refused.body["message"], "请求被取消，不能频繁使用该功能");
    assert!(refused.headers.contains_key("retry-after"));

    // Per client, over different document numbers.
    for _ in 0..5 {
        let stranger = Person::random();
        let wrong = app
            .find_username("10.2.0.1", &stranger.name, &stranger.document_number)
            .await;
        assert_eq!(wrong.status, StatusCode::OK, "{}", wrong.text);
    }
    let other = Person::random();
    app.register_ok(&other).await;
    let refused = app
        .find_username("10.2.0.1", &other.name, &other.document_number)
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), "find_username_rate_limited");
    // Another client still finds it.
    let found = app
        .find_username("10.2.0.2", &other.name, &other.document_number)
        .await;
    assert_eq!(found.body["found"], true, "{}", found.text);
}

async fn password_reset_by_sms_end_to_end(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let (session, _) = app.login_ok(&person.phone, &person.password).await;
    // A lockout is lifted by the reset.
    app.lock_out(&person.phone).await;
    assert_eq!(
        app.login(&person.phone, &person.password).await.code(),
        "account_locked"
    );

    let started = app.start_recovery(&person.document_number).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(started.body["username"], mask(&person.phone));
    assert_eq!(started.body["re_register"], false);
    let methods = started.body["methods"].as_array().unwrap();
    assert_eq!(
        methods.len(),
        1,
        "e-mail unverified, no questions: {methods:?}"
    );
    assert_eq!(methods[0]["method"], "sms");
    assert_eq!(methods[0]["target"], mask(&person.phone));

    let before = app.event_count().await;
    let token = app.reset_token_by_sms(&person.phone).await;
    assert_eq!(
        app.event_count().await,
        before,
        "asking for a reset changes nothing by itself"
    );
    assert_eq!(
        app.login(&person.phone, &person.password).await.code(),
        "account_locked"
    );

    let new_password = "Brand-New-Pass-7";
    let weak = app.reset_password(&token, "123456").await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reset = app.reset_password(&token, new_password).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert!(
        reset.body.get("token").is_none(),
        "no automatic login: {}",
        reset.text
    );

    let me = app.get("/api/v1/me", Some(&session)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "sessions are revoked");
    assert_eq!(
        app.login(&person.phone, &person.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&person.phone, new_password).await;

    let resets = app.events_of_type("PasswordReset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].0, account_id);
    assert_eq!(resets[0].2["actor"], "anonymous");
    assert_eq!(app.events_of_type("AccountUnlocked").await.len(), 1);
    let notice = app.wait_for_message(&person.phone, "密码已于").await;
    assert!(notice.contains("重置"), "{notice}");

    let reused = app.reset_password(&token, "Another-Pass-8").await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.code(), "recovery_token_invalid");
}

async fn a_token_of_one_step_cannot_skip_the_next(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let ticket = app.recovery_ticket(&person.phone).await;

    // A start ticket is not a reset token.
    let skipped = app.reset_password(&ticket, "Brand-New-Pass-7").await;
    assert_eq!(skipped.status, StatusCode::BAD_REQUEST);
    assert_eq!(skipped.code(), "recovery_token_invalid");
    // A reset token is not a start ticket.
    let token = app.reset_token_by_sms(&person.phone).await;
    let backwards = app
        .post(
            "/api/v1/password-recoveries/sms-codes",
            &json!({"ticket": token}),
        )
        .await;
    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    assert_eq!(backwards.code(), "recovery_token_invalid");
    // No ticket, made-up ticket.
    for ticket in [json!(null), json!("made-up")] {
        let refused = app
            .post(
                "/api/v1/password-recoveries/sms-verifications",
                &json!({"ticket": ticket, "sms_code": "123456"}),
            )
            .await;
        assert_eq!(refused.code(), "recovery_token_invalid");
    }
    // A wrong SMS code gives no reset token.
    let wrong = app
        .post(
            "/api/v1/password-recoveries/sms-verifications",
            &json!({"ticket": ticket, "sms_code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.get("reset_token").is_none());
    // The e-mail path is not open for an account without a verified e-mail.
    let closed = app
        .post(
            "/api/v1/password-recoveries/email-links",
            &json!({"ticket": ticket, "name": person.name, "document_number": person.document_number}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::CONFLICT);
    assert_eq!(closed.code(), "recovery_method_unavailable");
    // After a reset, every start ticket of the account is dead.
    let reset = app.reset_password(&token, "Brand-New-Pass-7").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let stale = app
        .post(
            "/api/v1/password-recoveries/sms-codes",
            &json!({"ticket": ticket}),
        )
        .await;
    assert_eq!(stale.code(), "recovery_token_invalid");
}

async fn expired_codes_and_tickets_are_refused(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let ticket = app.recovery_ticket(&person.phone).await;
    let sent = app
        .post(
            "/api/v1/password-recoveries/sms-codes",
            &json!({"ticket": ticket}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    // Ten minutes from now, not a day.
    let expires = sent.body["expires_at"].as_str().unwrap();
    let expires = xuexin_domain::Timestamp::parse_rfc3339(expires).unwrap();
    let left = expires.millis()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
    assert!(left <= 600_000 && left > 540_000, "{left} ms");
    let code = app.latest_code(&person.phone).await;
    xuexin_projections::db_execute!(
        &app.db,
        "UPDATE sms_codes SET expires_at = 0 WHERE purpose = 'recover'"
    )
    .unwrap();
    let expired = app
        .post(
            "/api/v1/password-recoveries/sms-verifications",
            &json!({"ticket": ticket, "sms_code": code}),
        )
        .await;
    assert_eq!(
        expired.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        expired.text
    );
    assert!(expired
        .field_errors()
        .contains(&("sms_code".into(), "sms_code_invalid".into())));

    xuexin_projections::db_execute!(&app.db, "UPDATE recovery_tickets SET expires_at = 0").unwrap();
    let stale = app
        .post(
            "/api/v1/password-recoveries/sms-codes",
            &json!({"ticket": ticket}),
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert_eq!(stale.code(), "recovery_token_invalid");
    assert!(app.events_of_type("PasswordReset").await.is_empty());
}

async fn password_reset_by_email_link_and_every_link_dies_after_a_reset(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    app.verify_email(&person.email).await;
    app.settle().await;

    let started = app.start_recovery(&person.email).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let methods: Vec<&str> = started.body["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["sms", "email"]);
    let ticket = started.body["ticket"].as_str().unwrap().to_string();

    let mismatch = app
        .post(
            "/api/v1/password-recoveries/email-links",
            &json!({"ticket": ticket, "name": "李四", "document_number": person.document_number}),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mismatch.code(), "recovery_identity_mismatch");
    assert!(app
        .events_of_type("PasswordResetRequested")
        .await
        .is_empty());

    let request =
        json!({"ticket": ticket, "name": person.name, "document_number": person.document_number});
    for _ in 0..3 {
        let sent = app
            .post("/api/v1/password-recoveries/email-links", &request)
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
        assert!(!sent.text.contains(&person.email));
    }
    // A mailbox is not flooded: three links an hour.
    let flooded = app
        .post("/api/v1/password-recoveries/email-links", &request)
        .await;
    assert_eq!(
        flooded.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        flooded.text
    );
    assert_eq!(flooded.code(), "recovery_rate_limited");
    let links = loop {
        let links = app.reset_links(&person.email).await;
        if links.len() == 3 {
            break links;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let page = app
        .get(&format!("/reset-password?token={}", links[0]), None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("重置密码"));

    let reset = app.reset_password(&links[0], "Brand-New-Pass-7").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    for link in &links {
        let reused = app.reset_password(link, "Another-Pass-8").await;
        assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{}", reused.text);
        assert_eq!(reused.code(), "recovery_token_invalid");
    }
    app.login_ok(&person.email, "Brand-New-Pass-7").await;
    let notice = app.wait_for_message(&person.email, "密码已于").await;
    assert!(notice.contains("重置"), "{notice}");
}

async fn security_questions_reset_and_notices(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    register_with_questions(&app, &person).await;
    app.settle().await;

    let ticket = app.recovery_ticket(&person.phone).await;
    let questions = app
        .post(
            "/api/v1/password-recoveries/questions",
            &json!({"ticket": ticket}),
        )
        .await;
    assert_eq!(questions.status, StatusCode::OK, "{}", questions.text);
    assert_eq!(
        questions.body["questions"],
        json!(["您母亲的生日?", "您小学的名字?", "您最喜欢的老师?"])
    );
    assert!(!questions.text.contains("三月初八"));

    let two = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": ["三月初八", "Hong Xing Primary"]}),
        )
        .await;
    assert_eq!(two.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(two
        .field_errors()
        .contains(&("answers".into(), "security_answers_required".into())));

    let wrong = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": ["三月初八", "Hong Xing Primary", "王老师"]}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text
    );
    assert_eq!(wrong.code(), "security_answers_wrong");
    assert_eq!(wrong.body["attempts_left"], 2);
    app.wait_for_message(&person.phone, "答案不正确").await;

    // Answers are compared normalized: case, width and surrounding spaces do not matter.
    let right = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": [" 三月初八 ", "hong xing primary", "李老师"]}),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    let token = right.body["reset_token"].as_str().unwrap();
    app.wait_for_message(&person.phone, "通过密保问题验证")
        .await;
    let reset = app.reset_password(token, "Brand-New-Pass-7").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    app.login_ok(&person.document_number, "Brand-New-Pass-7")
        .await;
    let reset = &app.events_of_type("PasswordReset").await[0];
    assert_eq!(reset.1["PasswordReset"]["reason"], "security_questions");
}

async fn three_wrong_answers_close_the_questions_for_a_day(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    register_with_questions(&app, &person).await;
    let ticket = app.recovery_ticket(&person.phone).await;
    let answer = |answers: Value| {
        let app = &app;
        let ticket = ticket.clone();
        async move {
            app.post(
                "/api/v1/password-recoveries/answers",
                &json!({"ticket": ticket, "answers": answers}),
            )
            .await
        }
    };
    let wrong = json!(["a", "b", "c"]);
    assert_eq!(answer(wrong.clone()).await.body["attempts_left"], 2);
    assert_eq!(answer(wrong.clone()).await.body["attempts_left"], 1);
    let closed = answer(wrong.clone()).await;
    assert_eq!(closed.status, StatusCode::LOCKED, "{}", closed.text);
    assert_eq!(closed.code(), "security_questions_closed");
    let retry: u64 = closed.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 23 * 3600 && retry <= 24 * 3600, "{retry}");
    let right = answer(json!(["三月初八", "Hong Xing Primary", "李老师"])).await;
    assert_eq!(right.status, StatusCode::LOCKED);
    assert!(right.body.get("reset_token").is_none());
    // The other paths stay open and the password is unchanged.
    app.login_ok(&person.phone, &person.password).await;
    app.reset_token_by_sms(&person.phone).await;
}

async fn nothing_bound_and_unknown_names_get_the_same_answer(backend: Backend) {
    let app = recovery_app(backend).await;
    // Issue 13: an unknown name gets the answer an account with nothing bound gets (register
    // again), not a 404 that tells the two apart.
    let unbound = |answer: &crate::helpers::TestResponse| {
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["re_register"], true, "{}", answer.text);
        assert!(answer.body["ticket"].is_null());
        assert_eq!(answer.body["methods"], json!([]));
    };
    let unknown = app.start_recovery("13900000000").await;
    unbound(&unknown);
    assert_eq!(unknown.body["username"], "139****0000");
    // Staff accounts are not recovered here, and an unverified e-mail is no username.
    app.staff_token("reviewer", None).await;
    let staff_name: (String,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT CAST(payload AS TEXT) FROM events WHERE event_type = 'StaffAccountCreated'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let staff: Value = serde_json::from_str(&staff_name.0).unwrap();
    let username = staff["StaffAccountCreated"]["profile"]["username"]
        .as_str()
        .unwrap();
    unbound(&app.start_recovery(username).await);
    let unverified = Person::random();
    app.register_ok(&unverified).await;
    let by_email = app.start_recovery(&unverified.email).await;
    unbound(&by_email);
    assert!(
        !by_email.text.contains(&unverified.phone[7..]),
        "{}",
        by_email.text
    );

    // 继续注册 takes the first account's phone: it has no phone, no verified e-mail and no
    // questions left, so the answer is to register again.
    let first = Person::random();
    app.register_ok(&first).await;
    let second = Person {
        phone: first.phone.clone(),
        ..Person::random()
    };
    let code = app.registration_code(&second.phone).await;
    let mut form = second.form(&code);
    form["continue_registration"] = json!(true);
    let taken_over = app.post("/api/v1/registrations", &form).await;
    assert_eq!(
        taken_over.status,
        StatusCode::CREATED,
        "{}",
        taken_over.text
    );
    app.settle_bindings().await;

    let started = app.start_recovery(&first.document_number).await;
    unbound(&started);
    assert!(started.body["message"]
        .as_str()
        .unwrap()
        .contains("重新注册"));
    assert_eq!(started.body["message"], unknown.body["message"]);
    let keys = |answer: &crate::helpers::TestResponse| {
        let mut keys: Vec<String> = answer.body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&started), keys(&unknown));
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn unknown_and_known_usernames_take_about_the_same_time(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    app.settle().await;
    let rounds = 7;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // Find username: a known pair and an unknown one, from fresh clients.
        let (id, answer) = app.captcha().await;
        let body = json!({"name": person.name, "document_number": person.document_number,
                          "captcha_id": id, "captcha_answer": answer});
        let started = Instant::now();
        let found = app
            .post_from(&format!("10.9.0.{i}"), "/api/v1/username-recoveries", &body)
            .await;
        known.push(started.elapsed());
        assert_eq!(found.body["found"], true, "{}", found.text);

        let stranger = Person::random();
        let (id, answer) = app.captcha().await;
        let body = json!({"name": stranger.name, "document_number": stranger.document_number,
                          "captcha_id": id, "captcha_answer": answer});
        let started = Instant::now();
        let missing = app
            .post_from(&format!("10.9.1.{i}"), "/api/v1/username-recoveries", &body)
            .await;
        unknown.push(started.elapsed());
        assert_eq!(missing.body["found"], false, "{}", missing.text);
    }
    let (known, unknown) = (median(known), median(unknown));
    let (fast, slow) = if known < unknown {
        (known, unknown)
    } else {
        (unknown, known)
    };
    assert!(
        slow <= fast * 3 + Duration::from_millis(50),
        "find username: known {known:?} vs unknown {unknown:?}"
    );

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (id, answer) = app.captcha().await;
        let started = Instant::now();
        app.post(
            "/api/v1/password-recoveries",
            &json!({"username": person.phone, "captcha_id": id, "captcha_answer": answer}),
        )
        .await;
        known.push(started.elapsed());
        let (id, answer) = app.captcha().await;
        let started = Instant::now();
        app.post(
            "/api/v1/password-recoveries",
            &json!({"username": crate::helpers::random_phone(), "captcha_id": id, "captcha_answer": answer}),
        )
        .await;
        unknown.push(started.elapsed());
    }
    let (known, unknown) = (median(known), median(unknown));
    let (fast, slow) = if known < unknown {
        (known, unknown)
    } else {
        (unknown, known)
    };
    assert!(
        slow <= fast * 3 + Duration::from_millis(50),
        "start recovery: known {known:?} vs unknown {unknown:?}"
    );
}

async fn housekeeping_removes_only_long_expired_rows(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let live = app.recovery_ticket(&person.phone).await;
    app.recovery_ticket(&person.phone).await;
    let count = |table: &'static str| {
        let db = app.db.clone();
        async move {
            let (n,): (i64,) = xuexin_projections::on_db!(&db, pool => {
                sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(pool)
                    .await
                    .unwrap()
            });
            n
        }
    };
    let captchas = count("captchas").await;
    assert!(captchas >= 2);
    // One ticket and one captcha expired two days ago.
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 2 * 86_400_000;
    xuexin_projections::db_execute!(
        &app.db,
        "UPDATE recovery_tickets SET expires_at = $1
         WHERE ticket_hash = (SELECT MIN(ticket_hash) FROM recovery_tickets WHERE ticket_hash <> $2)",
        two_days_ago,
        xuexin::security::token_hash(&live),
    )
    .unwrap();
    xuexin_projections::db_execute!(
        &app.db,
        "UPDATE captchas SET expires_at = $1 WHERE id = (SELECT MIN(id) FROM captchas)",
        two_days_ago,
    )
    .unwrap();
    let removed = xuexin::housekeeping::sweep(&app.state.housekeeper())
        .await
        .unwrap();
    assert!(removed >= 2, "{removed}");
    assert_eq!(count("recovery_tickets").await, 1);
    assert_eq!(count("captchas").await, captchas - 1);
    // The live ticket still works.
    let sent = app
        .post(
            "/api/v1/password-recoveries/sms-codes",
            &json!({"ticket": live}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
}
