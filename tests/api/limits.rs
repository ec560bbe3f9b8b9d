//! Issue 13, item 2: every limit decides atomically. Fifty requests at once at each limit in
//! the service; no more than the limit get through, on both backends.

use crate::helpers::{spawn_app_with, Backend, Person, TestApp, TestResponse};
use crate::on_both_backends;
use crate::recovery::{recovery_app, register_with_questions};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

const BURST: usize = 50;

on_both_backends!(
    wrong_current_passwords_in_a_burst,
    find_username_failures_in_a_burst,
    recovery_starts_in_a_burst,
    email_identity_mismatches_and_reset_links_in_a_burst,
    security_answers_in_a_burst,
    sms_code_guesses_in_a_burst,
    sms_sends_in_a_burst,
    activation_resends_in_a_burst,
    registrations_and_captchas_per_client_in_a_burst,
);

/// How many answers have `status`; every other answer must be a 429 with `code`.
fn through(answers: &[TestResponse], status: StatusCode, code: &str) -> usize {
    let mut passed = 0;
    for answer in answers {
        if answer.status == status {
            passed += 1;
        } else {
            assert_eq!(
                answer.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                answer.text
            );
            assert_eq!(answer.code(), code, "{}", answer.text);
            assert!(answer.headers.contains_key("retry-after"));
        }
    }
    passed
}

/// Posts every body at once from the client `ip`.
async fn burst_from(app: &TestApp, ip: &str, path: &str, bodies: &[Value]) -> Vec<TestResponse> {
    join_all(bodies.iter().map(|body| app.post_from(ip, path, body))).await
}

async fn captchas(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(app.captcha().await);
    }
    all
}

async fn wrong_current_passwords_in_a_burst(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let body = json!({"current_password": "Wrong-Pass-9", "password": "New-Pass-2024!",
                      "password_confirmation": "New-Pass-2024!"});
    let answers =
        join_all((0..BURST).map(|_| app.post_authorized("/api/v1/me/password", &token, &body)))
            .await;
    // Five wrong guesses are tried (403); the rest are refused before any hashing.
    let tried = through(
        &answers,
        StatusCode::FORBIDDEN,
        "current_password_rate_limited",
    );
    assert_eq!(tried, 5);
    // Even the right one waits for the window now: the burst bought nothing.
    let right = json!({"current_password": person.password, "password": "New-Pass-2024!",
                       "password_confirmation": "New-Pass-2024!"});
    let after = app
        .post_authorized("/api/v1/me/password", &token, &right)
        .await;
    assert_eq!(
        after.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        after.text
    );
}

async fn find_username_failures_in_a_burst(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    let solved = captchas(&app, BURST).await;
    let bodies: Vec<Value> = solved
        .iter()
        .map(|(id, answer)| {
            json!({"name": person.name, "document_number": person.document_number,
                   "captcha_id": id, "captcha_answer": answer})
        })
        .collect();
    let answers = burst_from(&app, "10.20.0.1", "/api/v1/username-recoveries", &bodies).await;
    assert_eq!(
        through(&answers, StatusCode::OK, "find_username_rate_limited"),
        5
    );
}

async fn recovery_starts_in_a_burst(backend: Backend) {
    let app = recovery_app(backend).await;
    let solved = captchas(&app, BURST).await;
    let bodies: Vec<Value> = solved
        .iter()
        .map(|(id, answer)| {
            json!({"username": crate::helpers::random_phone(),
                   "captcha_id": id, "captcha_answer": answer})
        })
        .collect();
    let answers = burst_from(&app, "10.21.0.1", "/api/v1/password-recoveries", &bodies).await;
    assert_eq!(
        through(&answers, StatusCode::CREATED, "recovery_rate_limited"),
        20
    );
}

async fn email_identity_mismatches_and_reset_links_in_a_burst(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    app.verify_email(&person.email).await;
    let ticket = app.recovery_ticket(&person.phone).await;
    let mismatch =
        json!({"ticket": ticket, "name": "李四", "document_number": person.document_number});
    let answers = join_all(
        (0..BURST).map(|_| app.post("/api/v1/password-recoveries/email-links", &mismatch)),
    )
    .await;
    assert_eq!(
        through(
            &answers,
            StatusCode::UNPROCESSABLE_ENTITY,
            "recovery_rate_limited"
        ),
        5
    );

    // Another account: three links an hour, also in a burst of right answers.
    let other = Person::random();
    app.register_ok(&other).await;
    app.verify_email(&other.email).await;
    let ticket = app.recovery_ticket(&other.phone).await;
    let right =
        json!({"ticket": ticket, "name": other.name, "document_number": other.document_number});
    let answers =
        join_all((0..BURST).map(|_| app.post("/api/v1/password-recoveries/email-links", &right)))
            .await;
    assert_eq!(
        through(&answers, StatusCode::ACCEPTED, "recovery_rate_limited"),
        3
    );
}

async fn security_answers_in_a_burst(backend: Backend) {
    let app = recovery_app(backend).await;
    let person = Person::random();
    register_with_questions(&app, &person).await;
    let ticket = app.recovery_ticket(&person.phone).await;
    let wrong = json!({"ticket": ticket, "answers": ["a", "b", "c"]});
    let answers =
        join_all((0..BURST).map(|_| app.post("/api/v1/password-recoveries/answers", &wrong))).await;
    let mut tried = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(answer.code(), "security_answers_wrong");
                tried += 1;
            }
            StatusCode::LOCKED => assert_eq!(answer.code(), "security_questions_closed"),
            // Lost the race for the account's version too often: refused, nothing counted.
            StatusCode::SERVICE_UNAVAILABLE => assert_eq!(answer.code(), "overloaded"),
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert!(tried <= 3, "{tried} wrong answers were tried");
    let failed = app.events_of_type("SecurityAnswersFailed").await;
    assert!(failed.len() <= 3, "{} failures recorded", failed.len());
}

async fn sms_code_guesses_in_a_burst(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let person = Person::random();
    let code = app.registration_code(&person.phone).await;
    // Forty-nine wrong guesses and the right one, all at once.
    let mut forms: Vec<Value> = (0..BURST - 1)
        .map(|i| {
            let guess = format!(
                "{:06}",
                (code.parse::<u32>().unwrap() + 1 + i as u32) % 1_000_000
            );
            person.form(&guess)
        })
        .collect();
    forms.push(person.form(&code));
    let answers = join_all(forms.iter().map(|f| app.post("/api/v1/registrations", f))).await;
    // A guess that was compared answers with attempts left, or registers; one that was not
    // is refused with none left.
    let compared = answers
        .iter()
        .filter(|a| {
            a.status == StatusCode::CREATED
                || a.body["attempts_left"]
                    .as_i64()
                    .is_some_and(|left| left > 0)
        })
        .count();
    assert!(compared <= 5, "{compared} guesses were compared");
    for answer in &answers {
        assert!(
            answer.status == StatusCode::CREATED
                || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.text
        );
    }
}

async fn sms_sends_in_a_burst(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let phone = crate::helpers::random_phone();
    let body = json!({"phone": phone, "purpose": "register"});
    let answers = join_all((0..BURST).map(|_| app.post("/api/v1/sms-codes", &body))).await;
    assert_eq!(
        through(&answers, StatusCode::ACCEPTED, "sms_rate_limited"),
        1
    );
    assert_eq!(app.outbox(&format!("+86{phone}")).await.len(), 1);

    // Per client: thirty an hour, to fifty different phones at once.
    let phones: Vec<String> = (0..BURST).map(|_| crate::helpers::random_phone()).collect();
    let bodies: Vec<Value> = phones
        .iter()
        .map(|phone| json!({"phone": phone, "purpose": "register"}))
        .collect();
    let answers = burst_from(&app, "10.22.0.1", "/api/v1/sms-codes", &bodies).await;
    assert_eq!(
        through(&answers, StatusCode::ACCEPTED, "sms_rate_limited"),
        30
    );
}

async fn activation_resends_in_a_burst(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let person = Person::random();
    app.register_ok(&person).await;
    app.verification_token(&person.email).await;
    for (n, address) in [
        person.email.clone(),
        "nobody-at-all@example.com".to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        // From many clients, so that only the limit per address is in play.
        let body = json!({"email": address});
        let clients: Vec<String> = (0..BURST).map(|i| format!("10.25.{n}.{i}")).collect();
        let answers = join_all(
            clients
                .iter()
                .map(|ip| app.post_from(ip, "/api/v1/email-verifications", &body)),
        )
        .await;
        // One a minute per address, registered or not: the answers do not tell them apart.
        assert_eq!(
            through(&answers, StatusCode::ACCEPTED, "email_rate_limited"),
            1,
            "{address}"
        );
    }
    // Per client: twenty an hour, to fifty addresses at once.
    let bodies: Vec<Value> = (0..BURST)
        .map(|i| json!({"email": format!("burst-{i}@example.com")}))
        .collect();
    let answers = burst_from(&app, "10.23.0.1", "/api/v1/email-verifications", &bodies).await;
    assert_eq!(
        through(&answers, StatusCode::ACCEPTED, "email_rate_limited"),
        20
    );
}

async fn registrations_and_captchas_per_client_in_a_burst(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.limits.registrations_per_ip.max = 5;
        config.limits.captchas_per_ip.max = 5;
    })
    .await;
    let bodies: Vec<Value> = (0..BURST)
        .map(|_| Person::random().form("000000"))
        .collect();
    let answers = burst_from(&app, "10.24.0.1", "/api/v1/registrations", &bodies).await;
    // Five are looked at (and refused for their made-up codes); the rest never are.
    assert_eq!(
        through(
            &answers,
            StatusCode::UNPROCESSABLE_ENTITY,
            "registration_rate_limited"
        ),
        5
    );
    let bodies = vec![json!({}); BURST];
    let answers = burst_from(&app, "10.24.0.2", "/api/v1/captchas", &bodies).await;
    assert_eq!(
        through(&answers, StatusCode::CREATED, "captcha_rate_limited"),
        5
    );
}
