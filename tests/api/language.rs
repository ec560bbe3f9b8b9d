//! The API answers in the language `Accept-Language` asks for: zh-CN by default, English on
//! request, with the same codes; SMS codes asked for in English arrive in English; mails and
//! notices follow the account's language.

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn has_han(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

async fn post_in(app: &TestApp, language: &str, path: &str, body: &Value) -> TestResponse {
    app.send(
        app.client
            .post(format!("{}{path}", app.address))
            .header("Accept-Language", language)
            .json(body),
    )
    .await
}

async fn get_in(app: &TestApp, language: &str, path: &str, token: &str) -> TestResponse {
    app.send(
        app.client
            .get(format!("{}{path}", app.address))
            .header("Accept-Language", language)
            .bearer_auth(token),
    )
    .await
}

async fn refusals_come_back_in_english_when_asked_and_in_chinese_otherwise(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad_form = json!({"phone": "12", "password": "x", "name": "", "document_type": "nope"});

    let chinese = app.post("/api/v1/registrations", &bad_form).await;
    assert_eq!(
        chinese.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        chinese.text
    );
    assert_eq!(chinese.headers["content-language"], "zh-CN");
    assert!(has_han(chinese.body["message"].as_str().unwrap()));

    let english = post_in(
        &app,
        "en-GB,en;q=0.9,zh;q=0.1",
        "/api/v1/registrations",
        &bad_form,
    )
    .await;
    assert_eq!(
        english.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        english.text
    );
    assert_eq!(english.headers["content-language"], "en");
    assert!(english.headers["vary"]
        .to_str()
        .unwrap()
        .contains("accept-language"));
    // The same codes, at the same fields, each with an English message.
    assert_eq!(english.body["code"], chinese.body["code"]);
    assert_eq!(english.field_errors(), chinese.field_errors());
    for error in english.body["errors"].as_array().unwrap() {
        let message = error["message"].as_str().unwrap();
        assert!(!message.is_empty() && !has_han(message), "{error}");
    }
    assert_eq!(
        english.body["message"],
        "Some of the information is not valid; please check it and submit again"
    );
    let phone = english.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "phone")
        .unwrap()
        .clone();
    assert_eq!(phone["message"], "The mobile number is not valid");

    // A language we do not have: Chinese.
    let french = post_in(&app, "fr-FR", "/api/v1/registrations", &bad_form).await;
    assert_eq!(french.headers["content-language"], "zh-CN");
    assert_eq!(french.body["message"], chinese.body["message"]);

    // Refusals outside any handler too: an unknown path, a wrong login.
    let missing = app
        .send(
            app.client
                .get(format!("{}/api/v1/nowhere", app.address))
                .header("Accept-Language", "en"),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.body["message"],
        "The requested resource does not exist"
    );
    let wrong = post_in(
        &app,
        "en",
        "/api/v1/sessions",
        &json!({"login": random_phone(), "password": "Not-The-Password-1"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert_eq!(wrong.body["message"], "Wrong username or password");
}

async fn an_english_speaker_gets_the_code_and_the_account_log_in_english(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let sent = post_in(
        &app,
        "en",
        "/api/v1/sms-codes",
        &json!({"phone": person.phone, "purpose": "register"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let sms = app.outbox(&person.phone).await;
    let body = sms[0]["body"].as_str().unwrap().to_string();
    assert!(
        body.starts_with("[CHSI] Your verification code is "),
        "{body}"
    );
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap()
        .to_string();
    let registered = post_in(&app, "en", "/api/v1/registrations", &person.form(&code)).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let (token, _) = app.login_ok(&person.phone, &person.password).await;

    let english = get_in(&app, "en", "/api/v1/me/history", &token).await;
    assert_eq!(english.status, StatusCode::OK, "{}", english.text);
    let chinese = get_in(&app, "zh-CN", "/api/v1/me/history", &token).await;
    let lines = |r: &TestResponse| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["summary"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (english, chinese) = (lines(&english), lines(&chinese));
    assert!(english.contains(&"Registered".to_string()), "{english:?}");
    assert!(
        english.iter().any(|l| l == "Logged in (mobile number)"),
        "{english:?}"
    );
    assert!(english.iter().all(|l| !has_han(l)), "{english:?}");
    assert!(chinese.contains(&"注册成功".to_string()), "{chinese:?}");
}

/// The newest message to `to` whose subject or body contains `marker`, waiting for it.
async fn message_with(app: &TestApp, to: &str, marker: &str) -> Value {
    for _ in 0..200 {
        let found = app.outbox(to).await.into_iter().rev().find(|m| {
            m["subject"].as_str().unwrap_or_default().contains(marker)
                || m["body"].as_str().unwrap_or_default().contains(marker)
        });
        if let Some(message) = found {
            return message;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no message with {marker} reached {to}");
}

async fn mails_and_notices_follow_the_language_the_account_registered_in_or_chose(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let code = app.registration_code(&person.phone).await;
    let registered = post_in(&app, "en-GB", "/api/v1/registrations", &person.form(&code)).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );

    // The verification mail of an English registration is in English.
    let mail = message_with(&app, &person.email, "verify").await;
    assert_eq!(
        mail["subject"], "CHSI: verify your e-mail address",
        "{mail}"
    );
    assert!(!has_han(mail["body"].as_str().unwrap()), "{mail}");

    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let put_language = |language: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.send(
                app.client
                    .put(format!("{}/api/v1/me/language", app.address))
                    .bearer_auth(token)
                    .json(&json!({"language": language})),
            )
            .await
        }
    };
    let refused = put_language("fr").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(refused
        .field_errors()
        .contains(&("language".into(), "language_invalid".into())));
    let chosen = put_language("zh-CN").await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.text);
    assert_eq!(chosen.body["value"], "zh-CN");
    assert_eq!(chosen.body["message"], "语言已设置为简体中文");

    // From now on the account's notices are in Chinese, whatever the request's language.
    let new_password = "Changed-Pass-42";
    let changed = app
        .send(
            app.client
                .post(format!("{}/api/v1/me/password", app.address))
                .header("Accept-Language", "en")
                .bearer_auth(&token)
                .json(
                    &json!({"current_password": person.password, "password": new_password,
                              "password_confirmation": new_password}),
                ),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let notice = message_with(&app, &person.phone, "密码已于").await;
    assert!(
        notice["body"].as_str().unwrap().starts_with("【学信网】"),
        "{notice}"
    );
    let history = get_in(&app, "en", "/api/v1/me/history", &token).await;
    assert!(
        history.text.contains("Language set to English")
            && history.text.contains("Language set to Simplified Chinese"),
        "{}",
        history.text
    );
}

on_both_backends!(
    refusals_come_back_in_english_when_asked_and_in_chinese_otherwise,
    an_english_speaker_gets_the_code_and_the_account_log_in_english,
    mails_and_notices_follow_the_language_the_account_registered_in_or_chose,
);
