//! Issue 13, item 7: security headers on pages and answers.

use crate::helpers::{spawn_app, spawn_app_with, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;

on_both_backends!(
    pages_allow_only_their_own_files_and_no_framing,
    answers_with_tokens_or_personal_data_are_never_cached,
    hsts_is_sent_only_behind_an_https_public_url,
);

async fn pages_allow_only_their_own_files_and_no_framing(backend: Backend) {
    let app = spawn_app(backend).await;
    for page in ["/verify-email?token=abc", "/reset-password?token=abc"] {
        let answer = app.get(page, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        let csp = answer.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ] {
            assert!(csp.contains(directive), "{page}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["referrer-policy"], "no-referrer");
        assert_eq!(answer.headers["cache-control"], "no-store");
        // No inline script or style: everything the page runs is a file the CSP allows.
        assert!(!answer.text.contains("<script>"), "{page}");
        assert!(!answer.text.contains("<style"), "{page}");
        assert!(!answer.text.contains(" style="), "{page}");
        assert!(!answer.text.contains(" onclick="), "{page}");
        for file in answer
            .text
            .split(['"', '\''])
            .filter(|part| part.starts_with("/static/"))
        {
            let served = app.get(file, None).await;
            assert_eq!(served.status, StatusCode::OK, "{file}");
            assert_eq!(served.headers["x-content-type-options"], "nosniff");
            let kind = served.headers["content-type"].to_str().unwrap();
            assert!(
                kind.starts_with("text/css")
                    || kind.starts_with("text/javascript")
                    || kind == "image/svg+xml",
                "{file}: {kind}"
            );
        }
    }
}

async fn answers_with_tokens_or_personal_data_are_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let login = app.login(&person.phone, &person.password).await;
    assert_eq!(login.status, StatusCode::CREATED);
    assert_eq!(login.headers["cache-control"], "no-store");
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    let token = login.body["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.headers["cache-control"], "no-store");
    assert_eq!(me.headers["referrer-policy"], "no-referrer");
    // Errors too.
    let refused = app.get("/api/v1/me", None).await;
    assert_eq!(refused.headers["cache-control"], "no-store");
    assert!(!me.headers.contains_key("strict-transport-security"));
}

async fn hsts_is_sent_only_behind_an_https_public_url(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.public_url = "https://xuexin.example".into();
    })
    .await;
    let health = app.get("/healthz", None).await;
    let hsts = health.headers["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
    let page = app.get("/verify-email?token=abc", None).await;
    assert!(page.headers.contains_key("strict-transport-security"));
}
