//! Read-your-writes through the process managers (`?settled=`): a read given a command's
//! position waits until the record binder, the identity transfers and the messenger have drawn
//! that command's consequences and the read's views show them. The process tasks are slowed on
//! purpose here, so a read that merely waited for the position would miss them.

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// An app whose process tasks each wait `delay` first.
async fn slow_app(backend: Backend, delay: Duration) -> TestApp {
    spawn_app_with(backend, |config| {
        relaxed_limits(config);
        config.task_delay = delay;
    })
    .await
}

async fn a_read_settled_on_an_import_shows_the_record_the_binder_bound(backend: Backend) {
    let app = slow_app(backend, Duration::from_millis(1500)).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    let imported = app
        .import(
            &registrar,
            "99003",
            csv(
                ENROLMENT_HEADER,
                &[enrolment_row(&person, "2200300601", "软件228")],
            ),
            false,
        )
        .await;
    assert!(imported.status.is_success(), "{}", imported.text);
    let position = imported.position();

    // The position alone: the import is in the views, the binding not yet (the binder's task
    // waits 1.5 s).
    let early = app
        .get(
            &format!("/api/v1/me/records?position={position}"),
            Some(&token),
        )
        .await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.text);
    assert_eq!(early.body["enrolment_count"], 0, "{}", early.text);

    let settled = app
        .get(
            &format!("/api/v1/me/records?settled={position}"),
            Some(&token),
        )
        .await;
    assert_eq!(settled.status, StatusCode::OK, "{}", settled.text);
    assert_eq!(settled.body["enrolment_count"], 1, "{}", settled.text);

    // The binding names the import it descends from: its position and its request.
    let bound = app.events_of_type("RecordBound").await;
    assert_eq!(bound.len(), 1);
    let caused_by = bound[0].2["caused_by"].as_i64().expect("caused_by");
    assert!(caused_by <= position && caused_by > 0, "{}", bound[0].2);
    let registered = app.events_of_type("RecordRegistered").await;
    assert_eq!(
        bound[0].2["request_id"], registered[0].2["request_id"],
        "the binder's event carries the import's request id"
    );
    assert!(bound[0].2["actor"].as_str().unwrap().starts_with("system:"));
}

async fn an_approved_proof_settles_into_an_active_account_and_a_closed_old_one(backend: Backend) {
    // The approval leads to a chain of tasks (deactivate the old account, verify the new one,
    // move the records, release the old login names), each waiting this long.
    let app = slow_app(backend, Duration::from_millis(300)).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let holder = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&holder, "2200300602", "软件228")],
        ),
        false,
    )
    .await;
    // The school's record is in the records view before anyone claims it (the claim reads
    // the view as it is; on PostgreSQL another database's long transaction can hold every
    // log reader of the server back for a moment).
    app.settle().await;
    app.register_ok(&holder).await;
    let claimant = crate::identity::same_person(&holder);
    let token = app.re_register(&claimant).await;
    let proof = app
        .post_authorized(
            "/api/v1/identity/claim/records",
            &token,
            &json!({"kind": "enrolment", "school_name": "西部师范大学",
                    "student_number": "2200300602", "enrolment_year": 2022, "level": "本科"}),
        )
        .await;
    assert_eq!(proof.status, StatusCode::OK, "{}", proof.text);
    assert_eq!(proof.body["approved"], true);
    let position = proof.position();
    let early = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        early.status,
        StatusCode::FORBIDDEN,
        "not yet without the wait"
    );

    let me = app
        .get(&format!("/api/v1/me?settled={position}"), Some(&token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["status"], "Active", "{}", me.text);
    // The old account is closed by then: its login is refused.
    let old = app.login(&holder.phone, &holder.password).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.text);
}

async fn a_settled_read_past_the_head_or_negative_is_refused_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    let ahead = app
        .get("/api/v1/me/records?settled=999999999", Some(&token))
        .await;
    assert_eq!(ahead.status, StatusCode::BAD_REQUEST, "{}", ahead.text);
    assert_eq!(ahead.code(), "position_ahead_of_log");
    let negative = app.get("/api/v1/me?settled=-1", Some(&token)).await;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST);
    assert_eq!(negative.code(), "position_invalid");
}

on_both_backends!(
    a_read_settled_on_an_import_shows_the_record_the_binder_bound,
    an_approved_proof_settles_into_an_active_account_and_a_closed_old_one,
    a_settled_read_past_the_head_or_negative_is_refused_at_once,
);
