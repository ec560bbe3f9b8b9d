//! The staff console over HTTP (issue 16), as a browser without JavaScript uses it: the
//! sign-in with its second factor, every page refused to the other roles and to students,
//! and each scope (school, province, office) kept to itself. The browser suite drives the
//! roles' work in Chromium.

use crate::helpers::*;
use crate::on_both_backends;
use crate::web::{Browser, Page};
use reqwest::StatusCode;
use xuexin::web::STAFF_PAGES;
use xuexin_domain::roles::StaffRole;

/// The TOTP secret the enrolment page shows (grouped by four).
fn secret_on(page: &Page) -> String {
    let marker = "class=\"secret\">";
    let at = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no secret on the page: {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('<').unwrap()].replace(' ', "")
}

/// Opens `/staff/login` (for this browser's CSRF token) and signs in; the token and the answer.
async fn sign_in(browser: &mut Browser<'_>, username: &str, password: &str) -> (String, Page) {
    let csrf = browser.get("/staff/login").await.csrf();
    let answer = browser
        .post(
            "/staff/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    (csrf, answer)
}

/// The recovery codes the enrolment's answer lists.
fn recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|part| part[..part.find('<').unwrap()].to_string())
        .collect()
}

/// Signs a new staff member of `role` in through `/staff/login` and the enrolment of
/// `/staff/factor`; the browser, its CSRF token and the recovery codes.
pub async fn staff_browser<'a>(
    app: &'a TestApp,
    role: &str,
    scope: Option<&str>,
) -> (Browser<'a>, String, Vec<String>) {
    let (username, password) = app.create_staff(role, scope).await;
    let mut browser = Browser::new(app);
    let (csrf, signed_in) = sign_in(&mut browser, &username, &password).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/staff/factor");
    let enrol = browser.get("/staff/factor").await;
    assert_eq!(enrol.status, StatusCode::OK);
    let secret = secret_on(&enrol);
    let qr = browser.get("/staff/factor/qr.svg").await;
    assert!(qr.body.starts_with("<svg"), "{}", qr.body);
    let codes = browser
        .post(
            "/staff/factor",
            &[("csrf", &csrf), ("code", &app.totp(&secret, 0))],
        )
        .await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
    let recovery = recovery_codes(&codes);
    assert_eq!(recovery.len(), 10);
    (browser, csrf, recovery)
}

async fn a_staff_member_reaches_the_console_only_through_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (username, password) = app.create_staff("auditor", None).await;
    let mut browser = Browser::new(&app);
    // Not signed in: the console sends to its sign-in.
    assert_eq!(browser.get("/staff/audit").await.location(), "/staff/login");
    // A person's phone does not sign in here, nor a wrong password.
    let (_, wrong) = sign_in(&mut browser, &username, "nope-nope-1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let (csrf, _) = sign_in(&mut browser, &username, &password).await;
    // Before the factor every other page leads back to it, the person's pages too.
    for path in [
        "/staff",
        "/staff/audit",
        "/account",
        "/staff/audit/export.csv",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/staff/factor", "{path}");
    }
    let enrol = browser.get("/staff/factor").await;
    let secret = secret_on(&enrol);
    let refused = browser
        .post("/staff/factor", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("aria-invalid=\"true\""));
    let codes = browser
        .post(
            "/staff/factor",
            &[("csrf", &csrf), ("code", &app.totp(&secret, 0))],
        )
        .await;
    assert_eq!(codes.status, StatusCode::OK);
    let home = browser.get("/staff").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("/staff/audit"), "{}", home.body);
    // The enrolment is the staff member's first action on the console's first page.
    assert!(home.body.contains("SecondFactorEnrolled"), "{}", home.body);

    // The next sign-in asks for a code; a recovery code does too, once.
    let recovery = recovery_codes(&codes);
    for attempt in 0..2 {
        let mut again = Browser::new(&app);
        let (csrf, _) = sign_in(&mut again, &username, &password).await;
        let ask = again.get("/staff/factor").await;
        assert!(
            !ask.body.contains("class=\"secret\""),
            "no secret once enrolled"
        );
        let answer = again
            .post("/staff/factor", &[("csrf", &csrf), ("code", &recovery[0])])
            .await;
        if attempt == 0 {
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
            assert_eq!(answer.location(), "/staff");
        } else {
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "a recovery code works once"
            );
        }
    }
}

async fn every_console_page_is_refused_to_the_other_roles_and_to_students(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut student = Browser::new(&app);
    student.log_in(&person.phone, &person.password).await;
    let scopes = |role: StaffRole| match role {
        StaffRole::Registrar => Some("99003"),
        StaffRole::ProvincialAuthority => Some("四川"),
        StaffRole::ConscriptionOffice => Some("成都市武侯区人民政府征兵办公室"),
        _ => None,
    };
    let mut staff = Vec::new();
    for role in StaffRole::ALL {
        let (browser, _, _) = staff_browser(&app, role.as_str(), scopes(role)).await;
        staff.push((role, browser));
    }
    for (path, roles) in STAFF_PAGES {
        for (role, browser) in staff.iter_mut() {
            let page = browser.get(path).await;
            let expected = if roles.contains(role) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(page.status, expected, "{path} as {}", role.as_str());
        }
        let page = student.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} as a student");
    }
    // And forms: a student's and another role's POST change nothing.
    let (role, browser) = &mut staff[0];
    assert_eq!(*role, StaffRole::Reviewer);
    let csrf = browser.get("/staff").await.csrf();
    let refused = browser
        .post(
            "/staff/schools",
            &[
                ("csrf", &csrf),
                ("code", "99011"),
                ("name", "东部大学"),
                ("province", "浙江"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events_of_type("SchoolRegistered").await.len(), 1);
}

async fn each_scope_keeps_to_its_own_school_province_and_office(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    app.add_school("99011", "东部大学", "浙江").await;
    let person = Person::random();
    let rows = [enrolment_row(&person, "2022001", "软件2201")];
    // The other school's registrar uploads a file; this one cannot read its report.
    let (mut other, other_csrf, _) = staff_browser(&app, "registrar", Some("99011")).await;
    let report = other
        .post_file(
            "/staff/imports",
            &[("csrf", &other_csrf)],
            ("file", "records.csv", &csv(ENROLMENT_HEADER, &rows)),
        )
        .await;
    assert_eq!(report.status, StatusCode::SEE_OTHER, "{}", report.body);
    let report_path = report.location().to_string();
    assert!(other.get(&report_path).await.body.contains("学校名称"));
    let (mut ours, _, _) = staff_browser(&app, "registrar", Some("99003")).await;
    assert_eq!(ours.get(&report_path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ours.get(&format!("{report_path}?format=csv")).await.status,
        StatusCode::NOT_FOUND
    );

    // A province decides only its own schools' degree corrections.
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let graduate = Person::random();
    let certificate = certificate_number();
    let mut position = 0;
    for major in ["软件工程", "计算机科学与技术"] {
        let imported = app
            .import(
                &registrar,
                "99003",
                csv(DEGREE_HEADER, &[degree_row(&graduate, &certificate, major)]),
                false,
            )
            .await;
        position = imported.body["position"].as_i64().unwrap();
    }
    let requested = app.events_of_type("DegreeCorrectionRequested").await;
    assert_eq!(requested.len(), 1);
    let record = requested[0].0.clone();
    app.state
        .reads
        .wait(&[xuexin_projections::records::NAME], position)
        .await
        .unwrap();
    let (mut zhejiang, zhejiang_csrf, _) =
        staff_browser(&app, "provincial_authority", Some("浙江")).await;
    assert!(!zhejiang
        .get("/staff/degree-corrections")
        .await
        .body
        .contains("计算机科学与技术"));
    let refused = zhejiang
        .post(
            "/staff/degree-corrections",
            &[
                ("csrf", &zhejiang_csrf),
                ("record", &record),
                ("correction", "1"),
                ("decision", "approve"),
                ("reason", "同意"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app.events_of_type("RecordCorrected").await.is_empty());
    let (mut sichuan, _, _) = staff_browser(&app, "provincial_authority", Some("四川")).await;
    assert!(sichuan
        .get("/staff/degree-corrections")
        .await
        .body
        .contains("计算机科学与技术"));
    // The school sees what it submitted; the other school does not.
    assert!(ours
        .get("/staff/correction-requests")
        .await
        .body
        .contains("计算机科学与技术"));
    assert!(!other
        .get("/staff/correction-requests")
        .await
        .body
        .contains("计算机科学与技术"));

    // An office resets only the accounts it registered.
    let (mut office, office_csrf, _) =
        staff_browser(&app, "conscription_office", Some("甲县人民政府征兵办公室")).await;
    let young = Person::random();
    let slip = office
        .post(
            "/staff/conscripts",
            &[
                ("csrf", &office_csrf),
                ("name", &young.name),
                ("document_type", "resident_id_card"),
                ("document_number", &young.document_number),
                ("phone", ""),
            ],
        )
        .await;
    assert_eq!(slip.status, StatusCode::OK, "{}", slip.body);
    let account = app.events_of_type("RegistrationStarted").await[0].0.clone();
    let (mut stranger, stranger_csrf, _) =
        staff_browser(&app, "conscription_office", Some("乙县人民政府征兵办公室")).await;
    let refused = stranger
        .post(
            "/staff/conscripts/reset",
            &[("csrf", &stranger_csrf), ("account", &account)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app.events_of_type("PasswordReset").await.is_empty());
    assert!(!stranger
        .get("/staff/conscripts")
        .await
        .body
        .contains(&young.name));
    assert!(office
        .get("/staff/conscripts")
        .await
        .body
        .contains(&young.name));
}

/// The text of the element with `id` (a `<code>`), as the page shows it.
pub fn code_by_id(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} on the page: {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('<').unwrap()].to_string()
}

async fn an_administrator_creates_an_office_whose_refusals_name_it_and_its_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut admin, csrf, _) = staff_browser(&app, "administrator", None).await;
    let office_name = "某县人民政府征兵办公室";
    let created = admin
        .post(
            "/staff/accounts",
            &[
                ("csrf", &csrf),
                ("username", "wuzhuang-bu"),
                ("name", "武装部"),
                ("role", "conscription_office"),
                ("scope", office_name),
                ("phone", "028-85000000"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let password = code_by_id(&created, "shown-password");
    let event = &app.events_of_type("StaffAccountCreated").await[1];
    assert!(event.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("administrator:"));

    // The office signs in with the password shown once, enrols, registers a young person.
    let mut office = Browser::new(&app);
    let (office_csrf, _) = sign_in(&mut office, "wuzhuang-bu", &password).await;
    let secret = secret_on(&office.get("/staff/factor").await);
    office
        .post(
            "/staff/factor",
            &[("csrf", &office_csrf), ("code", &app.totp(&secret, 0))],
        )
        .await;
    let young = Person::random();
    let slip = office
        .post(
            "/staff/conscripts",
            &[
                ("csrf", &office_csrf),
                ("name", &young.name),
                ("document_type", "resident_id_card"),
                ("document_number", &young.document_number),
            ],
        )
        .await;
    assert_eq!(slip.status, StatusCode::OK, "{}", slip.body);
    let initial = code_by_id(&slip, "initial-password");
    app.login_ok(&young.document_number, &initial).await;

    // Registering that ID number again is refused naming the office and its phone.
    let claimant = Person {
        name: young.name.clone(),
        document_number: young.document_number.clone(),
        ..Person::random()
    };
    let refused = app
        .register_with(&claimant, serde_json::json!({"re_register": true}))
        .await;
    assert_eq!(refused.code(), "id_number_protected");
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "请联系（{office_name}，028-85000000）协助修改密码"
        )),
        "{message}"
    );

    // Disabled, the office can no longer sign in; its session has ended.
    let office_id = event.0.clone();
    let disabled = admin
        .post(
            &format!("/staff/accounts/{office_id}/disable"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(office.get("/staff").await.location(), "/staff/login");
    let again = app.login("wuzhuang-bu", &password).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

/// Posts the correction-request form: `decision` `accept` (class_name becomes `value`) or
/// `reject`.
async fn answer_request(
    browser: &mut Browser<'_>,
    csrf: &str,
    record: &str,
    decision: &str,
    value: &str,
    reason: &str,
) -> Page {
    browser
        .post(
            "/staff/correction-requests",
            &[
                ("csrf", csrf),
                ("record", record),
                ("check_type", "enrolment_check"),
                ("decision", decision),
                ("field", "class_name"),
                ("value", value),
                ("reason", reason),
            ],
        )
        .await
}

async fn a_registrar_answers_a_students_correction_request_and_the_student_reads_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    app.add_school("99011", "东部大学", "浙江").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let student = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&student, "2200300501", "软件223")],
        ),
        false,
    )
    .await;
    let (token, _) = app.register_and_login(&student).await;
    app.settle_bindings().await;
    let record_id = app.my_records(&token, 0).await.body["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let conclude = |correction: &'static str| {
        let body = serde_json::json!({"check_type": "enrolment_check", "conclusion": "wrong", "correction": correction});
        let path = format!("/api/v1/me/records/{record_id}/checks");
        let token = token.clone();
        let app = &app;
        async move { app.post_authorized(&path, &token, &body).await }
    };
    let said = conclude("班级应为软件221").await;
    assert!(said.status.is_success(), "{}", said.text);
    let position = said.body["position"].as_i64().unwrap_or(0);

    let (mut school, csrf, _) = staff_browser(&app, "registrar", Some("99003")).await;
    let (mut other, other_csrf, _) = staff_browser(&app, "registrar", Some("99011")).await;
    app.state
        .reads
        .wait(&[xuexin_projections::records::NAME], position)
        .await
        .unwrap();
    let queue = school.get("/staff/correction-requests").await;
    assert!(queue.body.contains("班级应为软件221"), "{}", queue.body);
    assert!(!other
        .get("/staff/correction-requests")
        .await
        .body
        .contains("班级应为软件221"));
    // Another school cannot answer it; a rejection needs a reason; nothing is written.
    let foreign = answer_request(
        &mut other,
        &other_csrf,
        &record_id,
        "reject",
        "",
        "不是本校学生",
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let bare = answer_request(&mut school, &csrf, &record_id, "reject", "", "").await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app
        .events_of_type("CorrectionRequestAnswered")
        .await
        .is_empty());
    let rejected = answer_request(
        &mut school,
        &csrf,
        &record_id,
        "reject",
        "",
        "以学院分班名单为准",
    )
    .await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.body);
    let mut person = Browser::new(&app);
    person.log_in(&student.phone, &student.password).await;
    let archive = person.get("/archive").await;
    assert!(
        archive
            .body
            .contains("学校答复：不予更正。以学院分班名单为准"),
        "{}",
        archive.body
    );
    assert!(!school
        .get("/staff/correction-requests")
        .await
        .body
        .contains("班级应为软件221"));

    // Marked wrong again, the request is accepted: the record is corrected.
    conclude("班级确实应为软件221").await;
    app.settle_bindings().await;
    let accepted = answer_request(
        &mut school,
        &csrf,
        &record_id,
        "accept",
        "软件221",
        "已核实",
    )
    .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    let corrected = app.events_of_type("RecordCorrected").await;
    assert_eq!(corrected.len(), 1);
    assert!(corrected[0].2["actor"]
        .as_str()
        .unwrap()
        .starts_with("registrar:"));
    let archive = person.get("/archive").await;
    assert!(
        archive.body.contains("学校答复：已更正。已核实"),
        "{}",
        archive.body
    );
    assert!(archive.body.contains("软件221"));
}

on_both_backends!(
    a_registrar_answers_a_students_correction_request_and_the_student_reads_it,
    an_administrator_creates_an_office_whose_refusals_name_it_and_its_phone,
    a_staff_member_reaches_the_console_only_through_the_second_factor,
    every_console_page_is_refused_to_the_other_roles_and_to_students,
    each_scope_keeps_to_its_own_school_province_and_office,
);
