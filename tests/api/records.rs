//! Student records: import, corrections, binding, views, check conclusions, authorization.

use crate::helpers::{
    certificate_number, csv, degree_row, enrolment_row, spawn_app, Backend, Person, TestApp,
    DEGREE_HEADER, ENROLMENT_HEADER,
};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    an_import_with_bad_rows_writes_nothing_and_names_each_line,
    a_file_without_a_required_column_is_refused_as_a_whole,
    the_gb18030_sample_imports_the_same_records_as_the_utf8_one_and_a_reimport_writes_nothing,
    a_changed_enrolment_row_is_a_correction_keeping_the_old_values,
    a_school_cannot_change_a_degree_but_its_province_can_approve_a_correction,
    records_bind_whether_the_record_or_the_account_came_first,
    a_missing_degree_binds_by_certificate_number_year_and_name,
    a_student_leaves_the_unchecked_list_once_they_record_a_conclusion,
    schools_see_only_their_students_and_students_only_their_records,
    photos_are_stored_outside_the_log_and_checked_by_their_bytes,
    an_import_names_the_real_line_column_and_encoding_of_what_is_wrong,
);

/// The sample files as schools send them (copied into the repository from the shared data).
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

async fn school_app(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    app.add_school("99001", "示范职业技术学院", "陕西").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    (app, registrar)
}

async fn record_events(app: &TestApp) -> i64 {
    let (n,): (i64,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE aggregate_type = 'StudentRecord'")
            .fetch_one(pool).await.unwrap()
    });
    n
}

fn field<'a>(record: &'a Value, key: &str) -> &'a str {
    record["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .and_then(|f| f["value"].as_str())
        .unwrap_or("")
}

async fn an_import_with_bad_rows_writes_nothing_and_names_each_line(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let good = Person::random();
    let bad_id = Person::random();
    let mut rows = vec![
        enrolment_row(&good, "2200300001", "软件221"),
        // line 3: wrong check character
        enrolment_row(&bad_id, "2200300002", "软件221").replace(
            &bad_id.document_number,
            &format!(
                "{}{}",
                &bad_id.document_number[..17],
                if bad_id.document_number.ends_with('0') {
                    "1"
                } else {
                    "0"
                }
            ),
        ),
        // line 4: unknown level
        enrolment_row(&Person::random(), "2200300003", "软件221").replace("本科", "研究员"),
        // line 5: impossible date
        enrolment_row(&Person::random(), "2200300004", "软件221")
            .replace("2022-09-01", "2022-13-01"),
    ];
    // line 6: another school's student
    rows.push(
        enrolment_row(&Person::random(), "2200300005", "软件221")
            .replace("西部师范大学", "东方理工大学"),
    );
    let response = app
        .import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), false)
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text
    );
    assert_eq!(response.code(), "import_rows_invalid");
    assert_eq!(
        response.body["message"],
        "文件中有 4 行数据有误，未导入任何数据"
    );
    let problems = response.body["report"]["problems"].as_array().unwrap();
    let lines: Vec<i64> = problems
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5, 6]);
    assert!(problems[0]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("校验规则"));
    assert!(problems[1]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("层次“研究员”"));
    assert!(problems[2]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("入学日期"));
    assert!(problems[3]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("东方理工大学"));
    assert_eq!(record_events(&app).await, 0);

    // With skip_invalid the good row goes in and the bad ones are still reported.
    let response = app
        .import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), true)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.body["registered"], 1);
    assert_eq!(response.body["invalid"], 4);
    assert_eq!(record_events(&app).await, 1);
}

async fn a_file_without_a_required_column_is_refused_as_a_whole(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let header = ENROLMENT_HEADER.replace("证件号码,", "");
    let row = enrolment_row(&Person::random(), "2200300001", "软件221");
    let without_id: String = {
        let mut cells: Vec<&str> = row.split(',').collect();
        cells.remove(4);
        cells.join(",")
    };
    let response = app
        .import(
            &registrar,
            "99003",
            csv(&header, std::slice::from_ref(&without_id)),
            true,
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text
    );
    assert_eq!(response.code(), "import_file_invalid");
    assert!(response.body["message"]
        .as_str()
        .unwrap()
        .contains("缺少列：证件号码"));
    let in_english = app
        .send(
            app.client
                .post(format!(
                    "{}/api/v1/schools/99003/record-imports?skip_invalid=true",
                    app.address
                ))
                .bearer_auth(&registrar)
                .header("content-type", "text/csv")
                .header("Accept-Language", "en")
                .body(csv(&header, std::slice::from_ref(&without_id))),
        )
        .await;
    assert_eq!(in_english.code(), "import_file_invalid");
    assert!(
        in_english.body["message"]
            .as_str()
            .unwrap()
            .contains("missing columns: 证件号码"),
        "{}",
        in_english.text
    );
    let not_csv = app
        .import(&registrar, "99003", b"\x00\x01\x02".to_vec(), true)
        .await;
    assert_eq!(
        not_csv.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_csv.text
    );
    assert_eq!(record_events(&app).await, 0);
}

async fn the_gb18030_sample_imports_the_same_records_as_the_utf8_one_and_a_reimport_writes_nothing(
    backend: Backend,
) {
    let (app, registrar) = school_app(backend).await;
    let gb = std::fs::read(format!("{SAMPLES}/records-sample-enrolment.gb18030.csv")).unwrap();
    let first = app.import(&registrar, "99003", gb, true).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["encoding"], "gb18030");
    assert_eq!(first.body["registered"], 14);
    assert_eq!(first.body["invalid"], 26, "the other two schools' rows");
    let events = record_events(&app).await;
    assert_eq!(events, 14);

    let utf8 = std::fs::read(format!("{SAMPLES}/records-sample-enrolment.csv")).unwrap();
    let again = app.import(&registrar, "99003", utf8, true).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["encoding"], "UTF-8");
    assert_eq!(again.body["unchanged"], 14);
    assert_eq!(
        record_events(&app).await,
        events,
        "a re-import wrote events"
    );
}

async fn a_changed_enrolment_row_is_a_correction_keeping_the_old_values(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&person, "2200300010", "软件221")],
        ),
        false,
    )
    .await;
    let changed = enrolment_row(&person, "2200300010", "软件222");
    let response = app
        .import(
            &registrar,
            "99003",
            csv(ENROLMENT_HEADER, &[changed]),
            false,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.body["corrected"], 1);
    app.settle_bindings().await;

    let archive = app.my_records(&token, 0).await;
    assert_eq!(archive.status, StatusCode::OK, "{}", archive.text);
    let record = &archive.body["records"][0];
    assert_eq!(field(record, "class_name"), "软件222");
    let correction = record["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["change_type"] == "corrected")
        .expect("a correction in the history");
    assert_eq!(
        correction["details"]["changes"],
        json!([{"field": "class_name", "header": "班级", "before": "软件221", "after": "软件222"}])
    );
    assert!(correction["actor"]
        .as_str()
        .unwrap()
        .starts_with("registrar:"));
}

async fn a_school_cannot_change_a_degree_but_its_province_can_approve_a_correction(
    backend: Backend,
) {
    let (app, registrar) = school_app(backend).await;
    let person = Person::random();
    let certificate = certificate_number();
    app.import(
        &registrar,
        "99003",
        csv(
            DEGREE_HEADER,
            &[degree_row(&person, &certificate, "软件工程")],
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
                &[degree_row(&person, &certificate, "计算机科学与技术")],
            ),
            false,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["correction_requested"], 1);
    assert_eq!(changed.body["corrected"], 0);

    let record_id = xuexin_domain::record::degree_record_id(&certificate).to_string();
    let position = changed.position();
    let registrar_view = app
        .get(
            &format!("/api/v1/records/{record_id}?position={position}"),
            Some(&registrar),
        )
        .await;
    assert_eq!(
        field(&registrar_view.body, "major"),
        "软件工程",
        "the school changed a degree"
    );

    // The registrar cannot approve; another province cannot; the school's province can.
    let approve = format!("/api/v1/records/{record_id}/corrections/1/approve");
    assert_eq!(
        app.post_authorized(&approve, &registrar, &json!({"reason": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let shaanxi = app.staff_token("provincial_authority", Some("陕西")).await;
    assert_eq!(
        app.post_authorized(&approve, &shaanxi, &json!({"reason": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let sichuan = app.staff_token("provincial_authority", Some("四川")).await;
    let pending = app
        .get(
            &format!("/api/v1/corrections?position={position}"),
            Some(&sichuan),
        )
        .await;
    assert_eq!(
        pending.body.as_array().unwrap().len(),
        1,
        "{}",
        pending.text
    );
    let no_reason = app.post_authorized(&approve, &sichuan, &json!({})).await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let approved = app
        .post_authorized(
            &approve,
            &sichuan,
            &json!({"reason": "经省教育厅审核，专业名称登记有误"}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);

    let view = app
        .get(
            &format!(
                "/api/v1/records/{record_id}?position={}",
                approved.position()
            ),
            Some(&sichuan),
        )
        .await;
    assert_eq!(field(&view.body, "major"), "计算机科学与技术");
    let corrected = view.body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["change_type"] == "corrected")
        .unwrap();
    assert_eq!(
        corrected["details"]["reason"],
        "经省教育厅审核，专业名称登记有误"
    );
    assert_eq!(corrected["details"]["changes"][0]["before"], "软件工程");
    assert!(corrected["actor"]
        .as_str()
        .unwrap()
        .starts_with("provincial_authority:"));
    assert_eq!(view.body["pending_corrections"], json!([]));
}

async fn records_bind_whether_the_record_or_the_account_came_first(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    // Record first, then the account.
    let early = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&early, "2200300020", "软件221")],
        ),
        false,
    )
    .await;
    let (early_token, _) = app.register_and_login(&early).await;
    // Account first, then the record.
    let late = Person::random();
    let (late_token, _) = app.register_and_login(&late).await;
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&late, "2200300021", "软件221")],
        ),
        false,
    )
    .await;
    // Same ID number, another name: not theirs.
    let mut stranger = late.clone();
    stranger.name = "李四".into();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&stranger, "2200300022", "软件221")],
        ),
        false,
    )
    .await;
    app.settle_bindings().await;

    for (token, number) in [(&early_token, "2200300020"), (&late_token, "2200300021")] {
        let archive = app.my_records(token, 0).await;
        assert_eq!(archive.body["enrolment_count"], 1, "{}", archive.text);
        let record = &archive.body["records"][0];
        assert_eq!(field(record, "student_number"), number);
        assert_eq!(record["title"], "本科-西部师范大学-软件工程");
        let masked = field(record, "id_number");
        assert!(masked.contains("**************"), "{masked}");
        assert_eq!(record["checks"].as_array().unwrap().len(), 4);
    }
}

async fn a_missing_degree_binds_by_certificate_number_year_and_name(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let person = Person::random();
    let (token, _) = app.register_and_login(&person).await;
    // The school reported the degree under another (valid) ID number: no automatic binding.
    let mut as_reported = person.clone();
    as_reported.document_number = crate::helpers::random_resident_id();
    let certificate = certificate_number();
    app.import(
        &registrar,
        "99003",
        csv(
            DEGREE_HEADER,
            &[degree_row(&as_reported, &certificate, "软件工程")],
        ),
        false,
    )
    .await;
    app.settle_bindings().await;
    assert_eq!(app.my_records(&token, 0).await.body["degree_count"], 0);

    let bind = |year: i64, name: &str| json!({"certificate_number": certificate, "graduation_year": year, "name": name});
    let wrong_year = app
        .post_authorized("/api/v1/me/records/bind", &token, &bind(2023, &person.name))
        .await;
    assert_eq!(
        wrong_year.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong_year.text
    );
    assert_eq!(wrong_year.field_errors()[0].1, "record_details_mismatch");
    let unknown = app
        .post_authorized("/api/v1/me/records/bind", &token, &json!({"certificate_number": "990031202400000000", "graduation_year": 2024, "name": person.name}))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bound = app
        .post_authorized("/api/v1/me/records/bind", &token, &bind(2024, &person.name))
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.text);
    let archive = app.my_records(&token, bound.position()).await;
    assert_eq!(archive.body["degree_count"], 1, "{}", archive.text);

    // Someone else with the same name cannot take it.
    let namesake = Person::random();
    let (other, _) = app.register_and_login(&namesake).await;
    let taken = app
        .post_authorized("/api/v1/me/records/bind", &other, &bind(2024, &person.name))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert_eq!(taken.code(), "record_bound_to_another");
}

async fn a_student_leaves_the_unchecked_list_once_they_record_a_conclusion(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let student = Person::random();
    let classmate = Person::random();
    let rows = [
        enrolment_row(&student, "2200300030", "软件223"),
        enrolment_row(&classmate, "2200300031", "软件223"),
        enrolment_row(&Person::random(), "2200300032", "软件224"),
    ];
    app.import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), false)
        .await;
    let (token, _) = app.register_and_login(&student).await;
    app.settle_bindings().await;

    let list = app
        .get(
            "/api/v1/schools/99003/unchecked?class_name=软件223",
            Some(&registrar),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let numbers: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["student_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["2200300030", "2200300031"]);
    assert_eq!(list.body[0]["has_account"], true);
    assert_eq!(list.body[1]["has_account"], false);

    let record_id = app.my_records(&token, 0).await.body["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = app
        .post_authorized(
            &format!("/api/v1/me/records/{record_id}/checks"),
            &token,
            &json!({"check_type": "enrolment_check", "conclusion": "wrong"}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a wrong conclusion needs the correction"
    );
    let concluded = app
        .post_authorized(
            &format!("/api/v1/me/records/{record_id}/checks"),
            &token,
            &json!({"check_type": "enrolment_check", "conclusion": "wrong", "correction": "民族应为回族"}),
        )
        .await;
    assert_eq!(concluded.status, StatusCode::CREATED, "{}", concluded.text);
    let position = concluded.position();
    let after = app
        .get(
            &format!(
                "/api/v1/schools/99003/unchecked?grade=2022&class_name=软件223&position={position}"
            ),
            Some(&registrar),
        )
        .await;
    let numbers: Vec<&str> = after
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["student_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["2200300031"]);
    let as_csv = app
        .get(
            &format!(
                "/api/v1/schools/99003/unchecked?class_name=软件223&format=csv&position={position}"
            ),
            Some(&registrar),
        )
        .await;
    assert_eq!(as_csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(as_csv.text.contains("2200300031") && !as_csv.text.contains("2200300030"));
    assert!(as_csv
        .text
        .starts_with("\u{feff}学号,姓名,班级,入学年份,已注册账号"));

    // The student sees the conclusion in the archive's check table.
    let archive = app.my_records(&token, position).await;
    let check = &archive.body["records"][0]["checks"][0];
    assert_eq!(check["label"], "学籍信息核对");
    assert_eq!(check["conclusion"], "wrong");
    assert_eq!(check["correction"], "民族应为回族");
}

async fn schools_see_only_their_students_and_students_only_their_records(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let owner = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&owner, "2200300040", "软件221")],
        ),
        false,
    )
    .await;
    let (owner_token, _) = app.register_and_login(&owner).await;
    let (other_token, _) = app.register_and_login(&Person::random()).await;
    app.settle_bindings().await;
    let record_id = xuexin_domain::record::enrolment_record_id("99003", "2200300040").to_string();
    let path = format!("/api/v1/records/{record_id}");

    assert_eq!(
        app.get(&path, Some(&owner_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path, Some(&registrar)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path, Some(&other_token)).await.status,
        StatusCode::NOT_FOUND
    );
    let other_school = app.staff_token("registrar", Some("99001")).await;
    assert_eq!(
        app.get(&path, Some(&other_school)).await.status,
        StatusCode::FORBIDDEN
    );
    let auditor = app.staff_token("auditor", None).await;
    assert_eq!(app.get(&path, Some(&auditor)).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{path}/history"), Some(&other_token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Imports and lists are for the school's own registrar only.
    let rows = csv(
        ENROLMENT_HEADER,
        &[enrolment_row(&Person::random(), "2200300041", "软件221")],
    );
    assert_eq!(
        app.import(&other_school, "99003", rows.clone(), false)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.import(&owner_token, "99003", rows, false).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/schools/99003/unchecked", Some(&other_school))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/me/records", Some(&registrar)).await.status,
        StatusCode::FORBIDDEN
    );
    // Nobody else's check conclusion can be recorded.
    let checked = app
        .post_authorized(
            &format!("/api/v1/me/records/{record_id}/checks"),
            &other_token,
            &json!({"check_type": "enrolment_check", "conclusion": "correct"}),
        )
        .await;
    assert_eq!(checked.status, StatusCode::FORBIDDEN, "{}", checked.text);
    assert_eq!(
        app.my_records(&other_token, 0).await.body["records"],
        json!([])
    );
}

async fn photos_are_stored_outside_the_log_and_checked_by_their_bytes(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let person = Person::random();
    app.import(
        &registrar,
        "99003",
        csv(
            ENROLMENT_HEADER,
            &[enrolment_row(&person, "2200300050", "软件221")],
        ),
        false,
    )
    .await;
    let (token, _) = app.register_and_login(&person).await;
    let record_id = xuexin_domain::record::enrolment_record_id("99003", "2200300050").to_string();
    let upload = |bytes: Vec<u8>| {
        app.send(
            app.client
                .post(format!(
                    "{}/api/v1/schools/99003/records/{record_id}/photos/admission",
                    app.address
                ))
                .bearer_auth(&registrar)
                .header("content-type", "image/png")
                .body(bytes),
        )
    };
    let png: Vec<u8> = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 200]].concat();
    let stored = upload(png.clone()).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text);
    let gif = upload(b"GIF89a-not-allowed".to_vec()).await;
    assert_eq!(
        (gif.status, gif.code()),
        (StatusCode::BAD_REQUEST, "image_type")
    );
    let empty = upload(Vec::new()).await;
    assert_eq!(
        (empty.status, empty.code()),
        (StatusCode::BAD_REQUEST, "image_empty")
    );
    let huge = upload([b"\xFF\xD8\xFF".as_slice(), &vec![0u8; 3 * 1024 * 1024]].concat()).await;
    assert_eq!(
        (huge.status, huge.code()),
        (StatusCode::BAD_REQUEST, "image_too_large")
    );

    app.settle_bindings().await;
    let archive = app.my_records(&token, stored.position()).await;
    let url = archive.body["records"][0]["photos"]["admission"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let image = app
        .client
        .get(format!("{}{url}", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    // The log holds the hash, not the image.
    let events = app.all_events_text().await;
    assert!(events.contains(stored.body["sha256"].as_str().unwrap()));
    assert!(events.len() < 100_000);
}

/// Issue 13, item 11: CRLF line numbers are the file's own, a byte that decodes to nothing is
/// refused by line and column, a broken UTF-8 file is named as such, and a row with the wrong
/// number of cells says how many it has and how many the header has.
async fn an_import_names_the_real_line_column_and_encoding_of_what_is_wrong(backend: Backend) {
    let (app, registrar) = school_app(backend).await;
    let people: Vec<Person> = (0..4).map(|_| Person::random()).collect();
    let row = |i: usize| enrolment_row(&people[i], &format!("22003001{i:02}"), "软件221");
    let crlf = |lines: &[String]| {
        let mut text = ENROLMENT_HEADER.to_string();
        for line in lines {
            text.push_str("\r\n");
            text.push_str(line);
        }
        text.push_str("\r\n");
        text
    };

    // GB18030, CRLF: line 3 has a cell with bytes that decode to nothing; line 5 lacks a cell.
    let short = row(3).rsplit_once(',').unwrap().0.to_string();
    let text = crlf(&[row(0), row(1), row(2), short]);
    let (mut bytes, _, _) = encoding_rs::GB18030.encode(&text);
    let mut bytes = bytes.to_mut().clone();
    let class = encoding_rs::GB18030.encode("软件221").0.into_owned();
    let line3 = {
        let start = find_nth(&bytes, &class, 1);
        start + class.len()
    };
    bytes.splice(line3..line3, b"\xff\x30".iter().copied());
    let refused = app.import(&registrar, "99003", bytes.clone(), false).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "import_rows_invalid");
    let problems = refused.body["report"]["problems"]
        .as_array()
        .unwrap()
        .clone();
    let lines: Vec<i64> = problems
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 5], "{}", refused.text);
    let undecodable = problems[0]["reasons"].to_string();
    assert!(
        undecodable.contains("第 14 列含有无法识别的字节"),
        "{undecodable}"
    );
    let counted = problems[1]["reasons"].to_string();
    assert!(counted.contains("本行有 17 列，表头有 18 列"), "{counted}");
    assert_eq!(record_events(&app).await, 0);
    // Leniently, the two good rows go in and the same two are reported.
    let lenient = app.import(&registrar, "99003", bytes, true).await;
    assert_eq!(lenient.status, StatusCode::OK, "{}", lenient.text);
    assert_eq!(lenient.body["registered"], 2);
    assert_eq!(lenient.body["invalid"], 2);

    // UTF-8 with one bad byte on line 4: not taken for GB18030 (whose reading would miss
    // every column), but named for what it is.
    let mut broken = crlf(&[row(0), row(1), row(2)]).into_bytes();
    let at = find_nth(&broken, "软件221".as_bytes(), 2);
    broken[at] = 0xff;
    let answer = app.import(&registrar, "99003", broken, false).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "import_file_invalid");
    let message = answer.body["message"].as_str().unwrap();
    assert!(
        message.contains("既不是有效的 UTF-8 编码，也不是 GB18030 编码"),
        "{message}"
    );
    assert!(message.contains("第 4 行"), "{message}");
    assert!(!message.contains("缺少"), "{message}");

    // A control character in a cell (item 5) refuses its row, naming the column.
    let text = crlf(&[row(0), row(1).replace("软件221", "软件\u{1}221")]);
    let answer = app
        .import(&registrar, "99003", text.into_bytes(), false)
        .await;
    assert_eq!(answer.code(), "import_rows_invalid", "{}", answer.text);
    let problem = &answer.body["report"]["problems"][0];
    assert_eq!(problem["line"], 3);
    assert!(problem["reasons"]
        .to_string()
        .contains("第 14 列含有不允许的控制字符"));
}

/// Where the `n`-th (0-based) occurrence of `needle` starts.
fn find_nth(haystack: &[u8], needle: &[u8], n: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(n)
        .map(|(i, _)| i)
        .unwrap()
}
