//! Feeds events through the read models on a real (in-memory) SQLite database and checks the
//! rows that come out.

use serde_json::json;
use sqlx::sqlite::SqlitePoolOptions;
use uuid::Uuid;
use xuexin_domain::account::{
    AccountEvent, AccountStatus, RegistrationChannel, RegistrationDetails,
};
use xuexin_domain::identity::IdentityEvent;
use xuexin_domain::ids::{AccountId, LoginNameKind};
use xuexin_domain::login_name::LoginNameEvent;
use xuexin_domain::values::{DocumentSummary, DocumentType};
use xuexin_projections::login_index::{id_number_key, lookup};
use xuexin_projections::{account_view, all, Db, StoredEvent};

async fn db() -> Db {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::migrate!("../migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    Db::Sqlite(pool)
}

fn stored<E: serde::Serialize + cqrs_es::DomainEvent>(
    position: i64,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    event: E,
) -> StoredEvent {
    StoredEvent {
        position,
        transaction_id: 0,
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(&event).unwrap(),
        metadata: json!({"time": "2026-11-22T08:00:00.000Z"}),
    }
}

async fn feed(db: &Db, events: &[StoredEvent]) {
    for projection in all() {
        let mut tx = db.begin().await.unwrap();
        for event in events {
            projection.apply(&mut tx, event).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_registration_fills_the_login_index_and_the_masked_account_view() {
    let db = db().await;
    let account = AccountId(Uuid::new_v4());
    let id = account.to_string();
    let document = DocumentSummary {
        kind: DocumentType::ResidentIdCard,
        number_digest: "abc123".into(),
        masked: "51**************1X".into(),
    };
    let details = RegistrationDetails {
        name: "黄思".into(),
        phone: Some("+8613612341011".into()),
        document: document.clone(),
        email: Some("huangsi@example.com".into()),
        password_hash: "$argon2id$...".into(),
        security_questions: vec![],
        channel: RegistrationChannel::SelfService,
        terms_accepted: true,
        identity_claim: Default::default(),
        phone_claim: Default::default(),
    };
    feed(
        &db,
        &[
            stored(
                1,
                "Account",
                &id,
                1,
                AccountEvent::RegistrationStarted(details),
            ),
            stored(
                2,
                "LoginName",
                "p",
                1,
                LoginNameEvent::LoginNameClaimed {
                    account_id: account,
                    kind: LoginNameKind::Phone,
                    value: "+8613612341011".into(),
                },
            ),
            stored(
                3,
                "Identity",
                "i",
                1,
                IdentityEvent::IdentityBound {
                    account_id: account,
                    document: document.clone(),
                    protected_by: None,
                },
            ),
            stored(
                4,
                "Account",
                &id,
                2,
                AccountEvent::Registered {
                    status: AccountStatus::Active,
                },
            ),
            stored(
                5,
                "Account",
                &id,
                3,
                AccountEvent::EmailVerified {
                    email: "huangsi@example.com".into(),
                },
            ),
        ],
    )
    .await;

    let by_phone = lookup(&db, "phone:+8613612341011").await.unwrap().unwrap();
    assert_eq!(by_phone.account_id, id);
    assert_eq!(by_phone.status.as_deref(), Some("Active"));
    let by_id = lookup(&db, &id_number_key("abc123"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.account_id, id);
    assert!(by_id.email_verified);

    let view = account_view::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(view.phone_masked.as_deref(), Some("136****1011"));
    assert_eq!(view.document_masked, "51**************1X");
    assert_eq!(view.status, "Active");
    assert_eq!(view.version, 3);

    // The identity given back (compensation) leaves the index.
    feed(
        &db,
        &[stored(
            6,
            "Identity",
            "i",
            2,
            IdentityEvent::IdentityReleased {
                account_id: account,
                document,
            },
        )],
    )
    .await;
    assert!(lookup(&db, &id_number_key("abc123"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_release_by_a_former_holder_does_not_remove_the_new_holder() {
    let db = db().await;
    let (old, new) = (AccountId(Uuid::new_v4()), AccountId(Uuid::new_v4()));
    let claim = |account_id| LoginNameEvent::LoginNameClaimed {
        account_id,
        kind: LoginNameKind::Email,
        value: "a@b.cn".into(),
    };
    feed(
        &db,
        &[
            stored(1, "LoginName", "e", 1, claim(old)),
            stored(
                2,
                "LoginName",
                "e",
                2,
                LoginNameEvent::LoginNameReleased {
                    account_id: old,
                    kind: LoginNameKind::Email,
                    value: "a@b.cn".into(),
                    reason: "registration_abandoned".into(),
                },
            ),
            stored(3, "LoginName", "e", 3, claim(new)),
        ],
    )
    .await;
    let entry = lookup(&db, "email:a@b.cn").await.unwrap().unwrap();
    assert_eq!(entry.account_id, new.to_string());
}
