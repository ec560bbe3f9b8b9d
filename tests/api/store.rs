//! The event store's batch load (the deferred worker's): the same aggregates as one load each,
//! from snapshots and the events after them, and a hash chain that still verifies after
//! commands ran on them.

use crate::helpers::{spawn_app_with, Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;
use xuexin_domain::account::Account;

on_both_backends!(a_batch_load_gives_what_each_load_gives);

async fn a_batch_load_gives_what_each_load_gives(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        // A snapshot every other event, so loads start from one and read events after it.
        config.snapshot_every = 2;
        config.limits.email_resend_per_account.max = 100;
    })
    .await;
    let people = [Person::random(), Person::random()];
    let mut accounts = Vec::new();
    for person in &people {
        accounts.push(app.register_ok(person).await);
    }
    // Resends run in the deferred worker, which loads its batch's accounts together.
    for _ in 0..3 {
        for person in &people {
            let resend = app
                .post(
                    "/api/v1/email-verifications",
                    &json!({"email": person.email}),
                )
                .await;
            assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
        }
        app.settle_queued().await;
    }
    let snapshots: i64 = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM aggregate_snapshots WHERE aggregate_type = 'Account'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert!(snapshots >= 2, "each account has a snapshot ({snapshots})");
    for account in &accounts {
        let requested = app
            .event_types(account)
            .await
            .iter()
            .filter(|t| *t == "EmailVerificationRequested")
            .count();
        assert_eq!(requested, 4, "registration's mail and three resends");
    }

    let mut ids = accounts.clone();
    ids.push("00000000-0000-0000-0000-000000000000".into());
    let store = &app.state.store;
    let batch = store.load_each::<Account>(&ids).await.unwrap();
    assert_eq!(batch.len(), 2, "an aggregate with no events is absent");
    for account in &accounts {
        let alone = store.load::<Account>(account).await.unwrap();
        let together = &batch[account];
        assert_eq!(together.sequence, alone.sequence);
        assert_eq!(
            serde_json::to_value(&together.aggregate).unwrap(),
            serde_json::to_value(&alone.aggregate).unwrap()
        );
    }
    // The worker's appends continued each chain from the hash its batch load read.
    let report = xuexin::audit::verify(&app.db, |_| {}).await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.events > 0);
}
