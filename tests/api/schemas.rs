//! Every published message validates against its JSON Schema in `docs/events/`: a mixed
//! workload (schools and records, staff, registration, logins and a lock, recovery, account
//! changes, the four identity proofs, a conscription office, WeChat) is relayed to a
//! nats-server of the test's own, read back from JetStream and checked message by message.
//! On PostgreSQL with phones masked; on SQLite as an internal stream (phones in the clear).

use crate::account::phone_code;
use crate::helpers::{
    certificate_number, csv, degree_row, enrolment_row, jpeg, random_phone, relaxed_limits,
    spawn_app_with, Backend, Person, TestApp, DEGREE_HEADER, ENROLMENT_HEADER,
};
use crate::identity::{answer, callback, same_person, start_provider};
use crate::nats::{assert_complete_and_ordered, read_all, wait_for_stream, NatsServer};
use crate::on_both_backends;
use crate::recovery::register_with_questions;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

on_both_backends!(a_registration_stored_at_version_1_0_is_read_and_published_at_1_1);

const LIVENESS_SECRET: &str = "schema-test-provider-secret";

/// Event types the workload below must produce (all but `RegistrationAbandoned`,
/// `PasswordRehashed`, `IdentityReleased` and `DuplicateIdClaimWithdrawn`, which only races,
/// crashes or a change of hashing parameters produce; the fixtures cover those).
const EXPECTED: [&str; 54] = [
    "Account.RegistrationStarted",
    "Account.StaffAccountCreated",
    "Account.Registered",
    "Account.EmailVerificationRequested",
    "Account.EmailVerified",
    "Account.LoginSucceeded",
    "Account.LoginFailed",
    "Account.AccountLocked",
    "Account.AccountUnlocked",
    "Account.IdentityVerified",
    "Account.OldAccountDeactivated",
    "Account.PhoneUnbound",
    "Account.PasswordReset",
    "Account.PasswordChanged",
    "Account.PhoneChanged",
    "Account.EmailChanged",
    "Account.NameChanged",
    "Account.NameChangeRequested",
    "Account.NameChangeRejected",
    "Account.SecurityQuestionsSet",
    "Account.PasswordResetRequested",
    "Account.SecurityAnswersAccepted",
    "Account.SecurityAnswersFailed",
    "Account.ExternalLoginLinked",
    "Account.ExternalLoginUnlinked",
    "Account.LanguageChosen",
    "Identity.IdentityBound",
    "Identity.DuplicateIdClaimed",
    "Identity.ClaimProofSubmitted",
    "Identity.ClaimProofRejected",
    "Identity.ClassmateAssistRequested",
    "Identity.ClassmateAssistConfirmed",
    "Identity.ClassmateAssistDeclined",
    "Identity.ManualReviewRequested",
    "Identity.ManualReviewApproved",
    "Identity.ManualReviewRejected",
    "Identity.LivenessCheckStarted",
    "Identity.LivenessCheckPassed",
    "Identity.LivenessCheckFailed",
    "Identity.IdentityTransferred",
    "Identity.DuplicateIdClaimClosed",
    "LoginName.LoginNameClaimed",
    "LoginName.LoginNameReleased",
    "LoginName.LoginNameTakenOver",
    "School.SchoolRegistered",
    "School.SchoolRenamed",
    "StudentRecord.RecordRegistered",
    "StudentRecord.RecordCorrected",
    "StudentRecord.DegreeCorrectionRequested",
    "StudentRecord.DegreeCorrectionRejected",
    "StudentRecord.RecordBound",
    "StudentRecord.RecordUnbound",
    "StudentRecord.RecordChecked",
    "StudentRecord.RecordPhotoAttached",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_validate_against_their_schemas_postgres_masked() {
    published_events_validate(Backend::Postgres, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_validate_against_their_schemas_sqlite_internal() {
    published_events_validate(Backend::Sqlite, true).await
}

#[test]
fn the_validator_refuses_what_the_schemas_do_not_allow() {
    let validator = Validator::load();
    let good = json!({
        "id": "Account:3f9c2a4e-5b1d-4c8e-9a7f-0d2e6b1c4a55:7",
        "position": 48213,
        "aggregate_type": "Account",
        "aggregate_id": "3f9c2a4e-5b1d-4c8e-9a7f-0d2e6b1c4a55",
        "sequence": 7,
        "event_type": "PhoneChanged",
        "event_version": "1.0",
        "time": "2026-11-23T03:12:45.118Z",
        "actor": "account:3f9c2a4e-5b1d-4c8e-9a7f-0d2e6b1c4a55",
        "request_id": "0193f2a7-6c1e-7b52-8d0a-5e4f3c2b1a09",
        "hash": "9c1d".repeat(16),
        "payload": {"PhoneChanged": {"old": "136****1011", "new": "139****5521"}}
    });
    validator.validate(&good).unwrap();
    let mut bad: Vec<Value> = Vec::new();
    let mut with = |path: &[&str], value: Option<Value>| {
        let mut message = good.clone();
        let mut target = &mut message;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        let last = path[path.len() - 1];
        match value {
            Some(value) => target[last] = value,
            None => {
                target.as_object_mut().unwrap().remove(last);
            }
        }
        bad.push(message);
    };
    with(&["client_ip"], Some(json!("10.0.0.1")));
    with(&["event_version"], Some(json!("9.9")));
    with(&["payload", "PhoneChanged", "new"], None);
    with(&["payload", "PhoneChanged", "extra"], Some(json!(1)));
    with(&["payload", "PhoneChanged", "old"], Some(json!(7)));
    with(&["time"], Some(json!("2026-11-23")));
    with(&["hash"], None);
    for message in bad {
        assert!(validator.validate(&message).is_err(), "accepted: {message}");
    }
    let mut unknown = good.clone();
    unknown["event_type"] = json!("NoSuchEvent");
    let refused = validator.validate(&unknown).unwrap_err();
    assert!(refused.contains("no schema"), "{refused}");
}

/// Every fixture of every event type and version (`domain/tests/fixtures/events`), read as the
/// relay reads the log (upcast to the current version) and built into a message, validates,
/// masked and internal: this covers the event types the workload above cannot produce, and the
/// older versions a long-lived log still holds.
#[test]
fn every_event_type_and_version_published_from_its_fixture_validates() {
    let validator = Validator::load();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("domain/tests/fixtures/events");
    let mut checked = 0;
    for aggregate in std::fs::read_dir(&dir).unwrap() {
        for file in std::fs::read_dir(aggregate.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let fixture: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let text = |key: &str| fixture[key].as_str().unwrap().to_string();
            let (aggregate_type, event_type) = (text("aggregate_type"), text("event_type"));
            let (event_version, payload) = xuexin_domain::upcast::upcast(
                &aggregate_type,
                &event_type,
                &text("event_version"),
                fixture["payload"].clone(),
            );
            let aggregate_id = match aggregate_type.as_str() {
                "School" => "99003".to_string(),
                _ => uuid::Uuid::new_v4().to_string(),
            };
            let stored = xuexin_projections::StoredEvent {
                position: 42,
                transaction_id: 0,
                aggregate_type,
                aggregate_id,
                sequence: 3,
                event_type,
                event_version,
                payload,
                metadata: json!({"actor": "system:test", "request_id": "r-1",
                                 "client_ip": "10.0.0.1", "time": "2026-11-23T08:14:03.512Z",
                                 "prev_hash": "0".repeat(64), "hash": "a".repeat(64)}),
            };
            for internal in [false, true] {
                let body = xuexin::relay::message_body(&stored, internal);
                validator
                    .validate(&body)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            checked += 1;
        }
    }
    assert!(checked >= 59, "only {checked} fixtures");
}

/// The schemas of `docs/events/`, compiled, by (aggregate type, event type).
pub(crate) struct Validator {
    schemas: boon::Schemas,
    compiled: HashMap<(String, String), boon::SchemaIndex>,
}

impl Validator {
    pub(crate) fn load() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let mut compiled = HashMap::new();
        for aggregate in std::fs::read_dir(&dir).expect("docs/events exists") {
            let aggregate = aggregate.unwrap().path();
            if !aggregate.is_dir() {
                continue;
            }
            let aggregate_type = aggregate.file_name().unwrap().to_str().unwrap().to_string();
            for file in std::fs::read_dir(&aggregate).unwrap() {
                let file: PathBuf = file.unwrap().path();
                let name = file.file_name().unwrap().to_str().unwrap().to_string();
                let Some(event_type) = name.strip_suffix(".schema.json") else {
                    continue;
                };
                let index = compiler
                    .compile(file.to_str().unwrap(), &mut schemas)
                    .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()));
                compiled.insert((aggregate_type.clone(), event_type.to_string()), index);
            }
        }
        assert!(compiled.len() > 50, "only {} schemas", compiled.len());
        Self { schemas, compiled }
    }

    /// Validates a message body against the schema of its aggregate and event type.
    pub(crate) fn validate(&self, body: &Value) -> Result<(), String> {
        let key = (
            body["aggregate_type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            body["event_type"].as_str().unwrap_or_default().to_string(),
        );
        let index = self
            .compiled
            .get(&key)
            .ok_or_else(|| format!("no schema file for {}.{}", key.0, key.1))?;
        self.schemas
            .validate(body, *index)
            .map_err(|e| format!("{}.{}: {e:#}\n{body}", key.0, key.1))
    }
}

async fn published_events_validate(backend: Backend, internal: bool) {
    let validator = Validator::load();
    let providers = crate::oauth::stand_ins().await;
    let (liveness_url, _calls) = start_provider(LIVENESS_SECRET).await;
    let nats = NatsServer::start();
    let nats_url = nats.url();
    let app = spawn_app_with(backend, |config| {
        relaxed_limits(config);
        crate::oauth::configure_providers(&providers, config);
        config.liveness = Some((liveness_url, LIVENESS_SECRET.to_string()));
        config.nats_url = Some(nats_url);
        config.nats_internal = internal;
    })
    .await;

    let people = records_and_identity(&app).await;
    let phone = account_changes(&app, &providers).await;
    continue_registration_and_conscription(&app).await;
    app.settle_bindings().await;

    let expected = app.event_count().await as u64;
    let stream = wait_for_stream(&nats, expected).await;
    let messages = read_all(&stream, expected).await;
    assert_complete_and_ordered(&messages, expected);
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    for (_, _, body) in &messages {
        if let Err(error) = validator.validate(body) {
            failures.push(error);
        }
        seen.insert(format!(
            "{}.{}",
            body["aggregate_type"].as_str().unwrap(),
            body["event_type"].as_str().unwrap()
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} messages do not validate:\n{}",
        failures.len(),
        messages.len(),
        failures.join("\n\n")
    );
    let missing: Vec<&str> = EXPECTED
        .iter()
        .copied()
        .filter(|t| !seen.contains(*t))
        .collect();
    assert!(
        missing.is_empty(),
        "the workload did not publish {missing:?}"
    );
    // Masked or not, as configured; the schema allows both.
    let text: String = messages.iter().map(|(_, _, b)| b.to_string()).collect();
    let e164 = format!("+86{phone}");
    assert_eq!(
        text.contains(&e164),
        internal,
        "{e164} in the clear: {internal}"
    );
    assert!(!text.contains("argon2"));
    for person in &people {
        assert!(!text.contains(&person.document_number));
    }
}

/// Registers and logs in, returning the account id and a session.
async fn claim(app: &TestApp, person: &Person) -> (String, String) {
    let response = app
        .register_with(person, json!({"re_register": true}))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    let account_id = response.body["account_id"].as_str().unwrap().to_string();
    (
        account_id,
        app.login_ok(&person.phone, &person.password).await.0,
    )
}

/// Schools, records (imports, a correction that unbinds, a degree correction refused, a
/// check, a photo) and the four proofs of a duplicate-ID claim. Returns everyone registered.
async fn records_and_identity(app: &TestApp) -> Vec<Person> {
    app.add_school("99003", "西部师范大学", "四川").await;
    app.add_school("99004", "东部学院", "浙江").await;
    app.add_school("99004", "东部理工学院", "浙江").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let reviewer = app.staff_token("reviewer", None).await;
    let province = app.staff_token("provincial_authority", Some("四川")).await;

    let by_records = Person::random();
    let by_classmate = Person::random();
    let helper = Person::random();
    let decliner = Person::random();
    let student = Person::random();
    let rows = [
        enrolment_row(&by_records, "2200300100", "软件221"),
        enrolment_row(&by_classmate, "2200300300", "软件225"),
        enrolment_row(&helper, "2200300301", "软件225"),
        enrolment_row(&decliner, "2200300302", "软件225"),
        enrolment_row(&student, "2200300400", "软件226"),
    ];
    let imported = app
        .import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), false)
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    let graduate = Person::random();
    let certificate = certificate_number();
    app.import(
        &registrar,
        "99003",
        csv(
            DEGREE_HEADER,
            &[degree_row(&graduate, &certificate, "软件工程")],
        ),
        false,
    )
    .await;
    let changed = app
        .import(
            &registrar,
            "99003",
            csv(
                DEGREE_HEADER,
                &[degree_row(&graduate, &certificate, "计算机科学与技术")],
            ),
            false,
        )
        .await;
    assert_eq!(changed.body["correction_requested"], 1, "{}", changed.text);
    let degree = xuexin_domain::record::degree_record_id(&certificate);
    let rejected = app
        .post_authorized(
            &format!("/api/v1/records/{degree}/corrections/1/reject"),
            &province,
            &json!({"reason": "证书信息无误，不予更正"}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.text);

    let mut registered = vec![graduate];
    for person in [&by_records, &by_classmate, &helper, &decliner] {
        app.register_ok(person).await;
        registered.push(person.clone());
    }
    let (student_token, _) = app.register_and_login(&student).await;
    registered.push(student.clone());
    app.settle_bindings().await;

    // The student checks the record; the school attaches a photo; a corrected name unbinds it.
    let record_id = xuexin_domain::record::enrolment_record_id("99003", "2200300400").to_string();
    let checked = app
        .post_authorized(
            &format!("/api/v1/me/records/{record_id}/checks"),
            &student_token,
            &json!({"check_type": "enrolment_check", "conclusion": "correct"}),
        )
        .await;
    assert_eq!(checked.status, StatusCode::CREATED, "{}", checked.text);
    let photo = app
        .send(
            app.client
                .post(format!(
                    "{}/api/v1/schools/99003/records/{record_id}/photos/admission",
                    app.address
                ))
                .bearer_auth(&registrar)
                .header("content-type", "image/jpeg")
                .body(jpeg()),
        )
        .await;
    assert_eq!(photo.status, StatusCode::CREATED, "{}", photo.text);
    let renamed = Person {
        name: "王晓红".into(),
        ..student.clone()
    };
    let corrected = app
        .import(
            &registrar,
            "99003",
            csv(
                ENROLMENT_HEADER,
                &[enrolment_row(&renamed, "2200300400", "软件226")],
            ),
            false,
        )
        .await;
    assert_eq!(corrected.body["corrected"], 1, "{}", corrected.text);

    // By enrolment information: a wrong proof, then the right one.
    let (_, token) = claim(app, &same_person(&by_records)).await;
    app.settle_bindings().await;
    let proof = |number: &str| {
        json!({"kind": "enrolment", "school_name": "西部师范大学", "student_number": number,
               "enrolment_year": 2022, "level": "本科"})
    };
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
    let right = app
        .post_authorized(
            "/api/v1/identity/claim/records",
            &token,
            &proof("2200300100"),
        )
        .await;
    assert_eq!(right.body["approved"], true, "{}", right.text);

    // By classmates: one declines, one confirms.
    let (_, token) = claim(app, &same_person(&by_classmate)).await;
    let decliner_token = app.login_ok(&decliner.phone, &decliner.password).await.0;
    let helper_token = app.login_ok(&helper.phone, &helper.password).await.0;
    app.settle_bindings().await;
    let mut requests = Vec::new();
    for classmate in [&decliner, &helper] {
        let invited = app
            .post_authorized(
                "/api/v1/identity/claim/classmates",
                &token,
                &json!({"name": classmate.name, "phone": classmate.phone}),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
        requests.push(invited.body["request_id"].as_str().unwrap().to_string());
    }
    app.settle().await;
    let no = answer(app, &requests[0], &decliner_token, false).await;
    assert_eq!(no.status, StatusCode::OK, "{}", no.text);
    let yes = answer(app, &requests[1], &helper_token, true).await;
    assert_eq!(yes.body["approved"], true, "{}", yes.text);

    // By manual review: rejected, resubmitted and approved, closing a rival claim.
    let reviewed = Person::random();
    app.register_ok(&reviewed).await;
    registered.push(reviewed.clone());
    let (claimant, token) = claim(app, &same_person(&reviewed)).await;
    let (_, rival) = claim(app, &same_person(&reviewed)).await;
    let path = "/api/v1/identity/claim/manual-review";
    let uploaded = app.upload(path, &token, jpeg()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.text);
    let rival_upload = app.upload(path, &rival, jpeg()).await;
    assert_eq!(
        rival_upload.status,
        StatusCode::CREATED,
        "{}",
        rival_upload.text
    );
    let queue = app
        .get(
            &format!("/api/v1/reviews?position={}", rival_upload.position()),
            Some(&reviewer),
        )
        .await;
    let item = queue
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["claimant"] == claimant.as_str())
        .unwrap_or_else(|| panic!("the claim is queued: {}", queue.text))
        .clone();
    let review = format!(
        "/api/v1/reviews/{}/{}",
        item["identity_id"].as_str().unwrap(),
        claimant
    );
    let refused = app
        .post_authorized(
            &format!("{review}/reject"),
            &reviewer,
            &json!({"reason": "照片不清晰，请重新上传"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.text);
    let again = app.upload(path, &token, jpeg()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let approved = app
        .post_authorized(&format!("{review}/approve"), &reviewer, &json!({}))
        .await;
    assert_eq!(approved.body["approved"], true, "{}", approved.text);

    // By a real-person check: one failure, then a pass.
    let checked = Person::random();
    app.register_ok(&checked).await;
    registered.push(checked.clone());
    let (_, token) = claim(app, &same_person(&checked)).await;
    for result in ["fail", "pass"] {
        let started = app
            .post_authorized("/api/v1/identity/claim/liveness", &token, &json!({}))
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        let session_id = started.body["session_id"].as_str().unwrap();
        let reported = callback(app, LIVENESS_SECRET, session_id, result, 0).await;
        assert_eq!(reported.status, StatusCode::NO_CONTENT, "{}", reported.text);
    }
    registered
}

/// One person through a lock, an SMS reset, changes of password, phone, e-mail, questions and
/// name, WeChat bound and unbound, security answers and an e-mail reset link. Returns the
/// person's new phone (national digits).
async fn account_changes(app: &TestApp, providers: &crate::oauth::StandIns) -> String {
    let person = Person::random();
    register_with_questions(app, &person).await;
    app.verify_email(&person.email).await;
    app.lock_out(&person.phone).await;
    assert_eq!(
        app.login(&person.phone, &person.password).await.code(),
        "account_locked"
    );
    let reset_token = app.reset_token_by_sms(&person.phone).await;
    let reset = app.reset_password(&reset_token, "Brand-New-Pass-7").await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let (session, _) = app.login_ok(&person.phone, "Brand-New-Pass-7").await;

    let password = "Changed-Pass-42";
    let changed = app
        .post_authorized(
            "/api/v1/me/password",
            &session,
            &json!({"current_password": "Brand-New-Pass-7", "password": password,
                    "password_confirmation": password}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);

    let new_phone = random_phone();
    let code = phone_code(app, &session, &new_phone).await;
    let phone = app
        .post_authorized(
            "/api/v1/me/phone",
            &session,
            &json!({"current_password": password, "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(phone.status, StatusCode::OK, "{}", phone.text);

    let new_email = format!("new.{}", person.email);
    let email = app
        .post_authorized(
            "/api/v1/me/email",
            &session,
            &json!({"current_password": password, "email": new_email}),
        )
        .await;
    assert_eq!(email.status, StatusCode::ACCEPTED, "{}", email.text);
    app.verify_email(&new_email).await;

    let questions = app
        .put_authorized(
            "/api/v1/me/security-questions",
            &session,
            &json!({"current_password": password, "security_questions": [
                {"question": "您母亲的生日?", "answer": "三月初八"},
                {"question": "您小学的名字?", "answer": "红星小学"},
                {"question": "您最喜欢的老师?", "answer": "李老师"},
            ]}),
        )
        .await;
    assert_eq!(questions.status, StatusCode::OK, "{}", questions.text);

    let subject = format!("union-{}", uuid::Uuid::new_v4().simple());
    let linked = app.bind(providers, "wechat", &session, &subject).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    let unlinked = app
        .delete_with("/api/v1/me/external-logins/wechat", &session)
        .await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.text);
    let language = app
        .put_authorized("/api/v1/me/language", &session, &json!({"language": "en"}))
        .await;
    assert_eq!(language.status, StatusCode::OK, "{}", language.text);

    // Recovery by the questions: one wrong set of answers, then the right one.
    app.settle().await;
    let ticket = app.recovery_ticket(&new_phone).await;
    let wrong = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": ["a", "b", "c"]}),
        )
        .await;
    assert_eq!(wrong.code(), "security_answers_wrong", "{}", wrong.text);
    let right = app
        .post(
            "/api/v1/password-recoveries/answers",
            &json!({"ticket": ticket, "answers": ["三月初八", "红星小学", "李老师"]}),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    // And by an e-mail link (the reset itself is not needed).
    let ticket = app.recovery_ticket(&new_email).await;
    let link = app
        .post(
            "/api/v1/password-recoveries/email-links",
            &json!({"ticket": ticket, "name": person.name, "document_number": person.document_number}),
        )
        .await;
    assert_eq!(link.status, StatusCode::ACCEPTED, "{}", link.text);

    // A resident-ID holder's new name: asked, refused, asked again, approved.
    let reviewer = app.staff_token("reviewer", None).await;
    let mut account_id = String::new();
    for (reason, decision) in [("户籍更名", "reject"), ("户籍更名，已补充材料", "approve")]
    {
        let requested = app
            .post_authorized(
                "/api/v1/me/name",
                &session,
                &json!({"current_password": password, "name": "王晓明", "reason": reason}),
            )
            .await;
        assert_eq!(requested.status, StatusCode::ACCEPTED, "{}", requested.text);
        if account_id.is_empty() {
            let queue = app
                .get(
                    &format!("/api/v1/name-changes?position={}", requested.position()),
                    Some(&reviewer),
                )
                .await;
            account_id = queue.body[0]["account_id"].as_str().unwrap().to_string();
        }
        let body = match decision {
            "reject" => json!({"reason": "请上传户口本更名页"}),
            _ => json!({}),
        };
        let decided = app
            .post_authorized(
                &format!("/api/v1/name-changes/{account_id}/{decision}"),
                &reviewer,
                &body,
            )
            .await;
        assert_eq!(decided.status, StatusCode::OK, "{}", decided.text);
    }
    new_phone
}

/// 继续注册 takes a phone over; a conscription office registers a young person (an identity
/// protected by the office) and resets the password.
async fn continue_registration_and_conscription(app: &TestApp) {
    let old = Person::random();
    app.register_ok(&old).await;
    let new = Person {
        phone: old.phone.clone(),
        ..Person::random()
    };
    let taken = app
        .register_with(&new, json!({"continue_registration": true}))
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);

    let office = app
        .staff_token("conscription_office", Some("某县人民政府征兵办公室"))
        .await;
    let young = Person::random();
    let created = app
        .post_authorized(
            "/api/v1/conscription/accounts",
            &office,
            &json!({"name": young.name, "document_type": "resident_id_card",
                    "document_number": young.document_number}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let account_id = created.body["account_id"].as_str().unwrap();
    let reset = app
        .post_authorized(
            &format!("/api/v1/conscription/accounts/{account_id}/password-reset"),
            &office,
            &json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
}

/// A `RegistrationStarted` row as the service wrote it before version 1.1 (no
/// `identity_claim`, no `phone_claim`), left unfinished: registration recovery folds it (the
/// aggregate reads it upcast) and finishes the registration, the projections apply it, the
/// audit log shows it at 1.1, the relay publishes it at 1.1 (valid against the schema), and
/// the hash chain, computed over the stored 1.0 row, still verifies.
async fn a_registration_stored_at_version_1_0_is_read_and_published_at_1_1(backend: Backend) {
    use xuexin::store::chain::{event_hash, ChainInput, GENESIS_HASH};
    let validator = Validator::load();
    let nats = NatsServer::start();
    let nats_url = nats.url();
    let app = spawn_app_with(backend, |config| {
        relaxed_limits(config);
        config.nats_url = Some(nats_url);
    })
    .await;
    let person = Person::random();
    let account_id = uuid::Uuid::new_v4().to_string();
    let payload = json!({"RegistrationStarted": {
        "name": person.name,
        "phone": format!("+86{}", person.phone),
        "document": {"kind": "resident_id_card", "masked": "11**************60",
                     "number_digest": format!("{:x}", uuid::Uuid::new_v4().as_u128())},
        "email": person.email,
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0FSy2HxYTWcl0X8so4rfPUrqEfBp0XssSZfzFfSy3GM",
        "security_questions": [],
        "channel": {"kind": "self_service"},
        "terms_accepted": true
    }});
    let an_hour_ago = xuexin_domain::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - 3_600_000,
    );
    let mut metadata = json!({"actor": format!("account:{account_id}"), "request_id": "old-1",
                              "time": an_hour_ago.to_rfc3339(), "prev_hash": GENESIS_HASH});
    let hash = event_hash(&ChainInput {
        aggregate_type: "Account",
        aggregate_id: &account_id,
        sequence: 1,
        event_type: "RegistrationStarted",
        event_version: "1.0",
        payload: &payload,
        metadata: &metadata,
    });
    metadata["hash"] = json!(hash);
    xuexin_projections::db_execute!(
        &app.db,
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Account', $1, 1, 'RegistrationStarted', '1.0', $2, $3)",
        &account_id,
        sqlx::types::Json(&payload),
        sqlx::types::Json(&metadata),
    )
    .unwrap();
    app.state.store.commits().notify_waiters();

    // Recovery picks the unfinished registration up and completes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !app
        .event_types(&account_id)
        .await
        .contains(&"Registered".to_string())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the 1.0 registration was not resumed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.settle_bindings().await;

    // The auditors see it at 1.1, with the fields a 1.0 registration implied.
    let auditor = app.staff_token("auditor", None).await;
    let log = app
        .get(
            &format!(
                "/api/v1/audit/events?aggregate_id={account_id}&event_type=RegistrationStarted"
            ),
            Some(&auditor),
        )
        .await;
    let shown = &log.body["events"][0];
    assert_eq!(shown["event_version"], "1.1", "{}", log.text);
    assert_eq!(
        shown["payload"]["RegistrationStarted"]["identity_claim"],
        "bind"
    );
    assert_eq!(
        shown["payload"]["RegistrationStarted"]["phone_claim"],
        "claim"
    );
    let state = app
        .get(
            &format!("/api/v1/audit/aggregates/Account/{account_id}"),
            Some(&auditor),
        )
        .await;
    assert_eq!(state.status, StatusCode::OK, "{}", state.text);
    assert_eq!(state.body["state"]["status"], "Active", "{}", state.text);

    // The relay publishes it at 1.1, valid against the schema.
    let expected = app.event_count().await as u64;
    let stream = wait_for_stream(&nats, expected).await;
    let messages = read_all(&stream, expected).await;
    let published = messages
        .iter()
        .map(|(_, _, body)| body)
        .find(|body| body["id"] == format!("Account:{account_id}:1"))
        .expect("the 1.0 event is published");
    assert_eq!(published["event_version"], "1.1");
    assert_eq!(
        published["payload"]["RegistrationStarted"]["identity_claim"],
        "bind"
    );
    assert_eq!(published["hash"], hash.as_str());
    for (_, _, body) in &messages {
        validator.validate(body).unwrap();
    }

    // Upcasting changes what is read, never what is stored: the chain still verifies.
    let verified = app.cli(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let stored: (String,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT event_version FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(&account_id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(stored.0, "1.0");
}
