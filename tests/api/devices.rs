//! 登录设备: an account's sessions by device, address and time, and ending one or all others
//! (`GET /api/v1/me/sessions`, `DELETE /api/v1/me/sessions/{id}`, `DELETE
//! /api/v1/me/other-sessions`).

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

const PHONE_AGENT: &str =
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";

impl TestApp {
    async fn login_as_device(&self, login: &str, password: &str, agent: &str) -> String {
        let response = self
            .send(
                self.client
                    .post(format!("{}/api/v1/sessions", self.address))
                    .header("user-agent", agent)
                    .json(&json!({"login": login, "password": password})),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.body["token"].as_str().unwrap().to_string()
    }
}

async fn an_account_lists_its_sessions_and_ends_another_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let laptop = app
        .login_as_device(&person.phone, &person.password, "curl/8.5.0")
        .await;
    let phone = app
        .login_as_device(&person.phone, &person.password, PHONE_AGENT)
        .await;

    let listed = app.get("/api/v1/me/sessions", Some(&laptop)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let sessions = listed.body.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{}", listed.text);
    let mine: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["device"], "curl");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"], "Chrome · Android");
    assert!(other["client_ip"].as_str().is_some_and(|ip| !ip.is_empty()));
    // The listing names sessions without giving away their tokens.
    assert!(!listed.text.contains(&phone) && !listed.text.contains(&laptop));

    let id = other["session_id"].as_str().unwrap();
    let ended = app
        .delete_with(&format!("/api/v1/me/sessions/{id}"), &laptop)
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.status,
        StatusCode::UNAUTHORIZED,
        "the ended session no longer works"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&laptop)).await.status,
        StatusCode::OK,
        "the one that ended it goes on"
    );
    let again = app
        .delete_with(&format!("/api/v1/me/sessions/{id}"), &laptop)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    assert_eq!(again.code(), "session_not_found");
}

async fn nobody_ends_another_accounts_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (victim, attacker) = (Person::random(), Person::random());
    app.register_ok(&victim).await;
    app.register_ok(&attacker).await;
    let victims = app
        .login_as_device(&victim.phone, &victim.password, PHONE_AGENT)
        .await;
    let attackers = app
        .login_as_device(&attacker.phone, &attacker.password, PHONE_AGENT)
        .await;
    let listed = app.get("/api/v1/me/sessions", Some(&victims)).await;
    let id = listed.body[0]["session_id"].as_str().unwrap().to_string();
    let refused = app
        .delete_with(&format!("/api/v1/me/sessions/{id}"), &attackers)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.text);
    assert_eq!(
        app.get("/api/v1/me", Some(&victims)).await.status,
        StatusCode::OK
    );
}

async fn ending_the_other_sessions_keeps_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let tokens = [
        app.login_as_device(&person.phone, &person.password, PHONE_AGENT)
            .await,
        app.login_as_device(&person.phone, &person.password, "curl/8.5.0")
            .await,
        app.login_as_device(&person.phone, &person.password, PHONE_AGENT)
            .await,
    ];
    let ended = app
        .delete_with("/api/v1/me/other-sessions", &tokens[0])
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert_eq!(ended.body["ended"], 2);
    for (i, token) in tokens.iter().enumerate() {
        let expected = if i == 0 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(app.get("/api/v1/me", Some(token)).await.status, expected);
    }
    let listed = app.get("/api/v1/me/sessions", Some(&tokens[0])).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

on_both_backends!(
    an_account_lists_its_sessions_and_ends_another_one,
    nobody_ends_another_accounts_session,
    ending_the_other_sessions_keeps_this_one,
);
