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

on_both_backends!(the_pages_work_in_a_real_browser);
