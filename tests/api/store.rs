//! The event store's batch load (the deferred worker's): the same aggregates as one load each,
//! from snapshots and the events after them, and a hash chain that still verifies after
//! commands ran on them. And the login index's one-query lookup, which answers without
//! waiting only when the index has applied everything it reads.

use crate::helpers::{spawn_app_with, Backend, Person};
use crate::on_both_backends;
use xuexin_domain::account::Account;
use xuexin_domain::ids::{login_name_key, LoginNameKind};
use xuexin_projections::login_index::{self, lookup_current};

on_both_backends!(
    a_batch_load_gives_what_each_load_gives,
    a_lookup_is_current_only_when_the_index_passed_what_it_reads
);

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
            app.resend_ok(&person.email).await;
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

async fn a_lookup_is_current_only_when_the_index_passed_what_it_reads(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let person = Person::random();
    let account = app.register_ok(&person).await;
    app.settle().await;
    let key = login_name_key(LoginNameKind::Email, &person.email);

    // Settled: current, and the answer is the registered account.
    let (entry, current) = lookup_current(&app.db, &key).await.unwrap();
    assert!(current);
    assert_eq!(entry.unwrap().account_id, account);

    // An account event the index does not read, past its checkpoint: still current.
    app.resend_ok(&person.email).await;
    app.settle_queued().await;
    let (_, current) = lookup_current(&app.db, &key).await.unwrap();
    assert!(
        current,
        "an Account event is none of the login index's business"
    );

    // The stored checkpoint set back before the registration's claims: the index has not
    // (as far as this snapshot shows) applied LoginName events that exist, so not current.
    let saved = app.stored_checkpoint(login_index::NAME).await;
    app.store_checkpoint(login_index::NAME, (0, 0)).await;
    let (_, current) = lookup_current(&app.db, &key).await.unwrap();
    assert!(!current, "LoginName events past the checkpoint");
    app.store_checkpoint(login_index::NAME, saved).await;
    let (_, current) = lookup_current(&app.db, &key).await.unwrap();
    assert!(current);
}
