//! What auditors rely on: the append-only log, the tamper check naming every changed row, the
//! filtered log, an account's history across aggregates, and a state as of a time.

use crate::helpers::{random_phone, Backend, Person};
use crate::on_both_backends;
use crate::recovery::recovery_app;
use reqwest::StatusCode;
use serde_json::{json, Value};
use xuexin_projections::{db_execute, Db};

on_both_backends!(
    the_log_refuses_changes_and_verify_names_every_tampered_row,
    auditors_read_the_log_in_order_with_filters,
    an_accounts_history_spans_its_aggregates,
    the_state_as_of_a_time_matches_what_the_api_showed_then,
);

/// (position, sequence) of an aggregate's events.
async fn events_of(db: &Db, aggregate_id: &str) -> Vec<(i64, i64)> {
    xuexin_projections::on_db!(db, pool => {
        sqlx::query_as("SELECT position, sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(aggregate_id)
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

async fn the_log_refuses_changes_and_verify_names_every_tampered_row(backend: Backend) {
    let app = recovery_app(backend).await;
    let (first, second, third) = (Person::random(), Person::random(), Person::random());
    let first_id = app.register_ok(&first).await;
    let second_id = app.register_ok(&second).await;
    let third_id = app.register_ok(&third).await;
    for person in [&second, &third] {
        app.login_ok(&person.phone, &person.password).await;
        app.login_ok(&person.phone, &person.password).await;
    }
    let clean = app.cli(&["audit", "verify"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("the chain is intact"));

    // The service's own connection cannot change or remove an event.
    let update = db_execute!(
        &app.db,
        "UPDATE events SET payload = payload WHERE aggregate_id = $1",
        &first_id
    );
    assert!(update.is_err(), "an UPDATE of events went through");
    let delete = db_execute!(
        &app.db,
        "DELETE FROM events WHERE aggregate_id = $1",
        &first_id
    );
    assert!(delete.is_err(), "a DELETE of events went through");

    // Someone with the owner's rights switches the guard off and edits, deletes, reorders.
    match backend {
        Backend::Postgres => {
            db_execute!(
                &app.db,
                "ALTER TABLE events DISABLE TRIGGER events_no_change"
            )
            .unwrap();
        }
        Backend::Sqlite => {
            db_execute!(&app.db, "DROP TRIGGER events_no_update").unwrap();
            db_execute!(&app.db, "DROP TRIGGER events_no_delete").unwrap();
        }
    }
    let first_events = events_of(&app.db, &first_id).await;
    let edited = first_events[1];
    db_execute!(
        &app.db,
        "UPDATE events SET payload = '{\"Registered\":{\"status\":\"Deactivated\"}}'
         WHERE aggregate_id = $1 AND sequence = $2",
        &first_id,
        edited.1
    )
    .unwrap();
    let second_events = events_of(&app.db, &second_id).await;
    let deleted = second_events[2];
    db_execute!(
        &app.db,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = $2",
        &second_id,
        deleted.1
    )
    .unwrap();
    let third_events = events_of(&app.db, &third_id).await;
    let (a, b) = (third_events[2].1, third_events[3].1);
    for (from, to) in [(a, 1_000_000), (b, a), (1_000_000, b)] {
        db_execute!(
            &app.db,
            "UPDATE events SET sequence = $3 WHERE aggregate_id = $1 AND sequence = $2",
            &third_id,
            from,
            to
        )
        .unwrap();
    }

    let tampered = app.cli(&["audit", "verify", "--json"]);
    assert_eq!(tampered.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&tampered.stdout).unwrap();
    let findings: Vec<(String, String, i64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["aggregate_id"].as_str().unwrap().to_string(),
                f["problem"].as_str().unwrap().to_string(),
                f["position"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        findings.contains(&(first_id.clone(), "edited".into(), edited.0)),
        "{findings:?}"
    );
    // The event after the deleted one names the gap.
    let after_deleted = second_events[3].0;
    assert!(
        findings.contains(&(second_id.clone(), "missing_before".into(), after_deleted)),
        "{findings:?}"
    );
    // The swapped rows no longer hash as what they claim to be.
    assert!(
        findings
            .iter()
            .any(|(id, problem, _)| id == &third_id && problem == "chain_broken"),
        "{findings:?}"
    );
    // Nothing else is named: every finding is one of the three tampered aggregates.
    assert!(findings
        .iter()
        .all(|(id, _, _)| [&first_id, &second_id, &third_id].contains(&id)));
    let text = app.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("edited\tposition {}", edited.0)),
        "{stdout}"
    );
}

async fn auditors_read_the_log_in_order_with_filters(backend: Backend) {
    let app = recovery_app(backend).await;
    let auditor = app.staff_token("auditor", None).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    app.login_ok(&person.phone, &person.password).await;
    app.login_ok(&person.phone, &person.password).await;
    app.settle().await;

    let reviewer = app.staff_token("reviewer", None).await;
    let refused = app.get("/api/v1/audit/events", Some(&reviewer)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Everything, a page at a time, in order.
    // PostgreSQL shows only events below the oldest running transaction of the cluster (other
    // tests' databases included), so an empty page can mean "not yet": page until the log's
    // count is reached, for a while.
    let mut after = 0;
    let mut positions = Vec::new();
    let total = app.event_count().await;
    let mut empty_pages = 0;
    loop {
        let page = app
            .get(
                &format!("/api/v1/audit/events?after={after}&limit=3"),
                Some(&auditor),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let events = page.body["events"].as_array().unwrap().clone();
        if events.is_empty() {
            empty_pages += 1;
            if positions.len() as i64 >= total || empty_pages > 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            continue;
        }
        assert!(events.len() <= 3);
        positions.extend(events.iter().map(|e| e["position"].as_i64().unwrap()));
        after = page.body["next_after"].as_i64().unwrap();
    }
    assert_eq!(positions.len() as i64, total);
    assert_eq!(total, app.event_count().await);
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    let logins = app
        .get(
            &format!("/api/v1/audit/events?aggregate_id={account_id}&event_type=LoginSucceeded"),
            Some(&auditor),
        )
        .await;
    let logins = logins.body["events"].as_array().unwrap().clone();
    assert_eq!(logins.len(), 2);
    assert!(logins
        .iter()
        .all(|e| e["actor"] == format!("account:{account_id}")));
    let by_actor = app
        .get(
            &format!("/api/v1/audit/events?actor=account:{account_id}&limit=1000"),
            Some(&auditor),
        )
        .await;
    let by_actor = by_actor.body["events"].as_array().unwrap().clone();
    assert!(by_actor.len() >= 4);
    assert!(by_actor
        .iter()
        .all(|e| e["metadata"]["actor"] == format!("account:{account_id}")));
    // No password hash is shown.
    assert!(!by_actor.iter().any(|e| e.to_string().contains("argon2")));
    assert!(by_actor
        .iter()
        .any(|e| e.to_string().contains("[redacted]")));

    // A time window: nothing in the future, everything up to now.
    let future = app
        .get(
            "/api/v1/audit/events?from=2999-01-01T00:00:00Z",
            Some(&auditor),
        )
        .await;
    assert_eq!(future.body["events"], json!([]));
    let first_login_time = logins[0]["time"].as_str().unwrap();
    let window = app
        .get(
            &format!(
                "/api/v1/audit/events?event_type=LoginSucceeded&aggregate_id={account_id}&to={first_login_time}"
            ),
            Some(&auditor),
        )
        .await;
    assert_eq!(
        window.body["events"].as_array().unwrap().len(),
        1,
        "{}",
        window.text
    );
    let bad = app
        .get("/api/v1/audit/events?from=yesterday", Some(&auditor))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .field_errors()
        .contains(&("from".into(), "time_format".into())));
}

async fn an_accounts_history_spans_its_aggregates(backend: Backend) {
    let app = recovery_app(backend).await;
    let auditor = app.staff_token("auditor", None).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let other = Person::random();
    app.register_ok(&other).await;

    let history = app
        .get(
            &format!("/api/v1/audit/accounts/{account_id}/history"),
            Some(&auditor),
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let events = history.body.as_array().unwrap();
    let types: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["aggregate_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("Account") && types.contains("LoginName") && types.contains("Identity"),
        "{types:?}"
    );
    // Nothing of the other person.
    assert!(!history.text.contains(&other.phone));
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    let cli = app.cli(&["audit", "history", &account_id]);
    assert!(cli.status.success());
    let from_cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(from_cli.as_array().unwrap().len(), events.len());

    let unknown = app
        .get(
            &format!("/api/v1/audit/accounts/{}/history", uuid::Uuid::new_v4()),
            Some(&auditor),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn the_state_as_of_a_time_matches_what_the_api_showed_then(backend: Backend) {
    let app = recovery_app(backend).await;
    let auditor = app.staff_token("auditor", None).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let (token, position) = app.login_ok(&person.phone, &person.password).await;
    let before = app
        .get(&format!("/api/v1/me?position={position}"), Some(&token))
        .await;
    assert_eq!(before.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let then = xuexin_domain::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let new_phone = random_phone();
    let sent = app
        .post_authorized(
            "/api/v1/me/phone/sms-codes",
            &token,
            &json!({"phone": new_phone}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let code = app.latest_code(&new_phone).await;
    let changed = app
        .post_authorized(
            "/api/v1/me/phone",
            &token,
            &json!({"current_password": person.password, "phone": new_phone, "sms_code": code}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);

    let at_then = app
        .get(
            &format!("/api/v1/audit/aggregates/Account/{account_id}?as_of={then}"),
            Some(&auditor),
        )
        .await;
    assert_eq!(at_then.status, StatusCode::OK, "{}", at_then.text);
    let state = &at_then.body["state"];
    let mask = |p: &str| format!("{}****{}", &p[3..6], &p[10..]);
    assert_eq!(
        mask(state["phone"].as_str().unwrap()),
        before.body["phone"].as_str().unwrap()
    );
    assert_eq!(state["name"], before.body["name"]);
    assert!(!at_then.text.contains("argon2"));

    let now = app
        .get(
            &format!("/api/v1/audit/aggregates/Account/{account_id}"),
            Some(&auditor),
        )
        .await;
    assert_eq!(now.body["state"]["phone"], format!("+86{new_phone}"));
    assert!(now.body["version"].as_i64() > at_then.body["version"].as_i64());

    let cli = app.cli(&["audit", "as-of", &then, &account_id]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let from_cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(from_cli["state"], at_then.body["state"]);

    let before_birth = app
        .get(
            &format!("/api/v1/audit/aggregates/Account/{account_id}?as_of=2000-01-01T00:00:00Z"),
            Some(&auditor),
        )
        .await;
    assert_eq!(before_birth.status, StatusCode::NOT_FOUND);
}
