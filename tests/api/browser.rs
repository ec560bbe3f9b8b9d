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
    let app = spawn_app(backend).await;
    let people: Vec<_> = (0..2)
        .map(|_| {
            let person = Person::random();
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
        .env("XUEXIN_PEOPLE", serde_json::to_string(&people).unwrap());
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
