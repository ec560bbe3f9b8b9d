//! The student's pages in a real Chromium: `tests/browser/suite.mjs` (playwright-core driving
//! Debian's chromium, axe-core on every page) against the service on each backend.
//! `scripts/browser-deps` installs chromium, a CJK font and the npm packages; `scripts/test`
//! runs it first. `XUEXIN_SCREENS=dir` also writes the screenshots (`scripts/screens`).

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::path::Path;
use xuexin_domain::values::password::strength_of;

async fn the_pages_work_in_a_real_browser(backend: Backend) {
    // WeChat and Alipay stand-ins, so the login page and 账号管理 show their buttons.
    let platforms = crate::oauth::stand_ins().await;
    let app = spawn_app_with(backend, |config| {
        crate::oauth::configure_providers(&platforms, config)
    })
    .await;
    let persons: Vec<Person> = (0..2).map(|_| Person::random()).collect();
    let people: Vec<_> = persons
        .iter()
        .map(|person| {
            json!({
                "phone": person.phone,
                "name": person.name,
                "document_number": person.document_number,
                "email": person.email,
                "password": person.password,
                "strength": strength_of(&person.password).as_str(),
                "new_phone": random_phone(),
            })
        })
        .collect();
    // The school reports the first person's enrolment (学信档案 shows it once they register)
    // and that of someone already registered, whose ID number the claimant then re-registers
    // with and proves by that enrolment (证件号码重复).
    let holder = Person::random();
    app.register_ok(&holder).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let imported = app
        .import(
            &registrar,
            "99003",
            csv(
                ENROLMENT_HEADER,
                &[
                    enrolment_row(&persons[0], "2200300301", "软件221"),
                    enrolment_row(&holder, "2200300302", "软件221"),
                ],
            ),
            false,
        )
        .await;
    assert!(imported.status.is_success(), "{}", imported.text);
    let claimant = Person::random();
    let claimant = json!({
        "phone": claimant.phone,
        "name": claimant.name,
        "password": claimant.password,
        "email": claimant.email,
        "document_number": holder.document_number,
        "school_name": "西部师范大学",
        "student_number": "2200300302",
        "enrolment_year": "2022",
        "level": "本科",
    });
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        suite.join("node_modules/playwright-core").exists(),
        "the browser suite's packages are missing: run scripts/browser-deps"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg("suite.mjs")
        .current_dir(&suite)
        .env("XUEXIN_URL", &app.address)
        .env("XUEXIN_PEOPLE", serde_json::to_string(&people).unwrap())
        .env("XUEXIN_CLAIMANT", claimant.to_string());
    // Screenshots come from the SQLite run only (one set is enough).
    if backend == Backend::Postgres {
        command.env_remove("XUEXIN_SCREENS");
    }
    let output = command.output().await.expect("node runs the browser suite");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("browser: all passed"), "{stdout}");
}

/// The staff console in Chromium (`tests/browser/console.mjs`): one flow per role, with the
/// work each needs prepared here through the API.
async fn the_console_works_in_a_real_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let mut staff = serde_json::Map::new();
    for (role, scope) in [
        ("administrator", None),
        ("reviewer", None),
        ("registrar", Some("99003")),
        ("provincial_authority", Some("四川")),
        ("conscription_office", Some("甲县人民政府征兵办公室")),
        ("auditor", None),
    ] {
        let (username, password) = app.create_staff(role, scope).await;
        staff.insert(
            role.into(),
            json!({"username": username, "password": password}),
        );
    }
    // A claim for the reviewer: someone re-registers with a held ID number.
    let holder = Person::random();
    app.register_ok(&holder).await;
    let claimant = Person {
        document_number: holder.document_number.clone(),
        ..Person::random()
    };
    app.re_register(&claimant).await;
    // A degree correction for the province: a registered degree reported again, changed.
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let graduate = Person::random();
    let certificate = certificate_number();
    for major in ["软件工程", "计算机科学与技术"] {
        let imported = app
            .import(
                &registrar,
                "99003",
                csv(DEGREE_HEADER, &[degree_row(&graduate, &certificate, major)]),
                false,
            )
            .await;
        assert!(imported.status.is_success(), "{}", imported.text);
    }
    // A ticket for the administrator.
    let filer = Person::random();
    app.register_ok(&filer).await;
    let (token, _) = app.login_ok(&filer.phone, &filer.password).await;
    let filed = app
        .post_authorized(
            "/api/v1/support-tickets",
            &token,
            &json!({"username": filer.phone, "description": "注册时提示手机号已经被注册"}),
        )
        .await;
    assert!(filed.status.is_success(), "{}", filed.text);
    // The registrar's file: one good row, one with a bad level (line 3).
    let student = Person::random();
    let upload = String::from_utf8(csv(
        ENROLMENT_HEADER,
        &[
            enrolment_row(&student, "2200300401", "软件222"),
            enrolment_row(&Person::random(), "2200300402", "软件222").replace("本科", "大专班"),
        ],
    ))
    .unwrap();
    let conscript = Person::random();
    let work = json!({
        "claimant": {"phone": claimant.phone, "password": claimant.password},
        "filer": {"phone": filer.phone, "password": filer.password},
        "conscript": {"name": conscript.name, "document_number": conscript.document_number},
        "upload": upload,
        "bad_line": 3,
        "unchecked_name": student.name,
        "correction": {"before": "软件工程", "after": "计算机科学与技术"},
    });
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let mut command = tokio::process::Command::new("node");
    command
        .arg("console.mjs")
        .current_dir(&suite)
        .env("XUEXIN_URL", &app.address)
        .env("XUEXIN_STAFF", serde_json::Value::Object(staff).to_string())
        .env("XUEXIN_WORK", work.to_string());
    if backend == Backend::Postgres {
        command.env_remove("XUEXIN_SCREENS");
    }
    let output = command.output().await.expect("node runs the console suite");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("console: all passed"), "{stdout}");
}

/// Single sign-on in Chromium (`tests/browser/sso.mjs`): two test platforms in Node sign the
/// person in through the real login and consent pages, and 退出 reaches their back channels.
async fn single_sign_on_works_in_a_real_browser(backend: Backend) {
    let platform_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port for the test platforms")
        .port();
    let app = spawn_app_as_issuer(backend, |_| {}).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut platforms = serde_json::Map::new();
    for (client, name) in [("yz", "研究生招生信息网"), ("zb", "全国征兵网")] {
        let base = format!("http://127.0.0.1:{platform_port}/{client}");
        let output = app.cli(&[
            "admin",
            "platform",
            "add",
            "--client-id",
            client,
            "--name",
            name,
            "--redirect-uri",
            &format!("{base}/callback"),
            "--backchannel-logout-uri",
            &format!("{base}/bc"),
            "--json",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let added: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        platforms.insert(
            client.into(),
            json!({"secret": added["client_secret"], "name": name}),
        );
    }
    let work = json!({
        "port": platform_port,
        "person": {"phone": person.phone, "password": person.password},
        "platforms": platforms,
    });
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let mut command = tokio::process::Command::new("node");
    command
        .arg("sso.mjs")
        .current_dir(&suite)
        .env("XUEXIN_URL", &app.address)
        .env("XUEXIN_SSO", work.to_string());
    if backend == Backend::Postgres {
        command.env_remove("XUEXIN_SCREENS");
    }
    let output = command.output().await.expect("node runs the SSO suite");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("sso: all passed"), "{stdout}");
}

on_both_backends!(
    the_pages_work_in_a_real_browser,
    the_console_works_in_a_real_browser,
    single_sign_on_works_in_a_real_browser
);
