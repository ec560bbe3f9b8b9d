//! Races for one unique value: the aggregates keyed by the value decide, so exactly one
//! account ends up holding it, nobody gets a 5xx, and every loser gives back what it claimed.

use crate::helpers::{
    random_resident_id, relaxed_limits, spawn_app_with, Backend, Person, TestApp,
};
use crate::on_both_backends;
use futures::future::join_all;
use reqwest::StatusCode;
use xuexin_domain::identity::Identity;
use xuexin_domain::ids::{identity_id, login_name_id, LoginNameKind};
use xuexin_domain::login_name::LoginName;
use xuexin_domain::values::{document_number_digest, DocumentType};
use xuexin_projections::login_index::{id_number_key, lookup};

on_both_backends!(
    fifty_parallel_registrations_with_one_phone_leave_exactly_one_holder,
    fifty_parallel_registrations_with_one_id_number_leave_exactly_one_holder,
);

const RACERS: usize = 50;

async fn phone_holder(app: &TestApp, phone: &str) -> Option<String> {
    let e164 = format!("+86{phone}");
    let id = login_name_id(LoginNameKind::Phone, &e164).to_string();
    let loaded = app.state.store.load::<LoginName>(&id).await.unwrap();
    loaded.aggregate.holder().map(|h| h.to_string())
}

async fn identity_holder(app: &TestApp, number: &str) -> Option<String> {
    let digest = document_number_digest(&app.state.digest, number);
    let id = identity_id(DocumentType::ResidentIdCard, &digest).to_string();
    let loaded = app.state.store.load::<Identity>(&id).await.unwrap();
    loaded.aggregate.holder().map(|h| h.to_string())
}

async fn settle(app: &TestApp, winner: &Person) {
    // The winner can log in and read their account at once...
    let (token, position) = app.login_ok(&winner.phone, &winner.password).await;
    let me = app
        .get(&format!("/api/v1/me?position={position}"), Some(&token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    // ...and the other projections (login index, saga list) catch up too.
    app.settle().await;
}

async fn unfinished_sagas(app: &TestApp) -> i64 {
    let (n,): (i64,) = xuexin_projections::on_db!(&app.db, pool => {
        sqlx::query_as("SELECT COUNT(*) FROM registration_sagas_v1").fetch_one(pool).await.unwrap()
    });
    n
}

async fn fifty_parallel_registrations_with_one_phone_leave_exactly_one_holder(backend: Backend) {
    let app = spawn_app_with(backend, relaxed_limits).await;
    let phone = crate::helpers::random_phone();
    let codes = app.many_codes(&phone, RACERS).await;
    let people: Vec<Person> = (0..RACERS)
        .map(|_| Person {
            phone: phone.clone(),
            ..Person::random()
        })
        .collect();
    let forms: Vec<_> = people
        .iter()
        .zip(&codes)
        .map(|(p, code)| p.form(code))
        .collect();
    let responses = join_all(
        forms
            .iter()
            .map(|form| app.post("/api/v1/registrations", form)),
    )
    .await;

    let created: Vec<usize> = (0..RACERS)
        .filter(|i| responses[*i].status == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "winners: {created:?}");
    for response in &responses {
        assert!(!response.status.is_server_error(), "{}", response.text);
        if response.status != StatusCode::CREATED {
            assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
            assert_eq!(response.code(), "phone_taken");
        }
    }
    let winner = &people[created[0]];
    let winner_id = responses[created[0]].body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    settle(&app, winner).await;

    assert_eq!(phone_holder(&app, &phone).await, Some(winner_id.clone()));
    for (i, loser) in people.iter().enumerate().filter(|(i, _)| *i != created[0]) {
        assert_eq!(
            identity_holder(&app, &loser.document_number).await,
            None,
            "loser {i} kept its identity"
        );
        let digest = document_number_digest(&app.state.digest, &loser.document_number);
        assert!(lookup(&app.db, &id_number_key(&digest))
            .await
            .unwrap()
            .is_none());
        assert!(lookup(&app.db, &format!("email:{}", loser.email))
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(unfinished_sagas(&app).await, 0);
}

async fn fifty_parallel_registrations_with_one_id_number_leave_exactly_one_holder(
    backend: Backend,
) {
    let app = spawn_app_with(backend, relaxed_limits).await;
    let number = random_resident_id();
    let mut people = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..RACERS {
        let person = Person {
            document_number: number.clone(),
            ..Person::random()
        };
        codes.push(app.registration_code(&person.phone).await);
        people.push(person);
    }
    let forms: Vec<_> = people
        .iter()
        .zip(&codes)
        .map(|(p, code)| p.form(code))
        .collect();
    let responses = join_all(
        forms
            .iter()
            .map(|form| app.post("/api/v1/registrations", form)),
    )
    .await;
    let created: Vec<usize> = (0..RACERS)
        .filter(|i| responses[*i].status == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "winners: {created:?}");
    for response in &responses {
        assert!(!response.status.is_server_error(), "{}", response.text);
        if response.status != StatusCode::CREATED {
            assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text);
            assert_eq!(response.code(), "id_number_taken");
        }
    }
    let winner = &people[created[0]];
    let winner_id = responses[created[0]].body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    settle(&app, winner).await;

    assert_eq!(identity_holder(&app, &number).await, Some(winner_id));
    for (i, loser) in people.iter().enumerate().filter(|(i, _)| *i != created[0]) {
        assert_eq!(
            phone_holder(&app, &loser.phone).await,
            None,
            "loser {i} kept its phone"
        );
        assert!(lookup(&app.db, &format!("phone:+86{}", loser.phone))
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(unfinished_sagas(&app).await, 0);
}
