//! SMS delivery through the HTTP gateway, against a provider stand-in that the test runs as a
//! real HTTP server.

use crate::helpers::{random_phone, spawn_app, spawn_app_with, Backend, Person};
use crate::on_both_backends;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as ProviderStatus};
use axum::Json;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use xuexin::config::SmsGatewayConfig;

on_both_backends!(
    codes_go_to_the_sms_provider_over_http,
    a_failing_provider_is_a_503_and_no_code_is_kept,
    the_outbox_route_exists_only_in_dev_mode,
);

type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A provider that records what it is sent and answers with `status`.
async fn start_provider(status: ProviderStatus) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/send",
            axum::routing::post(
                move |State(received): State<Received>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    received.lock().unwrap().push((auth, body));
                    status
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn codes_go_to_the_sms_provider_over_http(backend: Backend) {
    let (url, received) = start_provider(ProviderStatus::OK).await;
    let app = spawn_app_with(backend, move |config| {
        config.sms = SmsGatewayConfig::Http {
            url,
            token: Some("provider-token".into()),
        };
    })
    .await;
    let person = Person::random();
    let sent = app
        .post(
            "/api/v1/sms-codes",
            &json!({"phone": person.phone, "purpose": "register"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let (auth, body) = received.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer provider-token"));
    assert_eq!(body["to"], format!("+86{}", person.phone));
    let text = body["text"].as_str().unwrap();
    let start = text.find("校验码是").unwrap() + "校验码是".len();
    let code = &text[start..start + 6];
    assert!(
        app.outbox(&person.phone).await.is_empty(),
        "captured instead of sent"
    );

    let registered = app.post("/api/v1/registrations", &person.form(code)).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
}

async fn a_failing_provider_is_a_503_and_no_code_is_kept(backend: Backend) {
    let (url, received) = start_provider(ProviderStatus::INTERNAL_SERVER_ERROR).await;
    let app = spawn_app_with(backend, move |config| {
        config.sms = SmsGatewayConfig::Http { url, token: None };
    })
    .await;
    let phone = random_phone();
    let failed = app
        .post(
            "/api/v1/sms-codes",
            &json!({"phone": phone, "purpose": "register"}),
        )
        .await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.text
    );
    assert_eq!(failed.code(), "sms_gateway_unavailable");
    assert_eq!(received.lock().unwrap().len(), 1);
    let (kept,): (i64,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT COUNT(*) FROM sms_codes").fetch_one(pool).await.unwrap()
    });
    assert_eq!(kept, 0, "an undelivered code must not be usable");
}

async fn the_outbox_route_exists_only_in_dev_mode(backend: Backend) {
    let dev = spawn_app(backend).await;
    assert_eq!(
        dev.get("/api/v1/dev/outbox", None).await.status,
        StatusCode::OK
    );
    let production = spawn_app_with(backend, |config| config.dev_mode = false).await;
    let hidden = production.get("/api/v1/dev/outbox", None).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let document = production.get("/api/v1/openapi.json", None).await;
    assert!(document.body["paths"].get("/api/v1/dev/outbox").is_none());
}
