//! Staff sign in with a second factor (issue 16): TOTP enrolled at the first login, one-time
//! recovery codes, an administrator's reset. Before it, a staff session reaches nothing.

use crate::helpers::*;
use crate::on_both_backends;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

const REVIEW_QUEUE: &str = "/api/v1/reviews";

async fn staff_login(app: &TestApp, username: &str, password: &str, expect: &str) -> String {
    let response = app.login(username, password).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.body["second_factor"], expect);
    response.body["token"].as_str().unwrap().to_string()
}

/// A staff member of a role who has enrolled a second factor.
struct Enrolled {
    username: String,
    password: String,
    /// The session that enrolled (it has passed the factor).
    first: String,
    secret: String,
    codes: Vec<String>,
}

async fn enrolled(app: &TestApp, role: &str, scope: Option<&str>) -> Enrolled {
    let (username, password) = app.create_staff(role, scope).await;
    let first = staff_login(app, &username, &password, "enrol").await;
    let (secret, codes) = app.enrol_factor(&first).await;
    Enrolled {
        username,
        password,
        first,
        secret,
        codes,
    }
}

/// A 6-digit code that is none of the codes of the steps around now.
fn wrong_code(app: &TestApp, secret: &str) -> &'static str {
    let near: Vec<String> = (-1..=2).map(|step| app.totp(secret, step)).collect();
    ["111111", "222222", "333333", "444444", "555555"]
        .into_iter()
        .find(|code| !near.iter().any(|n| n == code))
        .unwrap()
}

async fn pass(app: &TestApp, token: &str, code: &str) -> TestResponse {
    app.post_authorized("/api/v1/staff/second-factor", token, &json!({"code": code}))
        .await
}

async fn a_staff_session_reaches_nothing_before_its_enrolled_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (username, password) = app.create_staff("reviewer", None).await;
    let token = staff_login(&app, &username, &password, "enrol").await;
    for path in [REVIEW_QUEUE, "/api/v1/me", "/api/v1/me/sessions"] {
        let refused = app.get(path, Some(&token)).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.text
        );
        assert_eq!(refused.body["code"], "second_factor_required");
    }
    let state = app.get("/api/v1/staff/second-factor", Some(&token)).await;
    let secret = state.body["secret"].as_str().unwrap().to_string();
    let uri = state.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/xuexin%3A") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    // A wrong code enrols nothing.
    let wrong = app
        .post_authorized(
            "/api/v1/staff/second-factor/enrolment",
            &token,
            &json!({"code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert_eq!(wrong.body["code"], "second_factor_invalid");
    assert!(app.events_of_type("SecondFactorEnrolled").await.is_empty());
    assert_eq!(
        app.get(REVIEW_QUEUE, Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );

    let (same_secret, codes) = app.enrol_factor(&token).await;
    assert_eq!(same_secret, secret, "the QR shown again is the same");
    assert_eq!(codes.len(), 10);
    assert_eq!(
        app.get(REVIEW_QUEUE, Some(&token)).await.status,
        StatusCode::OK
    );
    // Neither the secret nor a recovery code is in any event.
    let enrolled = app.events_of_type("SecondFactorEnrolled").await;
    assert_eq!(enrolled.len(), 1);
    let everything = format!("{:?}", app.events_of_type("SecondFactorEnrolled").await);
    assert!(!everything.contains(&secret));
    for code in &codes {
        assert!(!everything.contains(code.as_str()));
        assert!(!everything.contains(&code.replace('-', "")));
    }
    // Enrolled once: the next login gives a code.
    let again = staff_login(&app, &username, &password, "required").await;
    let state = app.get("/api/v1/staff/second-factor", Some(&again)).await;
    assert_eq!(state.body["state"], "required");
    assert!(state.body["secret"].is_null());
}

async fn a_wrong_reused_or_expired_code_is_refused_and_a_recovery_code_works_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let Enrolled {
        username,
        password,
        secret,
        ..
    } = enrolled(&app, "auditor", None).await;

    let token = staff_login(&app, &username, &password, "required").await;
    let wrong = wrong_code(&app, &secret);
    for (what, code) in [
        ("wrong", wrong.to_string()),
        ("the enrolment's, reused", app.totp(&secret, 0)),
        ("expired", app.totp(&secret, -3)),
    ] {
        let refused = pass(&app, &token, &code).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            refused.text
        );
        assert_eq!(refused.body["code"], "second_factor_invalid");
    }
    assert_eq!(
        app.get("/api/v1/audit/events", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    // The next step's code (a phone's clock a little ahead) passes, once.
    let next = app.totp(&secret, 1);
    assert_eq!(
        pass(&app, &token, &next).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/audit/events", Some(&token)).await.status,
        StatusCode::OK
    );
    let other = staff_login(&app, &username, &password, "required").await;
    assert_eq!(
        pass(&app, &other, &next).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A recovery code, typed loosely, works once, also when two sessions race with it (a
    // second staff member: the first has used up most of the 15 minutes' wrong codes).
    let Enrolled {
        username,
        password,
        codes,
        ..
    } = enrolled(&app, "auditor", None).await;
    let other = staff_login(&app, &username, &password, "required").await;
    let racers = [
        staff_login(&app, &username, &password, "required").await,
        staff_login(&app, &username, &password, "required").await,
    ];
    let typed = codes[3].to_uppercase().replace('-', " ");
    let answers = join_all(racers.iter().map(|t| pass(&app, t, &typed))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![204, 401],
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    assert_eq!(
        pass(&app, &other, &codes[3]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        pass(&app, &other, &codes[4]).await.status,
        StatusCode::NO_CONTENT
    );
    let used = app.events_of_type("RecoveryCodeUsed").await;
    assert_eq!(used.len(), 2);
    assert_eq!(used[1].1["RecoveryCodeUsed"]["remaining"], 8);
}

async fn wrong_codes_close_the_factor_for_a_while(backend: Backend) {
    let app = spawn_app(backend).await;
    let Enrolled {
        username,
        password,
        secret,
        ..
    } = enrolled(&app, "reviewer", None).await;
    let token = staff_login(&app, &username, &password, "required").await;
    let wrong = wrong_code(&app, &secret);
    for _ in 0..5 {
        assert_eq!(
            pass(&app, &token, wrong).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let closed = pass(&app, &token, &app.totp(&secret, 1)).await;
    assert_eq!(
        closed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        closed.text
    );
    assert_eq!(closed.body["code"], "second_factor_rate_limited");
    assert!(closed.headers.get("retry-after").is_some());
}

async fn fifty_parallel_wrong_codes_get_no_more_than_five_tries(backend: Backend) {
    let app = spawn_app(backend).await;
    let Enrolled {
        username,
        password,
        secret,
        ..
    } = enrolled(&app, "reviewer", None).await;
    let token = staff_login(&app, &username, &password, "required").await;
    let wrong = wrong_code(&app, &secret);
    let answers = join_all((0..50).map(|_| pass(&app, &token, wrong))).await;
    let tried = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, limited), (5, 45));
}

async fn an_administrator_resets_a_factor_and_the_next_login_enrols_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let Enrolled {
        username,
        password,
        first,
        ..
    } = enrolled(&app, "registrar", Some("10001")).await;
    let path = |id: &str| format!("/api/v1/staff/accounts/{id}/second-factor");
    let enrolled = app.events_of_type("SecondFactorEnrolled").await;
    assert_eq!(enrolled.len(), 1);
    let account_id = enrolled[0].0.clone();
    let delete = |path: String, token: String| {
        let request = app
            .client
            .delete(format!("{}{path}", app.address))
            .bearer_auth(token);
        app.send(request)
    };

    // Only an administrator, and only after their own second factor.
    let auditor = app.staff_token("auditor", None).await;
    let (admin_name, admin_password) = app.create_staff("administrator", None).await;
    let pending_admin = staff_login(&app, &admin_name, &admin_password, "enrol").await;
    for token in [&auditor, &pending_admin, &first] {
        let refused = delete(path(&account_id), token.clone()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    }
    app.enrol_factor(&pending_admin).await;
    let reset = delete(path(&account_id), pending_admin.clone()).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text);
    let events = app.events_of_type("SecondFactorReset").await;
    assert_eq!(events.len(), 1);
    assert!(events[0].2["actor"]
        .as_str()
        .unwrap()
        .starts_with("administrator:"));
    // The staff member's sessions ended; the next login enrols a new factor.
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let token = staff_login(&app, &username, &password, "enrol").await;
    app.enrol_factor(&token).await;
    assert_eq!(
        delete(
            path(&uuid::Uuid::new_v4().to_string()),
            pending_admin.clone()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

async fn the_operator_resets_a_lost_factor_from_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let Enrolled {
        username, password, ..
    } = enrolled(&app, "administrator", None).await;
    let output = app.cli(&["admin", "reset-factor", "--username", &username]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("reset"), "{stdout}");
    let events = app.events_of_type("SecondFactorReset").await;
    assert_eq!(events[0].2["actor"], "system:admin-cli");
    staff_login(&app, &username, &password, "enrol").await;
    let unknown = app.cli(&["admin", "reset-factor", "--username", "nobody-here"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody-here"));
}

on_both_backends!(
    fifty_parallel_wrong_codes_get_no_more_than_five_tries,
    the_operator_resets_a_lost_factor_from_the_command_line,
    a_staff_session_reaches_nothing_before_its_enrolled_second_factor,
    a_wrong_reused_or_expired_code_is_refused_and_a_recovery_code_works_once,
    wrong_codes_close_the_factor_for_a_while,
    an_administrator_resets_a_factor_and_the_next_login_enrols_again,
);
