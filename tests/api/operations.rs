//! Operations (issue 19): Prometheus metrics at `/metrics`, and the overload limits that answer
//! 503 with Retry-After instead of queueing without end.

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of one series (`name{labels}`) in a Prometheus text exposition, if present.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(key, _)| {
            let Some(rest) = key.strip_prefix(name) else {
                return false;
            };
            (rest.is_empty() || rest.starts_with('{'))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert!(response.headers[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text
}

async fn metrics_move_with_traffic_and_carry_no_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = scrape(&app).await;
    let wrong_before = series(
        &before,
        "xuexin_logins_total",
        &[("outcome", "invalid_credentials")],
    )
    .unwrap_or(0.0);

    let person = Person::random();
    app.register_ok(&person).await;
    let wrong = app.login(&person.phone, "not-the-password-1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    let right = app.login(&person.phone, &person.password).await;
    assert_eq!(right.status, StatusCode::CREATED, "{}", right.text);
    app.get("/no/such/page", None).await;

    let after = scrape(&app).await;
    // Requests by route template and status, with latency histograms.
    let logins = |text: &str, status: &str| {
        series(
            text,
            "xuexin_http_requests_total",
            &[
                ("route", "/api/v1/sessions"),
                ("method", "POST"),
                ("status", status),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        logins(&after, "401") - logins(&before, "401"),
        1.0,
        "{after}"
    );
    assert_eq!(
        logins(&after, "201") - logins(&before, "201"),
        1.0,
        "{after}"
    );
    assert!(
        series(
            &after,
            "xuexin_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        )
        .is_some_and(|n| n >= 1.0),
        "an unknown path is counted as unmatched, not by its path"
    );
    assert!(
        series(
            &after,
            "xuexin_http_request_duration_seconds_count",
            &[("route", "/api/v1/sessions")]
        )
        .is_some_and(|n| n >= 2.0),
        "{after}"
    );
    // Login outcomes, the hashing pool, the projections, the outbox, the pool.
    assert_eq!(
        series(
            &after,
            "xuexin_logins_total",
            &[("outcome", "invalid_credentials")]
        )
        .unwrap()
            - wrong_before,
        1.0
    );
    assert!(series(&after, "xuexin_logins_total", &[("outcome", "success")]).unwrap() >= 1.0);
    assert!(series(&after, "xuexin_hash_wait_seconds_count", &[]).is_some_and(|n| n >= 2.0));
    assert!(series(&after, "xuexin_hash_queue_depth", &[]).is_some());
    assert!(series(&after, "xuexin_log_head_position", &[]).unwrap() >= 1.0);
    for projection in ["login_index_v1", "account_view_v1"] {
        let lag = series(
            &after,
            "xuexin_projection_lag_events",
            &[("projection", projection)],
        );
        assert!(lag.is_some_and(|lag| lag >= 0.0), "{projection}: {after}");
    }
    for channel in ["email", "sms"] {
        for state in ["pending", "retrying"] {
            assert!(
                series(
                    &after,
                    "xuexin_outbox_messages",
                    &[("channel", channel), ("state", state)]
                )
                .is_some(),
                "{channel} {state}"
            );
        }
    }
    assert!(series(&after, "xuexin_db_connections", &[("state", "in_use")]).is_some());
    // No label holds what identifies a person.
    for secret in [
        &person.phone,
        &person.document_number,
        &person.name,
        &person.email,
        &person.password,
    ] {
        assert!(
            !after.contains(secret.as_str()),
            "{secret} appears in /metrics"
        );
    }
}
on_both_backends!(metrics_move_with_traffic_and_carry_no_personal_data);

/// A request whose body never comes (a slow or stuck client): it holds its place until the
/// request timeout.
async fn stuck_request(app: &TestApp) -> tokio::net::TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"login\":",
        )
        .await
        .unwrap();
    stream
}

async fn overload_is_refused_at_once_with_retry_after_and_the_probes_still_answer(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        config.max_concurrent_requests = 2;
        config.request_timeout = Some(Duration::from_secs(2));
    })
    .await;
    let mut stuck = vec![stuck_request(&app).await, stuck_request(&app).await];
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    let refused = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "overloaded");
    assert!(refused.headers.contains_key(reqwest::header::RETRY_AFTER));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, not queued"
    );
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
    let metrics = scrape(&app).await;
    assert!(
        series(&metrics, "xuexin_http_in_flight", &[]).is_some_and(|n| n >= 2.0),
        "{metrics}"
    );

    // The stuck requests are cut off at the timeout with 503 request_timeout and Retry-After.
    for stream in &mut stuck {
        let mut answer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("answered by the timeout")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]).to_lowercase();
        assert!(answer.starts_with("http/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after:"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }
    // And with the places free, requests are served again.
    let served = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(served.status, StatusCode::OK);
    let metrics = scrape(&app).await;
    assert!(series(
        &metrics,
        "xuexin_http_refused_total",
        &[("reason", "concurrency")]
    )
    .is_some_and(|n| n >= 1.0));
    assert!(series(
        &metrics,
        "xuexin_http_refused_total",
        &[("reason", "timeout")]
    )
    .is_some_and(|n| n >= 2.0));
}
on_both_backends!(overload_is_refused_at_once_with_retry_after_and_the_probes_still_answer);

/// Fifty requests at once against a limit of five (the checklist's parallel burst): exactly five
/// are served (here: held until the timeout cuts them off), forty-five are refused at once.
async fn fifty_parallel_requests_get_no_further_than_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.max_concurrent_requests = 5;
        config.request_timeout = Some(Duration::from_secs(3));
    })
    .await;
    let mut streams = Vec::new();
    for _ in 0..50 {
        streams.push(stuck_request(&app).await);
    }
    let answers = futures::future::join_all(streams.into_iter().map(|mut stream| async move {
        let mut answer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("every request is answered")
            .unwrap();
        String::from_utf8_lossy(&answer[..read]).to_lowercase()
    }))
    .await;
    let count = |code: &str| answers.iter().filter(|a| a.contains(code)).count();
    assert!(
        answers.iter().all(|a| a.starts_with("http/1.1 503")),
        "{answers:?}"
    );
    assert_eq!(count("\"overloaded\""), 45, "{answers:?}");
    assert_eq!(count("\"request_timeout\""), 5, "{answers:?}");
}
on_both_backends!(fifty_parallel_requests_get_no_further_than_the_limit);
