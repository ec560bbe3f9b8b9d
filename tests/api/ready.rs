//! `/readyz` (issue 19, item 2): ready when the database answers, its schema is current and the
//! projections are near the log's head; `/healthz` stays the liveness check.

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::StatusCode;

async fn ready_once_the_projections_have_caught_up_and_not_with_a_stale_schema(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let head = app.event_count().await;
    // The projections catch up with the registration's events.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let ready = loop {
        let ready = app.get("/readyz", None).await;
        let caught_up = ready.body["projection_lag"]
            .as_object()
            .is_some_and(|lags| lags.values().all(|lag| lag == 0));
        if caught_up || std::time::Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    assert!(ready.body["log_head"].as_i64().unwrap() >= head);
    let lags = ready.body["projection_lag"].as_object().unwrap();
    for name in ["login_index_v1", "account_view_v1", "student_records_v1"] {
        assert_eq!(lags[name], 0, "{name}: {}", ready.text);
    }

    // A schema behind this build: not ready, and the answer says why; alive all the same.
    xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(pool)
            .await
            .unwrap();
    });
    let stale = app.get("/readyz", None).await;
    assert_eq!(
        stale.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        stale.text
    );
    assert_eq!(stale.body["status"], "not_ready");
    assert_eq!(stale.body["reasons"], serde_json::json!(["schema"]));
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

async fn a_projection_behind_the_head_is_not_ready(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.ready_max_lag = 0).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get("/readyz", None).await.status != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A projection set back to the log's start (as a rebuild begins): with nothing new to
    // fold, its projector writes no checkpoint, so it stays behind by the whole log.
    xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query("UPDATE projection_checkpoints SET position = 0 WHERE projection = 'support_tickets_v1'")
            .execute(pool)
            .await
            .unwrap();
    });
    let behind = app.get("/readyz", None).await;
    assert_eq!(
        behind.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        behind.text
    );
    assert_eq!(
        behind.body["reasons"],
        serde_json::json!(["projection_lag:support_tickets_v1"])
    );
    assert_eq!(
        behind.body["projection_lag"]["support_tickets_v1"].as_i64(),
        Some(app.event_count().await)
    );
}

on_both_backends!(
    ready_once_the_projections_have_caught_up_and_not_with_a_stale_schema,
    a_projection_behind_the_head_is_not_ready,
);
