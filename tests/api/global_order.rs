//! PostgreSQL: an event whose transaction commits after a later-numbered event's is read in its
//! turn, not skipped (DESIGN: global order).

use crate::helpers::{spawn_app, Backend};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;
use xuexin::store::Db;
use xuexin_projections::login_index::lookup;

async fn insert_claim(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, phone: &str) -> i64 {
    let account = Uuid::new_v4();
    let payload =
        json!({"LoginNameClaimed": {"account_id": account, "kind": "phone", "value": phone}});
    let metadata =
        json!({"actor": "system:test", "time": "2026-11-22T08:00:00.000Z", "request_id": "t"});
    let (position,): (i64,) = sqlx::query_as(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('LoginName', $1, 1, 'LoginNameClaimed', '1.0', $2, $3) RETURNING position",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(sqlx::types::Json(&payload))
    .bind(sqlx::types::Json(&metadata))
    .fetch_one(&mut **tx)
    .await
    .unwrap();
    position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_position_committed_after_a_higher_one_is_not_skipped() {
    let app = spawn_app(Backend::Postgres).await;
    let Db::Postgres(pool) = &app.db else {
        unreachable!()
    };
    let (early, late) = ("+8613000000001", "+8613000000002");

    let mut first = pool.begin().await.unwrap();
    let low = insert_claim(&mut first, early).await;
    let mut second = pool.begin().await.unwrap();
    let high = insert_claim(&mut second, late).await;
    assert!(low < high);
    second.commit().await.unwrap();
    app.state.store.commits().notify_waiters();

    // While the lower-numbered transaction is open, the projector must not move past it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(lookup(&app.db, &format!("phone:{late}"))
        .await
        .unwrap()
        .is_none());

    first.commit().await.unwrap();
    app.state.store.commits().notify_waiters();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = lookup(&app.db, &format!("phone:{early}")).await.unwrap();
        let b = lookup(&app.db, &format!("phone:{late}")).await.unwrap();
        if a.is_some() && b.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an event was skipped: early={a:?} late={b:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
