//! `xuexin projections verify` and `rebuild` after a mixed workload: the live read models equal
//! a rebuild from the log; a damaged row is named, and a rebuild repairs it.

use crate::helpers::{csv, enrolment_row, random_phone, Backend, Person, ENROLMENT_HEADER};
use crate::on_both_backends;
use crate::recovery::recovery_app;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(rebuild_equals_live_after_a_mixed_workload);

async fn rebuild_equals_live_after_a_mixed_workload(backend: Backend) {
    let app = recovery_app(backend).await;
    // Registrations, a verified e-mail, logins good and bad, a phone change, a name-change
    // request, a records import bound to an account.
    let people = [Person::random(), Person::random(), Person::random()];
    for person in &people {
        app.register_ok(person).await;
    }
    app.verify_email(&people[0].email).await;
    let (token, _) = app.login_ok(&people[0].phone, &people[0].password).await;
    app.login(&people[1].phone, "Wrong-Pass-1!").await;
    let new_phone = random_phone();
    let sent = app
        .post_authorized(
            "/api/v1/me/phone/sms-codes",
            &token,
            &json!({"phone": new_phone}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let code = app.latest_code(&new_phone).await;
    let changed = app
        .post_authorized(
            "/api/v1/me/phone",
            &token,
            &json!({"current_password": people[0].password, "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let requested = app
        .post_authorized(
            "/api/v1/me/name",
            &token,
            &json!({"current_password": people[0].password, "name": "王晓明", "reason": "户籍更名"}),
        )
        .await;
    assert_eq!(requested.status, StatusCode::ACCEPTED);
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let imported = app
        .import(
            &registrar,
            "99003",
            csv(
                ENROLMENT_HEADER,
                &[enrolment_row(&people[2], "2200300001", "软件221")],
            ),
            false,
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    app.settle_bindings().await;

    let verified = app.cli(&["projections", "verify"]);
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        stdout.contains("every read model equals a rebuild"),
        "{stdout}"
    );

    // A damaged read-model row is named.
    xuexin_projections::db_execute!(&app.db, "UPDATE account_view_v1 SET name = '篡改'").unwrap();
    let damaged = app.cli(&["projections", "verify", "--json"]);
    assert_eq!(damaged.status.code(), Some(1));
    let differences: serde_json::Value = serde_json::from_slice(&damaged.stdout).unwrap();
    let tables: Vec<&str> = differences
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["account_view_v1"]);

    // A rebuild repairs it, and every projection rebuilds to the same state.
    let rebuilt = app.cli(&["projections", "rebuild", "account_view_v1"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert!(String::from_utf8_lossy(&rebuilt.stdout).contains("account_view_v1: rebuilt"));
    let all = app.cli(&["projections", "rebuild"]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let again = app.cli(&["projections", "verify"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["name"], "王小明");
    let unknown = app.cli(&["projections", "rebuild", "no_such_v1"]);
    assert!(!unknown.status.success());
}
