//! Feeds events through the read models on a real (in-memory) SQLite database and checks the
//! rows that come out.

use serde_json::json;
use sqlx::sqlite::SqlitePoolOptions;
use uuid::Uuid;
use xuexin_domain::account::{
    AccountEvent, AccountStatus, RegistrationChannel, RegistrationDetails, UnlockReason,
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

/// A mixed history over a few accounts that share login names: starts (one repeated), every
/// kind of account-view change, name-change requests and linked logins (which read the row),
/// claims, releases and take-overs of the same keys, and sagas that start and end.
fn mixed_history() -> Vec<StoredEvent> {
    use xuexin_domain::ids::LoginVia;
    use xuexin_domain::Timestamp;
    let accounts: Vec<AccountId> = (1..=4).map(|n| AccountId(Uuid::from_u128(n))).collect();
    let details = |n: usize| RegistrationDetails {
        name: format!("测试{n}"),
        phone: Some(format!("+86136123410{n:02}")),
        document: DocumentSummary {
            kind: DocumentType::ResidentIdCard,
            number_digest: format!("digest{n}"),
            masked: "51**************1X".into(),
        },
        email: Some(format!("u{n}@example.com")),
        password_hash: "$argon2id$...".into(),
        security_questions: vec![],
        channel: RegistrationChannel::SelfService,
        terms_accepted: true,
        identity_claim: Default::default(),
        phone_claim: Default::default(),
    };
    let mut h = History::new(accounts.clone());
    let shared_email = "shared@example.com".to_string();
    for (n, account) in accounts.iter().enumerate() {
        h.account(n, AccountEvent::RegistrationStarted(details(n)));
        h.login_name(
            &format!("phone{n}"),
            LoginNameEvent::LoginNameClaimed {
                account_id: *account,
                kind: LoginNameKind::Phone,
                value: format!("+86136123410{n:02}"),
            },
        );
    }
    // A repeated start changes nothing.
    let mut again = details(0);
    again.name = "别名".into();
    h.account(0, AccountEvent::RegistrationStarted(again));
    h.account(
        0,
        AccountEvent::Registered {
            status: AccountStatus::Active,
        },
    );
    h.account(
        1,
        AccountEvent::Registered {
            status: AccountStatus::PendingIdentityReview,
        },
    );
    h.account(
        2,
        AccountEvent::RegistrationAbandoned {
            reason: "phone_taken".into(),
        },
    );
    h.account(
        0,
        AccountEvent::EmailVerificationRequested {
            email: "u0@example.com".into(),
            expires_at: Timestamp::from_millis(1),
        },
    );
    h.account(
        0,
        AccountEvent::EmailVerified {
            email: "u0@example.com".into(),
        },
    );
    h.account(
        0,
        AccountEvent::LoginFailed {
            via: LoginVia::Phone,
            consecutive_failures: 5,
        },
    );
    h.account(
        0,
        AccountEvent::AccountLocked {
            until: Timestamp::from_millis(1_764_000_900_000),
            lock_count: 1,
        },
    );
    h.account(
        0,
        AccountEvent::NameChangeRequested {
            new_name: "黄思思".into(),
            reason: "改名".into(),
        },
    );
    h.account(
        0,
        AccountEvent::AccountUnlocked {
            reason: UnlockReason::Expired,
        },
    );
    h.account(
        0,
        AccountEvent::LoginSucceeded {
            via: LoginVia::Email,
        },
    );
    h.account(
        1,
        AccountEvent::IdentityVerified {
            method: "manual_review".into(),
        },
    );
    h.account(
        3,
        AccountEvent::Registered {
            status: AccountStatus::Active,
        },
    );
    h.account(
        3,
        AccountEvent::ExternalLoginLinked {
            provider: "wechat".into(),
            subject: "o1".into(),
        },
    );
    h.account(
        3,
        AccountEvent::PhoneUnbound {
            phone: "+8613612341003".into(),
            reason: "taken_over".into(),
        },
    );
    h.login_name(
        "phone3",
        LoginNameEvent::LoginNameTakenOver {
            account_id: accounts[1],
            previous: accounts[3],
            kind: LoginNameKind::Phone,
            value: "+8613612341003".into(),
        },
    );
    h.account(
        1,
        AccountEvent::PhoneChanged {
            old: Some("+8613612341001".into()),
            new: "+8613612341003".into(),
        },
    );
    h.login_name(
        "phone1",
        LoginNameEvent::LoginNameReleased {
            account_id: accounts[1],
            kind: LoginNameKind::Phone,
            value: "+8613612341001".into(),
            reason: "changed".into(),
        },
    );
    h.account(
        3,
        AccountEvent::ExternalLoginLinked {
            provider: "alipay".into(),
            subject: "a1".into(),
        },
    );
    h.account(
        3,
        AccountEvent::ExternalLoginUnlinked {
            provider: "wechat".into(),
            subject: "o1".into(),
        },
    );
    h.account(
        0,
        AccountEvent::NameChanged {
            old: "测试0".into(),
            new: "黄思思".into(),
            via: "review".into(),
        },
    );
    h.account(
        0,
        AccountEvent::EmailChanged {
            old: Some("u0@example.com".into()),
            new: shared_email.clone(),
        },
    );
    h.account(0, AccountEvent::SecurityQuestionsSet { questions: vec![] });
    h.account(
        0,
        AccountEvent::PasswordReset {
            password_hash: "$argon2id$2".into(),
            reason: "recovery".into(),
        },
    );
    h.account(
        1,
        AccountEvent::NameChangeRequested {
            new_name: "新名".into(),
            reason: "改名".into(),
        },
    );
    h.account(
        1,
        AccountEvent::NameChangeRejected {
            reason: "材料不全".into(),
        },
    );
    h.account(
        3,
        AccountEvent::OldAccountDeactivated {
            new_account: accounts[1],
        },
    );
    // Changes of one row in a row, with nothing between that writes on its own: merged.
    h.account(
        1,
        AccountEvent::OldAccountDeactivated {
            new_account: accounts[0],
        },
    );
    h.account(
        3,
        AccountEvent::AccountLocked {
            until: Timestamp::from_millis(1_764_000_990_000),
            lock_count: 2,
        },
    );
    h.account(
        1,
        AccountEvent::IdentityVerified {
            method: "classmate".into(),
        },
    );
    h.account(
        3,
        AccountEvent::PasswordReset {
            password_hash: "$argon2id$3".into(),
            reason: "office".into(),
        },
    );
    h.account(
        1,
        AccountEvent::LoginSucceeded {
            via: LoginVia::Phone,
        },
    );
    // One key claimed, released and claimed again by another account.
    for event in [
        LoginNameEvent::LoginNameClaimed {
            account_id: accounts[0],
            kind: LoginNameKind::Email,
            value: shared_email.clone(),
        },
        LoginNameEvent::LoginNameReleased {
            account_id: accounts[0],
            kind: LoginNameKind::Email,
            value: shared_email.clone(),
            reason: "changed".into(),
        },
        LoginNameEvent::LoginNameClaimed {
            account_id: accounts[1],
            kind: LoginNameKind::Email,
            value: shared_email.clone(),
        },
        // A release by the former holder removes nothing.
        LoginNameEvent::LoginNameReleased {
            account_id: accounts[0],
            kind: LoginNameKind::Email,
            value: shared_email.clone(),
            reason: "changed".into(),
        },
    ] {
        h.login_name("shared", event);
    }
    h.events
}

/// Builds a history: positions in order, each aggregate's sequence counted.
struct History {
    accounts: Vec<AccountId>,
    events: Vec<StoredEvent>,
    sequences: std::collections::HashMap<String, i64>,
}

impl History {
    fn new(accounts: Vec<AccountId>) -> Self {
        Self {
            accounts,
            events: Vec::new(),
            sequences: Default::default(),
        }
    }

    fn push<E: serde::Serialize + cqrs_es::DomainEvent>(
        &mut self,
        kind: &str,
        id: String,
        event: E,
    ) {
        let sequence = self.sequences.entry(format!("{kind}:{id}")).or_insert(0);
        *sequence += 1;
        let position = self.events.len() as i64 + 1;
        self.events.push(StoredEvent {
            position,
            transaction_id: 0,
            aggregate_type: kind.into(),
            aggregate_id: id,
            sequence: *sequence,
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_value(&event).unwrap(),
            metadata: json!({
                "time": xuexin_domain::Timestamp::from_millis(1_764_000_000_000 + position * 1000)
                    .to_rfc3339()
            }),
        });
    }

    fn account(&mut self, n: usize, event: AccountEvent) {
        let id = self.accounts[n].to_string();
        self.push("Account", id, event);
    }

    fn login_name(&mut self, key: &str, event: LoginNameEvent) {
        self.push("LoginName", key.to_string(), event);
    }
}

/// Every row of every table the rebuildable projections own, sorted.
async fn all_rows(db: &Db) -> Vec<String> {
    let mut rows = Vec::new();
    for projection in all().into_iter().filter(|p| p.rebuildable()) {
        for table in projection.tables() {
            let mut table_rows: Vec<String> = match db {
                Db::Sqlite(pool) => {
                    let columns: Vec<(String,)> = sqlx::query_as(&format!(
                        "SELECT name FROM pragma_table_info('{table}') ORDER BY name"
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    let pairs: Vec<String> = columns
                        .iter()
                        .map(|(c,)| format!("'{c}', \"{c}\""))
                        .collect();
                    sqlx::query_as::<_, (String,)>(&format!(
                        "SELECT json_object({}) FROM {table}",
                        pairs.join(", ")
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(r,)| r)
                    .collect()
                }
                Db::Postgres(pool) => sqlx::query_as::<_, (String,)>(&format!(
                    "SELECT row_to_json(t)::text FROM {table} t"
                ))
                .fetch_all(pool)
                .await
                .unwrap()
                .into_iter()
                .map(|(r,)| r)
                .collect(),
            };
            table_rows.sort();
            rows.extend(table_rows.into_iter().map(|r| format!("{table}: {r}")));
        }
    }
    rows
}

/// Folds `events` one at a time into `one_by_one` and in batches of `batch` into `batched`.
async fn fold_both_ways(one_by_one: &Db, batched: &Db, events: &[StoredEvent], batch: usize) {
    for projection in all().into_iter().filter(|p| p.rebuildable()) {
        let mut tx = one_by_one.begin().await.unwrap();
        for event in events {
            projection.apply(&mut tx, event).await.unwrap();
        }
        tx.commit().await.unwrap();
        for chunk in events.chunks(batch) {
            let mut tx = batched.begin().await.unwrap();
            projection.apply_batch(&mut tx, chunk).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

async fn assert_batches_fold_like_single_events(
    fresh: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Db>>>,
) {
    let events = mixed_history();
    let mut reference: Option<Vec<String>> = None;
    for batch in [1, 2, 3, 7, events.len()] {
        let (one_by_one, batched) = (fresh().await, fresh().await);
        fold_both_ways(&one_by_one, &batched, &events, batch).await;
        let expected = all_rows(&one_by_one).await;
        assert_eq!(all_rows(&batched).await, expected, "batches of {batch}");
        if let Some(reference) = &reference {
            assert_eq!(&expected, reference);
        }
        reference = Some(expected);
    }
    let rows = reference.unwrap();
    // The fold did something: the history's effects are in the rows.
    let joined = rows.join("\n");
    assert!(joined.contains("黄思思"), "{joined}");
    assert!(joined.contains("alipay"), "{joined}");
    assert!(!joined.contains("别名"), "{joined}");
    assert!(joined.contains("email:shared@example.com"), "{joined}");
}

#[tokio::test]
async fn a_batch_folds_to_the_same_rows_as_its_events_one_by_one_on_sqlite() {
    assert_batches_fold_like_single_events(|| Box::pin(db())).await;
}

#[tokio::test]
async fn a_batch_folds_to_the_same_rows_as_its_events_one_by_one_on_postgres() {
    assert_batches_fold_like_single_events(|| Box::pin(postgres_db())).await;
}

/// A fresh, migrated PostgreSQL database (XUEXIN_TEST_DATABASE_URL's server, or 127.0.0.1).
async fn postgres_db() -> Db {
    let admin = std::env::var("XUEXIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin)
        .await
        .expect("PostgreSQL is unreachable (scripts/services starts it)");
    let name = format!("xuexin_folds_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    sqlx::migrate!("../migrations/postgres")
        .run(&pool)
        .await
        .unwrap();
    Db::Postgres(pool)
}
