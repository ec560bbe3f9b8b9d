//! Real-name identity: re-registration over a taken ID number, the four proofs, manual review,
//! old-account deactivation, protected identities, phone take-over, authorization.

use crate::helpers::{
    csv, enrolment_row, jpeg, random_resident_id, relaxed_limits, spawn_app, spawn_app_with,
    Backend, Person, TestApp, ENROLMENT_HEADER,
};
use crate::on_both_backends;
use axum::extract::State;
use axum::http::HeaderMap;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

on_both_backends!(
    re_registering_over_a_taken_id_creates_a_pending_account_limited_to_verification,
    enrolment_information_approves_the_claim_and_the_old_account_is_deactivated,
    the_fourth_approval_by_enrolment_information_is_refused,
    a_classmate_confirms_and_a_sixth_invitation_in_a_day_is_refused,
    manual_review_is_pending_then_rejected_with_a_reason_then_approved,
    two_claims_approved_at_the_same_moment_transfer_the_identity_once,
    a_real_person_check_reports_through_a_signed_callback_and_three_failures_fall_back,
    a_conscription_identity_refuses_re_registration_and_its_office_resets_the_password,
    continue_registration_takes_the_phone_over_and_the_old_account_keeps_its_other_names,
    roles_are_kept_apart,
);

/// Someone holding `holder`'s ID number and name, with a phone of their own.
pub(crate) fn same_person(holder: &Person) -> Person {
    Person {
        name: holder.name.clone(),
        document_number: holder.document_number.clone(),
        ..Person::random()
    }
}

async fn identity_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, relaxed_limits).await
}

async fn with_school(app: &TestApp) -> String {
    app.add_school("99003", "西部师范大学", "四川").await;
    app.staff_token("registrar", Some("99003")).await
}

/// Old account status and the number of `OldAccountDeactivated` events it has.
async fn deactivations(app: &TestApp, account_id: &str) -> usize {
    app.event_types(account_id)
        .await
        .iter()
        .filter(|t| *t == "OldAccountDeactivated")
        .count()
}

async fn re_registering_over_a_taken_id_creates_a_pending_account_limited_to_verification(
    backend: Backend,
) {
    let app = identity_app(backend).await;
    let holder = Person::random();
    app.register_ok(&holder).await;
    let claimant = same_person(&holder);

    let refused = app.register(&claimant).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(
        refused.body["errors"][0]["actions"],
        json!(["find_username", "recover_password", "re_register"])
    );

    let token = app.re_register(&claimant).await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::FORBIDDEN, "{}", me.text);
    assert_eq!(me.code(), "identity_review_pending");
    assert_eq!(
        app.get("/api/v1/me/records", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );

    let claim = app.get("/api/v1/identity/claim", Some(&token)).await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.text);
    assert_eq!(claim.body["status"], "open");
    assert_eq!(claim.body["holder_hint"], "该证件号码已被其他账号注册");
    assert_eq!(claim.body["record_proofs_left"], 3);
    // Nothing of the holder leaks beyond the fixed hint.
    let holder_phone_masked = format!("{}****{}", &holder.phone[..3], &holder.phone[7..]);
    assert!(!claim.text.contains(&holder_phone_masked));
    assert!(!claim.text.contains(&holder.email));
    // The holder still logs in.
    app.login_ok(&holder.phone, &holder.password).await;
    assert_eq!(app.events_of_type("DuplicateIdClaimed").await.len(), 1);
}

async fn enrolment_information_approves_the_claim_and_the_old_account_is_deactivated(
    backend: Backend,
) {
    let app = identity_app(backend).await;
    let registrar = with_school(&app).await;
    let holder = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&holder, "2200300100", "软件221")],
        ),
        false,
    )
    .await;
    let old_account = app.register_ok(&holder).await;
    let claimant = same_person(&holder);
    let token = app.re_register(&claimant).await;

    let proof = |student_number: &str| {
        json!({"kind": "enrolment", "school_name": "西部师范大学", "student_number": student_number,
               "enrolment_year": 2022, "level": "本科"})
    };
    app.settle_bindings().await;
    let wrong = app
        .post_authorized(
            "/api/v1/identity/claim/records",
            &token,
            &proof("2200300199"),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text
    );
    assert_eq!(wrong.field_errors()[0].1, "record_proof_mismatch");

    let right = app
        .post_authorized(
            "/api/v1/identity/claim/records",
            &token,
            &proof("2200300100"),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    assert_eq!(right.body["approved"], true);
    app.settle_bindings().await;

    // The old account is deactivated, exactly once, and logs in no more.
    assert_eq!(deactivations(&app, &old_account).await, 1);
    assert_eq!(
        app.login(&holder.phone, &holder.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The new account is active, logs in by the ID number, and has the record.
    let (new_token, position) = app
        .login_ok(&claimant.document_number, &claimant.password)
        .await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&new_token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["status"], "Active");
    let archive = app.my_records(&new_token, 0).await;
    assert_eq!(archive.body["enrolment_count"], 1, "{}", archive.text);
    // The released phone of the old account is free for someone else.
    let lookup =
        xuexin_projections::login_index::lookup(&app.db, &format!("phone:+86{}", holder.phone))
            .await
            .unwrap();
    assert!(lookup.is_none());
    let transfer = &app.events_of_type("IdentityTransferred").await[0];
    assert!(transfer.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("account:"));
    assert!(!transfer.2["request_id"].as_str().unwrap().is_empty());
}

async fn the_fourth_approval_by_enrolment_information_is_refused(backend: Backend) {
    let app = identity_app(backend).await;
    let registrar = with_school(&app).await;
    let original = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&original, "2200300200", "软件221")],
        ),
        false,
    )
    .await;
    app.register_ok(&original).await;
    let proof = json!({"kind": "enrolment", "school_name": "西部师范大学", "student_number": "2200300200",
                       "enrolment_year": 2022, "level": "本科"});
    for round in 1..=4 {
        let claimant = same_person(&original);
        let token = app.re_register(&claimant).await;
        app.settle_bindings().await;
        let answer = app
            .post_authorized("/api/v1/identity/claim/records", &token, &proof)
            .await;
        if round <= 3 {
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "round {round}: {}",
                answer.text
            );
        } else {
            assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
            assert_eq!(answer.code(), "record_proof_limit");
            assert_eq!(
                answer.body["message"],
                "一个证件号码最多只能通过此种方式解决证件号码重复 3 次"
            );
        }
        app.settle_bindings().await;
    }
    assert_eq!(app.events_of_type("IdentityTransferred").await.len(), 3);
}

pub(crate) async fn answer(
    app: &TestApp,
    request_id: &str,
    token: &str,
    confirm: bool,
) -> crate::helpers::TestResponse {
    app.post_authorized(
        &format!("/api/v1/me/assist-requests/{request_id}/answer"),
        token,
        &json!({"confirm": confirm}),
    )
    .await
}

async fn a_classmate_confirms_and_a_sixth_invitation_in_a_day_is_refused(backend: Backend) {
    let app = identity_app(backend).await;
    let registrar = with_school(&app).await;
    let holder = Person::random();
    let classmates: Vec<Person> = (0..6).map(|_| Person::random()).collect();
    let outsider = Person::random();
    let mut rows = vec![enrolment_row(&holder, "2200300300", "软件225")];
    for (i, c) in classmates.iter().enumerate() {
        rows.push(enrolment_row(
            c,
            &format!("22003003{:02}", i + 1),
            "软件225",
        ));
    }
    rows.push(enrolment_row(&outsider, "2200300399", "软件226"));
    app.import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), false)
        .await;
    let old_account = app.register_ok(&holder).await;
    let mut classmate_tokens = Vec::new();
    for c in &classmates {
        classmate_tokens.push(app.register_and_login(c).await.0);
    }
    app.register_ok(&outsider).await;
    let claimant = same_person(&holder);
    let token = app.re_register(&claimant).await;
    app.settle_bindings().await;

    let invite = |person: &Person, name: &str| json!({"name": name, "phone": person.phone});
    let wrong_name = app
        .post_authorized(
            "/api/v1/identity/claim/classmates",
            &token,
            &invite(&classmates[0], "别人"),
        )
        .await;
    assert_eq!(
        wrong_name.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong_name.text
    );
    let other_class = app
        .post_authorized(
            "/api/v1/identity/claim/classmates",
            &token,
            &invite(&outsider, &outsider.name),
        )
        .await;
    assert_eq!(
        other_class.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other_class.text
    );

    let mut request_ids = Vec::new();
    for c in &classmates[..5] {
        let invited = app
            .post_authorized(
                "/api/v1/identity/claim/classmates",
                &token,
                &invite(c, &c.name),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        request_ids.push(invited.body["request_id"].as_str().unwrap().to_string());
    }
    let sixth = app
        .post_authorized(
            "/api/v1/identity/claim/classmates",
            &token,
            &invite(&classmates[5], &classmates[5].name),
        )
        .await;
    assert_eq!(
        sixth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        sixth.text
    );
    assert_eq!(sixth.body["message"], "每天最多可申请 5 名同学协助");

    // The first classmate sees it in the inbox and says no; the second says yes.
    app.settle().await;
    let inbox = app
        .get("/api/v1/me/assist-requests", Some(&classmate_tokens[0]))
        .await;
    assert_eq!(inbox.body[0]["from_name"], claimant.name, "{}", inbox.text);
    assert_eq!(inbox.body[0]["status"], "pending");
    let no = answer(&app, &request_ids[0], &classmate_tokens[0], false).await;
    assert_eq!(
        (no.status, no.body["approved"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{}",
        no.text
    );
    // Someone who was not asked cannot answer.
    let stranger = app
        .post_authorized(
            &format!("/api/v1/me/assist-requests/{}/answer", request_ids[1]),
            &classmate_tokens[5],
            &json!({"confirm": true}),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{}", stranger.text);
    let yes = answer(&app, &request_ids[1], &classmate_tokens[1], true).await;
    assert_eq!(yes.body["approved"], true, "{}", yes.text);
    let late = answer(&app, &request_ids[2], &classmate_tokens[2], true).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);

    app.settle_bindings().await;
    assert_eq!(deactivations(&app, &old_account).await, 1);
    let (new_token, position) = app.login_ok(&claimant.phone, &claimant.password).await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&new_token))
        .await;
    assert_eq!(me.body["status"], "Active", "{}", me.text);
}

async fn manual_review_is_pending_then_rejected_with_a_reason_then_approved(backend: Backend) {
    let app = identity_app(backend).await;
    let first_holder = Person::random();
    let second_holder = Person::random();
    let old_account = app.register_ok(&first_holder).await;
    app.register_ok(&second_holder).await;
    let claimant = same_person(&first_holder);
    let token = app.re_register(&claimant).await;
    let later = same_person(&second_holder);
    let later_token = app.re_register(&later).await;
    let reviewer = app.staff_token("reviewer", None).await;
    let path = "/api/v1/identity/claim/manual-review";

    let events_before = app.event_count().await;
    for (bytes, code) in [
        (b"GIF89a-not-a-photo".to_vec(), "image_type"),
        (Vec::new(), "image_empty"),
        (
            [b"\xFF\xD8\xFF".as_slice(), &vec![0u8; 3 * 1024 * 1024]].concat(),
            "image_too_large",
        ),
    ] {
        let bad = app.upload(path, &token, bytes).await;
        assert_eq!(
            (bad.status, bad.code()),
            (StatusCode::BAD_REQUEST, code),
            "{}",
            bad.text
        );
    }
    assert_eq!(
        app.event_count().await,
        events_before,
        "a bad upload wrote something"
    );

    let first = app.upload(path, &token, jpeg()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = app.upload(path, &token, jpeg()).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "manual_review_pending")
    );
    let second = app.upload(path, &later_token, jpeg()).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let status = app.get("/api/v1/identity/claim", Some(&token)).await;
    assert_eq!(status.body["manual_review"], "pending");

    // Oldest first; the photo is there.
    let queue = app
        .get(
            &format!("/api/v1/reviews?position={}", second.position()),
            Some(&reviewer),
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text);
    let queue = queue.body.as_array().unwrap().clone();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0]["claimant_name"], claimant.name);
    let detail_path = format!(
        "/api/v1/reviews/{}/{}",
        queue[0]["identity_id"].as_str().unwrap(),
        queue[0]["claimant"].as_str().unwrap()
    );
    let photo = app
        .client
        .get(format!("{}{}/photo", app.address, detail_path))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(photo.bytes().await.unwrap().to_vec(), jpeg());

    let no_reason = app
        .post_authorized(&format!("{detail_path}/reject"), &reviewer, &json!({}))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rejected = app
        .post_authorized(
            &format!("{detail_path}/reject"),
            &reviewer,
            &json!({"reason": "照片不清晰，请重新上传"}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.text);
    let status = app.get("/api/v1/identity/claim", Some(&token)).await;
    assert_eq!(status.body["manual_review"], "rejected");
    assert_eq!(
        status.body["manual_review_reason"],
        "照片不清晰，请重新上传"
    );

    let resubmitted = app.upload(path, &token, jpeg()).await;
    assert_eq!(
        resubmitted.status,
        StatusCode::CREATED,
        "{}",
        resubmitted.text
    );
    let approved = app
        .post_authorized(&format!("{detail_path}/approve"), &reviewer, &json!({}))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    assert_eq!(approved.body["approved"], true);
    app.settle_bindings().await;
    assert_eq!(deactivations(&app, &old_account).await, 1);
    let review_events = app.events_of_type("ManualReviewApproved").await;
    assert!(review_events[0].2["actor"]
        .as_str()
        .unwrap()
        .starts_with("reviewer:"));
    let claim = app.get("/api/v1/identity/claim", Some(&token)).await;
    assert_eq!(claim.body["status"], "approved");
    // The pending restriction ended with the approval, in the same session.
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );
}

async fn two_claims_approved_at_the_same_moment_transfer_the_identity_once(backend: Backend) {
    let app = identity_app(backend).await;
    let holder = Person::random();
    app.register_ok(&holder).await;
    let first = same_person(&holder);
    let second = same_person(&holder);
    let first_token = app.re_register(&first).await;
    let second_token = app.re_register(&second).await;
    for token in [&first_token, &second_token] {
        let uploaded = app
            .upload("/api/v1/identity/claim/manual-review", token, jpeg())
            .await;
        assert_eq!(uploaded.status, StatusCode::CREATED);
    }
    let reviewer = app.staff_token("reviewer", None).await;
    app.settle().await;
    let queue = app
        .get("/api/v1/reviews", Some(&reviewer))
        .await
        .body
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(queue.len(), 2);
    let paths: Vec<String> = queue
        .iter()
        .map(|item| {
            format!(
                "/api/v1/reviews/{}/{}/approve",
                item["identity_id"].as_str().unwrap(),
                item["claimant"].as_str().unwrap()
            )
        })
        .collect();
    let empty = json!({});
    let approvals = join_all(
        paths
            .iter()
            .map(|path| app.post_authorized(path, &reviewer, &empty)),
    )
    .await;
    let ok = approvals
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let conflict = approvals
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (ok, conflict),
        (1, 1),
        "{:?}",
        approvals.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(app.events_of_type("IdentityTransferred").await.len(), 1);
    assert_eq!(app.events_of_type("DuplicateIdClaimClosed").await.len(), 1);
}

pub(crate) type Calls = Arc<Mutex<Vec<Value>>>;

/// The identity-verification provider, as a real HTTP server that checks our signature.
pub(crate) async fn start_provider(secret: &'static str) -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = axum::Router::new()
        .route(
            "/sessions",
            axum::routing::post(move |State(calls): State<Calls>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let timestamp = headers["x-xuexin-timestamp"].to_str().unwrap().to_string();
                let signature = headers["x-xuexin-signature"].to_str().unwrap().to_string();
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
                if !xuexin::gateways::liveness::verify(secret.as_bytes(), &timestamp, &signature, &body, now) {
                    return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})));
                }
                calls.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let session_id = uuid::Uuid::new_v4().to_string();
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"session_id": session_id, "verify_url": format!("https://verify.example/{session_id}")})),
                )
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

pub(crate) async fn callback(
    app: &TestApp,
    secret: &str,
    session_id: &str,
    result: &str,
    age_seconds: i64,
) -> crate::helpers::TestResponse {
    let body = serde_json::to_vec(&json!({"session_id": session_id, "result": result})).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - age_seconds;
    let signature = xuexin::gateways::liveness::sign(secret.as_bytes(), now, &body);
    app.send(
        app.client
            .post(format!("{}/api/v1/identity/liveness/callback", app.address))
            .header("content-type", "application/json")
            .header("x-xuexin-timestamp", now.to_string())
            .header("x-xuexin-signature", signature)
            .body(body),
    )
    .await
}

async fn a_real_person_check_reports_through_a_signed_callback_and_three_failures_fall_back(
    backend: Backend,
) {
    const SECRET: &str = "provider-shared-secret";
    let (url, calls) = start_provider(SECRET).await;
    let app = spawn_app_with(backend, move |config| {
        relaxed_limits(config);
        config.liveness = Some((url, SECRET.to_string()));
    })
    .await;
    let holder = Person::random();
    app.register_ok(&holder).await;
    let claimant = same_person(&holder);
    let token = app.re_register(&claimant).await;

    let mut sessions = Vec::new();
    for attempt in 1..=3 {
        let started = app
            .post_authorized("/api/v1/identity/claim/liveness", &token, &json!({}))
            .await;
        assert_eq!(
            started.status,
            StatusCode::CREATED,
            "attempt {attempt}: {}",
            started.text
        );
        let session_id = started.body["session_id"].as_str().unwrap().to_string();
        assert!(started.body["verify_url"]
            .as_str()
            .unwrap()
            .contains(&session_id));
        if attempt == 1 {
            // Forged, stale, and then genuine; the genuine one replayed changes nothing.
            assert_eq!(
                callback(&app, "wrong-secret", &session_id, "pass", 0)
                    .await
                    .status,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                callback(&app, SECRET, &session_id, "pass", 600)
                    .await
                    .status,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                callback(&app, SECRET, &session_id, "fail", 0).await.status,
                StatusCode::NO_CONTENT
            );
            let replay = callback(&app, SECRET, &session_id, "pass", 0).await;
            assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.text);
        } else {
            assert_eq!(
                callback(&app, SECRET, &session_id, "fail", 0).await.status,
                StatusCode::NO_CONTENT
            );
        }
        sessions.push(session_id);
    }
    let claim = app.get("/api/v1/identity/claim", Some(&token)).await;
    assert_eq!(claim.body["liveness_failures"], 3);
    assert_eq!(claim.body["manual_review_required"], true);
    let fourth = app
        .post_authorized("/api/v1/identity/claim/liveness", &token, &json!({}))
        .await;
    assert_eq!(
        (fourth.status, fourth.code()),
        (StatusCode::CONFLICT, "liveness_exhausted")
    );
    assert_eq!(calls.lock().unwrap().len(), 3);
    assert!(calls.lock().unwrap()[0]["callback_url"]
        .as_str()
        .unwrap()
        .ends_with("/api/v1/identity/liveness/callback"));

    // Another claimant passes.
    let other_holder = Person::random();
    app.register_ok(&other_holder).await;
    let other = same_person(&other_holder);
    let other_token = app.re_register(&other).await;
    let started = app
        .post_authorized("/api/v1/identity/claim/liveness", &other_token, &json!({}))
        .await;
    let session_id = started.body["session_id"].as_str().unwrap().to_string();
    assert_eq!(
        callback(&app, SECRET, &session_id, "pass", 0).await.status,
        StatusCode::NO_CONTENT
    );
    let claim = app.get("/api/v1/identity/claim", Some(&other_token)).await;
    assert_eq!(claim.body["status"], "approved", "{}", claim.text);
}

async fn a_conscription_identity_refuses_re_registration_and_its_office_resets_the_password(
    backend: Backend,
) {
    let app = identity_app(backend).await;
    let office = app
        .staff_token("conscription_office", Some("某县人民政府征兵办公室"))
        .await;
    let young = Person::random();
    let created = app
        .post_authorized(
            "/api/v1/conscription/accounts",
            &office,
            &json!({"name": young.name, "document_type": "resident_id_card", "document_number": young.document_number}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let account_id = created.body["account_id"].as_str().unwrap().to_string();
    let initial = created.body["initial_password"]
        .as_str()
        .unwrap()
        .to_string();
    app.login_ok(&young.document_number, &initial).await;
    let started = &app.events_of_type("RegistrationStarted").await[0];
    assert!(started.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("conscription_office:"));

    // Re-registration over it is refused with the seed's message.
    let claimant = Person {
        name: young.name.clone(),
        document_number: young.document_number.clone(),
        ..Person::random()
    };
    let refused = app
        .register_with(&claimant, json!({"re_register": true}))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.code(), "id_number_protected");
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "证件号码对应的账号已存在（已在全国征兵网进行过兵役登记/应征报名），不能重复注册"
        ),
        "{message}"
    );
    assert!(message.contains("某县人民政府征兵办公室"));

    // The office resets the password; another office cannot.
    let other_office = app
        .staff_token("conscription_office", Some("另一个征兵办公室"))
        .await;
    let path = format!("/api/v1/conscription/accounts/{account_id}/password-reset");
    let foreign = app.post_authorized(&path, &other_office, &json!({})).await;
    assert_eq!(
        (foreign.status, foreign.code()),
        (StatusCode::FORBIDDEN, "account_not_from_office")
    );
    let reset = app.post_authorized(&path, &office, &json!({})).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let fresh = reset.body["initial_password"].as_str().unwrap();
    assert_eq!(
        app.login(&young.document_number, &initial).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&young.document_number, fresh).await;
    let reset_event = &app.events_of_type("PasswordReset").await[0];
    assert!(reset_event.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("conscription_office:"));
}

async fn continue_registration_takes_the_phone_over_and_the_old_account_keeps_its_other_names(
    backend: Backend,
) {
    let app = identity_app(backend).await;
    let old = Person::random();
    let old_account = app.register_ok(&old).await;
    let new = Person {
        phone: old.phone.clone(),
        ..Person::random()
    };
    let refused = app.register(&new).await;
    assert_eq!(refused.code(), "phone_taken");
    let taken = app
        .register_with(&new, json!({"continue_registration": true}))
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
    app.settle_bindings().await;

    assert_eq!(app.events_of_type("LoginNameTakenOver").await.len(), 1);
    assert!(app
        .event_types(&old_account)
        .await
        .contains(&"PhoneUnbound".to_string()));
    // The phone is the new account's; the old one still logs in by its ID number.
    app.login_ok(&new.phone, &new.password).await;
    assert_eq!(
        app.login(&old.phone, &old.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (old_token, position) = app.login_ok(&old.document_number, &old.password).await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&old_token))
        .await;
    assert_eq!(me.body["phone"], Value::Null, "{}", me.text);
    assert_eq!(me.body["status"], "Active");
}

async fn roles_are_kept_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let (user, _) = app.register_and_login(&person).await;
    let reviewer = app.staff_token("reviewer", None).await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    assert_eq!(
        app.get("/api/v1/reviews", Some(&user)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/reviews", Some(&registrar)).await.status,
        StatusCode::FORBIDDEN
    );
    let as_office = app
        .post_authorized(
            "/api/v1/conscription/accounts",
            &reviewer,
            &json!({"name": "张三", "document_number": random_resident_id()}),
        )
        .await;
    assert_eq!(as_office.status, StatusCode::FORBIDDEN);
    let user_as_office = app
        .post_authorized(
            "/api/v1/conscription/accounts",
            &user,
            &json!({"name": "张三", "document_number": random_resident_id()}),
        )
        .await;
    assert_eq!(user_as_office.status, StatusCode::FORBIDDEN);
    // A user's own claim endpoint shows only their own (here: none).
    let claim = app.get("/api/v1/identity/claim", Some(&user)).await;
    assert_eq!(claim.body["status"], "none");
    // Staff are never made by registering: asking for a role changes nothing.
    let hopeful = Person::random();
    let with_role = app
        .register_with(&hopeful, json!({"role": "reviewer"}))
        .await;
    assert_eq!(with_role.status, StatusCode::CREATED, "{}", with_role.text);
    let session = app.login(&hopeful.phone, &hopeful.password).await;
    assert_eq!(session.body["role"], Value::Null);
    let token = session.body["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/reviews", Some(token)).await.status,
        StatusCode::FORBIDDEN
    );
}
