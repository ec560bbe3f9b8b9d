//! The log tail one node's projectors share (issue 18): a projector served from it gets exactly
//! what its own read of the database would have returned, wherever it stands, and projectors
//! woken by the same commit read the database once between them.

use crate::helpers::{Backend, Person};
use crate::on_both_backends;
use futures::future::join_all;
use xuexin::projector::BATCH;
use xuexin::store::log::{self, Selection};
use xuexin::store::tail::LogTail;
use xuexin_projections::Checkpoint;

on_both_backends!(
    a_projector_served_by_the_tail_reads_what_its_own_read_would,
    projectors_woken_by_one_commit_read_the_log_once
);

fn selections() -> Vec<Selection> {
    xuexin_projections::all()
        .iter()
        .map(|p| Selection::of(std::slice::from_ref(p)))
        .collect()
}

async fn a_projector_served_by_the_tail_reads_what_its_own_read_would(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let people = [Person::random(), Person::random(), Person::random()];
    for person in &people {
        app.register_ok(person).await;
    }
    app.login_ok(&people[0].phone, &people[0].password).await;
    app.login(&people[1].phone, "Wrong-Pass-1!").await;
    app.settle().await;

    let log = log::read_after(&app.db, Checkpoint::START, 10_000)
        .await
        .unwrap();
    assert!(log.len() > 12, "too few events to test with: {}", log.len());
    let mut places: Vec<Checkpoint> = std::iter::once(Checkpoint::START)
        .chain(log.iter().map(|e| e.checkpoint()))
        .collect();
    // Forward from the middle (the tail starts there and moves on, dropping its oldest
    // events), then backward (behind what it holds), then forward again from the start.
    let middle = places.len() / 2;
    places.rotate_left(middle);
    let backward: Vec<Checkpoint> = places.iter().rev().copied().collect();
    let mut order = places.clone();
    order.extend(backward);
    order.extend(places);

    // Holding five events, with batches of three and of a full batch.
    let tail = LogTail::keeping(app.db.clone(), app.state.store.committed_head(), 5);
    let selections = selections();
    for limit in [3, BATCH] {
        for &from in &order {
            for selection in &selections {
                let served = tail.read(from, limit, None, selection).await.unwrap();
                let own = log::read_selected(&app.db, from, limit, selection)
                    .await
                    .unwrap();
                assert_eq!(served, own, "from {from:?}, limit {limit}");
            }
        }
    }
    let (shared, behind) = tail.reads();
    assert!(shared > 0 && behind > 0, "shared {shared}, behind {behind}");
}

async fn projectors_woken_by_one_commit_read_the_log_once(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.register_ok(&Person::random()).await;
    app.settle().await;
    let head = log::read_after(&app.db, Checkpoint::START, 10_000)
        .await
        .unwrap()
        .last()
        .map(|e| e.checkpoint())
        .unwrap();

    // A tail caught up with the log.
    let tail = LogTail::new(app.db.clone(), app.state.store.committed_head());
    let selections = selections();
    let nothing = tail.read(head, BATCH, None, &selections[0]).await.unwrap();
    assert!(nothing.is_empty());
    assert_eq!(tail.reads(), (1, 0));

    // A commit wakes every projector: one read serves them all, each decoded as it asks.
    app.register_ok(&Person::random()).await;
    // Applied here, so visible to any read (on PostgreSQL an open transaction elsewhere can
    // keep a commit out of reads for a moment).
    app.settle().await;
    let seen = Some(tail.committed_head());
    let served = join_all(
        selections
            .iter()
            .map(|selection| tail.read(head, BATCH, seen, selection)),
    )
    .await;
    assert_eq!(
        tail.reads(),
        (2, 0),
        "one read for {} projectors",
        selections.len()
    );
    for (served, selection) in served.into_iter().zip(&selections) {
        let served = served.unwrap();
        assert!(!served.is_empty());
        let own = log::read_selected(&app.db, head, BATCH, selection)
            .await
            .unwrap();
        assert_eq!(served, own);
    }

    // Woken by a later commit, a caller reads again and finds it.
    app.register_ok(&Person::random()).await;
    app.settle().await;
    let later = tail
        .read(head, BATCH, Some(tail.committed_head()), &selections[0])
        .await
        .unwrap();
    assert_eq!(tail.reads(), (3, 0));
    let own = log::read_selected(&app.db, head, BATCH, &selections[0])
        .await
        .unwrap();
    assert_eq!(later, own);

    // Woken by the clock, a caller reads again: another node may have written.
    tail.read(head, BATCH, None, &selections[0]).await.unwrap();
    assert_eq!(tail.reads(), (4, 0));

    // A read that filled its batch did not reach the end of the log: a caller woken before it
    // but wanting more reads on, and gets everything its own read would.
    let fresh_tail = LogTail::new(app.db.clone(), app.state.store.committed_head());
    let seen = Some(fresh_tail.committed_head());
    let one = fresh_tail
        .read(Checkpoint::START, 1, seen, &selections[0])
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let more = fresh_tail
        .read(Checkpoint::START, BATCH, seen, &selections[0])
        .await
        .unwrap();
    let own = log::read_selected(&app.db, Checkpoint::START, BATCH, &selections[0])
        .await
        .unwrap();
    assert!(own.len() > 1);
    assert_eq!(more, own);
}

/// A projection that names the event types it reads is passed over for batches of other
/// types: a misspelt name would hide events from it. Every name must be one its aggregate has.
#[test]
fn every_event_type_a_projection_names_is_one_of_its_aggregate() {
    let mut projections = xuexin_projections::all();
    projections.push(std::sync::Arc::new(xuexin::messenger::Messenger {
        clock: std::sync::Arc::new(xuexin::clock::SystemClock),
        quiet_until: Checkpoint::START,
    }));
    let mut named = 0;
    for projection in &projections {
        for aggregate in projection.aggregate_types().unwrap_or_default() {
            let known = xuexin_domain::schema::event_types(aggregate);
            assert!(!known.is_empty(), "no events known for {aggregate}");
            for event_type in projection.event_types_of(aggregate).unwrap_or_default() {
                named += 1;
                assert!(
                    known.iter().any(|k| k == event_type),
                    "{} names {aggregate}.{event_type}, which does not exist",
                    projection.name()
                );
            }
        }
    }
    assert!(named > 0);
}
