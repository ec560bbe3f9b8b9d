//! Account management over HTTP: password, phone, e-mail, name and security questions, with
//! the current password asked again, other sessions ended, and the history of every change.

use crate::helpers::{random_phone, Backend, Person, TestApp, TestResponse};
use crate::on_both_backends;
use crate::recovery::recovery_app;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    changing_the_password_needs_the_current_one_and_ends_other_sessions,
    wrong_current_passwords_are_limited,
    changing_the_phone_releases_the_old_one,
    a_taken_phone_or_a_wrong_code_changes_nothing,
    changing_the_email_verifies_the_new_one_and_tells_the_old_one,
    a_resident_id_name_changes_only_through_review,
    a_passport_holder_changes_the_name_directly,
    security_questions_can_be_set_and_then_recover,
    the_history_lists_every_change_with_time_and_actor,
    staff_and_strangers_cannot_manage_an_account,
);

impl TestApp {
    pub async fn put_authorized(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.send(
            self.client
                .put(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// Registers and opens two sessions ("this browser" and "another device").
    pub async fn two_sessions(&self, person: &Person) -> (String, String) {
        self.register_ok(person).await;
        let (first, _) = self.login_ok(&person.phone, &person.password).await;
        let (second, _) = self.login_ok(&person.phone, &person.password).await;
        (first, second)
    }
}

async fn assert_session_ended(app: &TestApp, token: &str) {
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
}

async fn me(app: &TestApp, token: &str, position: Option<i64>) -> Value {
    let path = match position {
        Some(p) => format!("/api/v1/me?position={p}"),
        None => "/api/v1/me".into(),
    };
    let me = app.get(&path, Some(token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    me.body
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, other) = app.two_sessions(&person).await;
    let new_password = "Changed-Pass-42";

    let missing = app
        .post_authorized(
            "/api/v1/me/password",
            &this,
            &json!({"password": new_password, "password_confirmation": new_password}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.field_errors().contains(&(
        "current_password".into(),
        "current_password_required".into()
    )));
    let wrong = app
        .post_authorized(
            "/api/v1/me/password",
            &this,
            &json!({"current_password": "Not-My-Pass-1", "password": new_password,
                    "password_confirmation": new_password}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.text);
    assert_eq!(wrong.code(), "current_password_wrong");
    let contains_phone = app
        .post_authorized(
            "/api/v1/me/password",
            &this,
            &json!({"current_password": person.password, "password": format!("x{}", person.phone),
                    "password_confirmation": format!("x{}", person.phone)}),
        )
        .await;
    assert!(contains_phone
        .field_errors()
        .contains(&("password".into(), "password_contains_phone".into())));
    assert!(app.events_of_type("PasswordChanged").await.is_empty());

    let changed = app
        .post_authorized(
            "/api/v1/me/password",
            &this,
            &json!({"current_password": person.password, "password": new_password,
                    "password_confirmation": new_password}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["other_sessions_revoked"], 1);
    assert_session_ended(&app, &other).await;
    me(&app, &this, None).await;
    assert_eq!(
        app.login(&person.phone, &person.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&person.phone, new_password).await;
    let notice = app.wait_for_message(&person.phone, "密码已于").await;
    assert!(notice.contains("修改"), "{notice}");
    let changed = app.events_of_type("PasswordChanged").await;
    assert_eq!(changed.len(), 1);
    assert!(changed[0].2["actor"]
        .as_str()
        .unwrap()
        .starts_with("account:"));
    assert!(!changed[0].1.to_string().contains(new_password));
}

async fn wrong_current_passwords_are_limited(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (token, _) = app.two_sessions(&person).await;
    let attempt = |current: &str| {
        json!({"current_password": current, "password": "Changed-Pass-42",
               "password_confirmation": "Changed-Pass-42"})
    };
    for _ in 0..5 {
        let wrong = app
            .post_authorized("/api/v1/me/password", &token, &attempt("Not-My-Pass-1"))
            .await;
        assert_eq!(wrong.code(), "current_password_wrong");
    }
    let limited = app
        .post_authorized("/api/v1/me/password", &token, &attempt(&person.password))
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(limited.code(), "current_password_rate_limited");
    assert!(app.events_of_type("PasswordChanged").await.is_empty());
    // The login itself is not locked by these.
    app.login_ok(&person.phone, &person.password).await;
}

pub(crate) async fn phone_code(app: &TestApp, token: &str, phone: &str) -> String {
    let sent = app
        .post_authorized(
            "/api/v1/me/phone/sms-codes",
            token,
            &json!({"phone": phone}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    app.latest_code(phone).await
}

async fn changing_the_phone_releases_the_old_one(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, other) = app.two_sessions(&person).await;
    let new_phone = random_phone();

    let unchanged = app
        .post_authorized(
            "/api/v1/me/phone/sms-codes",
            &this,
            &json!({"phone": person.phone}),
        )
        .await;
    assert!(unchanged
        .field_errors()
        .contains(&("phone".into(), "phone_unchanged".into())));

    let code = phone_code(&app, &this, &new_phone).await;
    assert!(app
        .wait_for_message(&new_phone, "更换学信网账号绑定的手机号")
        .await
        .contains(&code));
    let changed = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": person.password, "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["other_sessions_revoked"], 1);
    assert_session_ended(&app, &other).await;
    let position = changed.position();
    let profile = me(&app, &this, Some(position)).await;
    assert_eq!(
        profile["phone"],
        format!("{}****{}", &new_phone[..3], &new_phone[7..])
    );

    // At once: the new phone logs in, the old one does not.
    app.login_ok(&new_phone, &person.password).await;
    assert_eq!(
        app.login(&person.phone, &person.password).await.code(),
        "invalid_credentials"
    );
    let notice = app.wait_for_message(&person.phone, "手机号已于").await;
    assert!(
        !notice.contains(&new_phone),
        "the new phone is masked: {notice}"
    );
    // The code is used up.
    let again = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": person.password, "phone": random_phone(), "sms_code": code}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The old phone is free for someone else.
    app.settle_bindings().await;
    let next = Person {
        phone: person.phone.clone(),
        ..Person::random()
    };
    app.register_ok(&next).await;
    app.login_ok(&person.phone, &next.password).await;
}

async fn a_taken_phone_or_a_wrong_code_changes_nothing(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let holder = Person::random();
    app.register_ok(&holder).await;
    let (this, other) = app.two_sessions(&person).await;

    let taken = app
        .post_authorized(
            "/api/v1/me/phone/sms-codes",
            &this,
            &json!({"phone": holder.phone}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert!(taken
        .field_errors()
        .contains(&("phone".into(), "phone_taken".into())));

    let new_phone = random_phone();
    let code = phone_code(&app, &this, &new_phone).await;
    let wrong_code = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": person.password, "phone": new_phone, "sms_code": "000000"}),
        )
        .await;
    assert_eq!(wrong_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong_code
        .field_errors()
        .contains(&("sms_code".into(), "sms_code_invalid".into())));
    let wrong_password = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": "Not-My-Pass-1", "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(wrong_password.code(), "current_password_wrong");
    // A code sent to one phone does not change to another.
    let elsewhere = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": person.password, "phone": random_phone(), "sms_code": code}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert!(app.events_of_type("PhoneChanged").await.is_empty());
    me(&app, &other, None).await;
    app.login_ok(&person.phone, &person.password).await;
    assert_eq!(
        app.login(&new_phone, &person.password).await.code(),
        "invalid_credentials"
    );
}

async fn changing_the_email_verifies_the_new_one_and_tells_the_old_one(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, other) = app.two_sessions(&person).await;
    app.verify_email(&person.email).await;
    let someone = Person::random();
    app.register_ok(&someone).await;

    let taken = app
        .post_authorized(
            "/api/v1/me/email",
            &this,
            &json!({"current_password": person.password, "email": someone.email}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert!(taken
        .field_errors()
        .contains(&("email".into(), "email_taken".into())));
    let unchanged = app
        .post_authorized(
            "/api/v1/me/email",
            &this,
            &json!({"current_password": person.password, "email": person.email.to_uppercase()}),
        )
        .await;
    assert!(unchanged
        .field_errors()
        .contains(&("email".into(), "email_unchanged".into())));

    let new_email = format!("new.{}", person.email);
    let changed = app
        .post_authorized(
            "/api/v1/me/email",
            &this,
            &json!({"current_password": person.password, "email": new_email}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::ACCEPTED, "{}", changed.text);
    assert_eq!(changed.body["status"], "verification_sent");
    assert_session_ended(&app, &other).await;
    let profile = me(&app, &this, Some(changed.position())).await;
    assert_eq!(profile["email_status"], "pending");

    let notice = app.wait_for_message(&person.email, "安全邮箱已于").await;
    assert!(!notice.contains(&new_email), "{notice}");
    // Unverified, the new address does not log in; verified, it does. The old one never again.
    assert_eq!(
        app.login(&new_email, &person.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.verify_email(&new_email).await;
    app.login_ok(&new_email, &person.password).await;
    assert_eq!(
        app.login(&person.email, &person.password).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_resident_id_name_changes_only_through_review(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, other) = app.two_sessions(&person).await;
    let reviewer = app.staff_token("reviewer", None).await;

    let no_reason = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "王晓明"}),
        )
        .await;
    assert!(no_reason
        .field_errors()
        .contains(&("reason".into(), "reason_required".into())));
    let requested = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "王晓明", "reason": "户籍更名"}),
        )
        .await;
    assert_eq!(requested.status, StatusCode::ACCEPTED, "{}", requested.text);
    assert_eq!(requested.body["status"], "pending_review");
    assert_eq!(me(&app, &this, None).await["name"], "王小明");
    let twice = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "王晓明", "reason": "户籍更名"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.code(), "name_change_pending");

    // Only reviewers see and decide the queue.
    let forbidden = app.get("/api/v1/name-changes", Some(&this)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let queue = app
        .get(
            &format!("/api/v1/name-changes?position={}", requested.position()),
            Some(&reviewer),
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text);
    let item = queue
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["new_name"] == "王晓明")
        .expect("the request is queued")
        .clone();
    let account_id = item["account_id"].as_str().unwrap().to_string();
    assert_eq!(item["reason"], "户籍更名");
    assert!(item["document_number"].as_str().unwrap().contains('*'));

    let no_reason = app
        .post_authorized(
            &format!("/api/v1/name-changes/{account_id}/reject"),
            &reviewer,
            &json!({}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rejected = app
        .post_authorized(
            &format!("/api/v1/name-changes/{account_id}/reject"),
            &reviewer,
            &json!({"reason": "请上传户口本更名页"}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.text);
    let approve_nothing = app
        .post_authorized(
            &format!("/api/v1/name-changes/{account_id}/approve"),
            &reviewer,
            &json!({}),
        )
        .await;
    assert_eq!(approve_nothing.status, StatusCode::CONFLICT);
    assert_eq!(approve_nothing.code(), "name_change_not_pending");
    me(&app, &other, None).await;

    let again = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "王晓明", "reason": "户籍更名，已补充材料"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    let approved = app
        .post_authorized(
            &format!("/api/v1/name-changes/{account_id}/approve"),
            &reviewer,
            &json!({}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    // Every session ends; the next login sees the new name.
    assert_session_ended(&app, &this).await;
    assert_session_ended(&app, &other).await;
    let (token, position) = app.login_ok(&person.phone, &person.password).await;
    assert_eq!(
        me(&app, &token, Some(position.max(approved.position()))).await["name"],
        "王晓明"
    );
    let changes = app.events_of_type("NameChanged").await;
    assert_eq!(changes.len(), 1);
    assert!(changes[0].2["actor"]
        .as_str()
        .unwrap()
        .starts_with("reviewer:"));
}

async fn a_passport_holder_changes_the_name_directly(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person {
        name: "JOHN SMITH".into(),
        document_number: format!("E{}", &random_phone()[3..]),
        ..Person::random()
    };
    let code = app.registration_code(&person.phone).await;
    let mut form = person.form(&code);
    form["document_type"] = json!("overseas_chinese_id_or_passport");
    let registered = app.post("/api/v1/registrations", &form).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let (this, _) = app.login_ok(&person.phone, &person.password).await;
    let (other, _) = app.login_ok(&person.phone, &person.password).await;

    let bad = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "J0HN"}),
        )
        .await;
    assert!(bad
        .field_errors()
        .contains(&("name".into(), "name_format".into())));
    let changed = app
        .post_authorized(
            "/api/v1/me/name",
            &this,
            &json!({"current_password": person.password, "name": "JOHN A SMITH"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["status"], "changed");
    assert_session_ended(&app, &other).await;
    assert_eq!(
        me(&app, &this, Some(changed.position())).await["name"],
        "JOHN A SMITH"
    );
}

async fn security_questions_can_be_set_and_then_recover(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, other) = app.two_sessions(&person).await;
    let questions = json!([
        {"question": "您母亲的生日?", "answer": "三月初八"},
        {"question": "您小学的名字?", "answer": "红星小学"},
        {"question": "您最喜欢的老师?", "answer": "李老师"},
    ]);
    let invalid = app
        .put_authorized(
            "/api/v1/me/security-questions",
            &this,
            &json!({"current_password": person.password, "security_questions": [questions[0]]}),
        )
        .await;
    assert!(invalid.field_errors().contains(&(
        "security_questions".into(),
        "security_questions_invalid".into()
    )));
    let wrong = app
        .put_authorized(
            "/api/v1/me/security-questions",
            &this,
            &json!({"current_password": "Not-My-Pass-1", "security_questions": questions}),
        )
        .await;
    assert_eq!(wrong.code(), "current_password_wrong");
    let set = app
        .put_authorized(
            "/api/v1/me/security-questions",
            &this,
            &json!({"current_password": person.password, "security_questions": questions}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(
        me(&app, &this, Some(set.position())).await["security_questions_set"],
        true
    );
    // Not one of the changes that end other sessions.
    me(&app, &other, None).await;
    let stored = app.events_of_type("SecurityQuestionsSet").await;
    assert!(!stored[0].1.to_string().contains("三月初八"));

    let ticket = app.recovery_ticket(&person.phone).await;
    let right = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": ["三月初八", "红星小学", "李老师"]}),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
}

async fn the_history_lists_every_change_with_time_and_actor(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let (this, _) = app.two_sessions(&person).await;
    let new_phone = random_phone();
    let code = phone_code(&app, &this, &new_phone).await;
    let changed = app
        .post_authorized(
            "/api/v1/me/phone",
            &this,
            &json!({"current_password": person.password, "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let changed = app
        .post_authorized(
            "/api/v1/me/password",
            &this,
            &json!({"current_password": person.password, "password": "Changed-Pass-42",
                    "password_confirmation": "Changed-Pass-42"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);

    let history = app.get("/api/v1/me/history", Some(&this)).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let entries = history.body.as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "RegistrationStarted",
        "Registered",
        "LoginSucceeded",
        "PhoneChanged",
        "PasswordChanged",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let phone_changed = entries
        .iter()
        .find(|e| e["event"] == "PhoneChanged")
        .unwrap();
    assert_eq!(phone_changed["actor_label"], "本人");
    assert!(phone_changed["actor"]
        .as_str()
        .unwrap()
        .starts_with("account:"));
    assert!(phone_changed["time"].as_str().unwrap().ends_with('Z'));
    assert!(phone_changed["summary"]
        .as_str()
        .unwrap()
        .contains(&format!("{}****{}", &new_phone[..3], &new_phone[7..])));
    assert!(!history.text.contains(&new_phone));
    assert!(!history.text.contains(&person.phone));
    assert!(!history.text.contains("argon2"));
    assert!(!history.text.contains(&person.document_number));
    // Oldest first.
    let positions: Vec<i64> = entries
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
}

async fn staff_and_strangers_cannot_manage_an_account(backend: Backend) {
    let app = recovery_app(backend).await;
    let reviewer = app.staff_token("reviewer", None).await;
    let body = json!({"current_password": "Staff-Pass-2024!", "password": "Changed-Pass-42",
                      "password_confirmation": "Changed-Pass-42"});
    let staff = app
        .post_authorized("/api/v1/me/password", &reviewer, &body)
        .await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
    let nobody = app.post("/api/v1/me/password", &body).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    let history = app.get("/api/v1/me/history", None).await;
    assert_eq!(history.status, StatusCode::UNAUTHORIZED);
    // A person cannot approve name changes.
    let person = Person::random();
    let (token, _) = app.two_sessions(&person).await;
    let approve = app
        .post_authorized(
            &format!("/api/v1/name-changes/{}/approve", uuid::Uuid::new_v4()),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(approve.status, StatusCode::FORBIDDEN);
}
