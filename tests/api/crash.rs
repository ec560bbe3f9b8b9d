//! Crashes in the middle of registration: the real binary, aborted at a fault point or killed
//! with SIGKILL, then restarted. Recovery must finish or undo every registration, so that no
//! claim stays with an account that never finished registering.

use crate::helpers::{Backend, Person};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xuexin::store::Db;

on_both_backends!(
    a_registration_cut_off_after_its_claims_is_finished_after_a_restart,
    killing_the_service_during_racing_registrations_strands_no_claim,
    a_crash_before_the_old_account_is_deactivated_is_finished_once_after_a_restart,
    a_crash_after_the_old_account_is_deactivated_does_not_deactivate_it_twice,
    sigterm_under_load_drains_the_requests_in_flight_and_leaves_no_half_done_registration,
    a_kill_during_grouped_appends_loses_no_answered_change_and_writes_none_twice,
);

struct Service {
    child: Child,
    address: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Service {
    async fn start(database_url: &str, faults: Option<&str>) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_xuexin"));
        command
            .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("XUEXIN_SAGA_STALE_SECONDS", "1")
            .env("XUEXIN_SMS_INTERVAL_SECONDS", "0")
            .env("XUEXIN_SMS_PER_PHONE_DAILY", "10000")
            .env("XUEXIN_SMS_PER_IP_HOURLY", "10000")
            .env("XUEXIN_TASK_CLAIM_SECONDS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match faults {
            Some(points) => command.env("XUEXIN_FAULTS", points),
            None => command.env_remove("XUEXIN_FAULTS"),
        };
        let child = command.spawn().expect("failed to start the xuexin binary");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{address}/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the service did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, address }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(StatusCode, Value), reqwest::Error> {
        self.send(
            reqwest::Client::new()
                .post(format!("{}{path}", self.address))
                .json(body),
        )
        .await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Registers a person (code from the captured SMS), with extra form fields.
    async fn register(&self, person: &Person, extra: Value) -> (StatusCode, Value) {
        let code = self.codes(&person.phone, 1).await.remove(0);
        let mut form = person.form(&code);
        for (k, v) in extra.as_object().unwrap() {
            form[k] = v.clone();
        }
        self.post("/api/v1/registrations", &form).await.unwrap()
    }

    async fn login(&self, login: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/sessions",
            &json!({"login": login, "password": password}),
        )
        .await
        .unwrap()
    }

    async fn codes(&self, phone: &str, n: usize) -> Vec<String> {
        for _ in 0..n {
            let (status, body) = self
                .post(
                    "/api/v1/sms-codes",
                    &json!({"phone": phone, "purpose": "register"}),
                )
                .await
                .unwrap();
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
        let messages: Value = reqwest::get(format!(
            "{}/api/v1/dev/outbox?to={phone}&limit={n}",
            self.address
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let body = m["body"].as_str().unwrap();
                let start = body.find("校验码是").unwrap() + "校验码是".len();
                body[start..start + 6].to_string()
            })
            .collect()
    }

    fn wait_for_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn database(backend: Backend) -> (String, crate::helpers::TestDatabase) {
    let database = crate::helpers::TestDatabase::new(backend).await;
    (database.url.clone(), database)
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let (n,): (i64,) = xuexin_projections::on_db!(db, pool => {
        sqlx::query_as(sql).fetch_one(pool).await.unwrap()
    });
    n
}

/// Waits until no registration saga is left unfinished.
async fn wait_for_recovery(db: &Db) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = scalar(db, "SELECT COUNT(*) FROM registration_sagas_v1").await;
        let started = scalar(
            db,
            "SELECT COUNT(*) FROM events WHERE event_type = 'RegistrationStarted'",
        )
        .await;
        let ended = scalar(
            db,
            "SELECT COUNT(*) FROM events WHERE event_type IN ('Registered', 'RegistrationAbandoned')",
        )
        .await;
        if pending == 0 && started == ended {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "recovery did not finish: {started} started, {ended} ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holder A, claimant B (re-registered, photo uploaded), a reviewer approving B: the approval
/// commits the transfer, and the service dies at `fault` while deactivating A. After a restart
/// A is deactivated exactly once.
async fn approval_with_a_crash_at(backend: Backend, fault: &str) {
    let (url, _dir) = database(backend).await;
    let mut service = Service::start(&url, Some(fault)).await;
    let holder = Person::random();
    let (status, body) = service.register(&holder, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let old_account = body["account_id"].as_str().unwrap().to_string();
    let claimant = Person {
        name: holder.name.clone(),
        document_number: holder.document_number.clone(),
        ..Person::random()
    };
    let (status, body) = service
        .register(&claimant, json!({"re_register": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, session) = service.login(&claimant.phone, &claimant.password).await;
    let token = session["token"].as_str().unwrap().to_string();
    let (status, _) = service
        .send(
            reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/identity/claim/manual-review",
                    service.address
                ))
                .bearer_auth(&token)
                .body(crate::helpers::jpeg()),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);

    let mut create = Command::new(env!("CARGO_BIN_EXE_xuexin"));
    create
        .args([
            "admin",
            "create-staff",
            "--role",
            "reviewer",
            "--username",
            "rev-crash",
            "--password-stdin",
        ])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = create.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"Reviewer-Crash-1!\n").unwrap();
    assert!(child.wait().unwrap().success());
    let (_, session) = service.login("rev-crash", "Reviewer-Crash-1!").await;
    let reviewer = session["token"].as_str().unwrap().to_string();
    // The reviewer's second factor, as an authenticator app would give it.
    let (_, factor) = service
        .send(
            reqwest::Client::new()
                .get(format!("{}/api/v1/staff/second-factor", service.address))
                .bearer_auth(&reviewer),
        )
        .await
        .unwrap();
    let secret = factor["secret"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, enrolled) = service
        .send(
            reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/staff/second-factor/enrolment",
                    service.address
                ))
                .bearer_auth(&reviewer)
                .json(&json!({"code": xuexin::application::factor::code_at(secret, now)})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let identity_id = loop {
        assert!(
            Instant::now() < deadline,
            "the claim never reached the review queue"
        );
        let (_, queue) = service
            .send(
                reqwest::Client::new()
                    .get(format!("{}/api/v1/reviews", service.address))
                    .bearer_auth(&reviewer),
            )
            .await
            .unwrap();
        if let Some(item) = queue.as_array().and_then(|q| q.first()) {
            break item["identity_id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let claimant_id = body["account_id"].as_str().unwrap().to_string();
    let approve = format!(
        "{}/api/v1/reviews/{identity_id}/{claimant_id}/approve",
        service.address
    );
    let approved = service
        .send(reqwest::Client::new().post(approve).bearer_auth(&reviewer))
        .await;
    // The answer may or may not make it out before the process dies.
    if let Ok((status, body)) = approved {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(
        service.wait_for_exit(Duration::from_secs(20)),
        "the fault point {fault} was not reached"
    );

    let db = xuexin::store::connect(&url, 2).await.unwrap();
    let transfers = scalar(
        &db,
        "SELECT COUNT(*) FROM events WHERE event_type = 'IdentityTransferred'",
    )
    .await;
    assert_eq!(transfers, 1);

    let service = Service::start(&url, None).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = scalar(
            &db,
            "SELECT COUNT(*) FROM process_tasks WHERE status = 'pending'",
        )
        .await;
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks were not finished after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deactivated: (i64,) = xuexin_projections::on_db!(&db, pool => {
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE aggregate_id = $1 AND event_type = 'OldAccountDeactivated'")
            .bind(&old_account)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(
        deactivated.0, 1,
        "the old account must be deactivated exactly once"
    );
    let (status, _) = service.login(&holder.phone, &holder.password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = service.login(&claimant.phone, &claimant.password).await;
    assert_eq!(status, StatusCode::CREATED);
    db.close().await;
}

async fn a_crash_before_the_old_account_is_deactivated_is_finished_once_after_a_restart(
    backend: Backend,
) {
    approval_with_a_crash_at(backend, "tasks.before.account.deactivate_old").await;
}

async fn a_crash_after_the_old_account_is_deactivated_does_not_deactivate_it_twice(
    backend: Backend,
) {
    approval_with_a_crash_at(backend, "tasks.after.account.deactivate_old").await;
}

async fn a_registration_cut_off_after_its_claims_is_finished_after_a_restart(backend: Backend) {
    let (url, _dir) = database(backend).await;
    let person = Person::random();
    let mut service = Service::start(&url, Some("registration.after_claim_2")).await;
    let code = service.codes(&person.phone, 1).await.remove(0);
    let cut_off = service
        .post("/api/v1/registrations", &person.form(&code))
        .await;
    assert!(
        cut_off.is_err(),
        "the request should have died with the process: {cut_off:?}"
    );
    assert!(
        service.wait_for_exit(Duration::from_secs(10)),
        "the fault point did not abort"
    );

    let db = xuexin::store::connect(&url, 2).await.unwrap();
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM events WHERE event_type = 'Registered'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM events WHERE event_type IN ('LoginNameClaimed', 'IdentityBound')"
        )
        .await,
        2
    );

    let service = Service::start(&url, None).await;
    wait_for_recovery(&db).await;
    let (status, body) = service
        .post(
            "/api/v1/sessions",
            &json!({"login": person.phone, "password": person.password}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The e-mail claim the crash prevented was made by recovery, and its mail requested.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM events WHERE event_type = 'LoginNameClaimed'"
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM events WHERE event_type = 'EmailVerificationRequested'"
        )
        .await,
        1
    );
    db.close().await;
}

async fn killing_the_service_during_racing_registrations_strands_no_claim(backend: Backend) {
    let (url, _dir) = database(backend).await;
    let phone = crate::helpers::random_phone();
    let mut service = Service::start(&url, None).await;
    let codes = service.codes(&phone, 30).await;
    let people: Vec<Person> = codes
        .iter()
        .map(|_| Person {
            phone: phone.clone(),
            ..Person::random()
        })
        .collect();
    let address = service.address.clone();
    let racing = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let requests = people.iter().zip(&codes).map(|(person, code)| {
            client
                .post(format!("{address}/api/v1/registrations"))
                .json(&person.form(code))
                .send()
        });
        futures::future::join_all(requests).await
    });
    // Kill it while the registrations are in flight.
    tokio::time::sleep(Duration::from_millis(150)).await;
    service.kill();
    let _ = racing.await;

    let _service = Service::start(&url, None).await;
    let db = xuexin::store::connect(&url, 2).await.unwrap();
    wait_for_recovery(&db).await;
    // Let the projections apply what recovery wrote.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if crate::helpers::unapplied_events(&db).await == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "projections did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM account_view_v1 WHERE status = 'Active'"
        )
        .await
            <= 1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM account_view_v1 WHERE status NOT IN ('Active', 'Abandoned')"
        )
        .await,
        0
    );
    // Every login name and identity in the index belongs to an account that finished registering.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM login_index_v1 l JOIN account_view_v1 a ON a.account_id = l.account_id
             WHERE a.status <> 'Active'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM login_index_v1 WHERE kind = 'phone'"
        )
        .await,
        scalar(
            &db,
            "SELECT COUNT(*) FROM account_view_v1 WHERE status = 'Active'"
        )
        .await
    );
    db.close().await;
}

/// SIGTERM while registrations are in flight (issue 19): the service stops accepting, answers
/// every request it accepted, stops its background loops after their batch and exits 0. Every
/// registration it started, it finished: none is left for recovery, and each one answered 201
/// logs in after a restart.
async fn sigterm_under_load_drains_the_requests_in_flight_and_leaves_no_half_done_registration(
    backend: Backend,
) {
    let (url, _database) = database(backend).await;
    let mut service = Service::start(&url, None).await;
    let people: Vec<Person> = (0..12).map(|_| Person::random()).collect();
    let mut forms = Vec::new();
    for person in &people {
        let code = service.codes(&person.phone, 1).await.remove(0);
        forms.push(person.form(&code));
    }
    let address = service.address.clone();
    let mut requests = Vec::new();
    for form in forms {
        let address = address.clone();
        requests.push(tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{address}/api/v1/registrations"))
                .json(&form)
                .send()
                .await;
            match response {
                Ok(response) => Some(response.status()),
                // Not accepted: the listener had closed.
                Err(error) if error.is_connect() => None,
                Err(error) => panic!("a request accepted was not answered: {error}"),
            }
        }));
    }
    // Hashing makes each registration take a while: the signal lands with them in flight.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let signalled = Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let mut answered = Vec::new();
    for (person, request) in people.iter().zip(requests) {
        if let Some(status) = request.await.unwrap() {
            assert_eq!(status, StatusCode::CREATED, "{}", person.phone);
            answered.push(person.clone());
        }
    }
    assert!(
        !answered.is_empty(),
        "no registration was in flight at the signal"
    );
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = service.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
    .expect("the service did not exit after SIGTERM");
    assert!(exited.success(), "exit status {exited:?}");

    // Nothing half done, before any recovery ran.
    let db = xuexin::store::connect(&url, 2).await.unwrap();
    let started = scalar(
        &db,
        "SELECT COUNT(*) FROM events WHERE event_type = 'RegistrationStarted'",
    )
    .await;
    let ended = scalar(
        &db,
        "SELECT COUNT(*) FROM events WHERE event_type IN ('Registered', 'RegistrationAbandoned')",
    )
    .await;
    assert_eq!(started, ended, "a registration was left half done");
    let registered = scalar(
        &db,
        "SELECT COUNT(*) FROM events WHERE event_type = 'Registered'",
    )
    .await;
    assert_eq!(registered, answered.len() as i64);
    db.close().await;

    let service = Service::start(&url, None).await;
    for person in &answered {
        let (status, body) = service.login(&person.phone, &person.password).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

/// Group commit (ADR 0023) under SIGKILL: twelve clients change their account's language at
/// once, three to an account, so that concurrent appends share statements and some lose races
/// inside a batch. The service is killed mid-way. Every change it answered with a position is
/// in the log at that position, no request is in the log twice, every aggregate's sequence is
/// gap-free, and the hash chains verify.
async fn a_kill_during_grouped_appends_loses_no_answered_change_and_writes_none_twice(
    backend: Backend,
) {
    let (url, _dir) = database(backend).await;
    let mut service = Service::start(&url, None).await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let person = Person::random();
        let (status, body) = service.register(&person, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, session) = service.login(&person.phone, &person.password).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        tokens.push(session["token"].as_str().unwrap().to_string());
    }
    let address = service.address.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..12)
        .map(|c| {
            let token = tokens[c % tokens.len()].clone();
            let address = address.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut sent, mut answered) = (Vec::new(), Vec::new());
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("crash-{c}-{n}");
                    sent.push(id.clone());
                    let language = if (c + n) % 2 == 0 { "en" } else { "zh-CN" };
                    let response = client
                        .put(format!("{address}/api/v1/me/language"))
                        .bearer_auth(&token)
                        .header("x-request-id", &id)
                        .json(&json!({ "language": language }))
                        .send()
                        .await;
                    let Ok(response) = response else { break };
                    if response.status() != StatusCode::OK {
                        continue;
                    }
                    let Ok(body) = response.json::<Value>().await else {
                        break;
                    };
                    if let Some(position) = body["position"].as_i64() {
                        answered.push((id, position));
                    }
                }
                (sent, answered)
            })
        })
        .collect();
    // Let the appends group up, and see that they did, then kill the service mid-flight. On a
    // busy machine the requests may reach PostgreSQL one by one, so a second connection holds
    // the log for a moment: the clients' appends queue behind it and share the next statement.
    let holder = xuexin::store::connect(&url, 1).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = reqwest::get(format!("{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let read = |name: &str| -> f64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let statements = read("xuexin_event_append_statements_total");
        let commands = read("xuexin_event_append_commands_total");
        if commands >= statements + 10.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the appends did not group ({commands} commands in {statements} statements)"
        );
        hold_the_log(&holder, Duration::from_millis(200)).await;
    }
    service.kill();
    holder.close().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut sent, mut answered) = (std::collections::HashSet::new(), Vec::new());
    for client in clients {
        let (s, a) = client.await.unwrap();
        sent.extend(s);
        answered.extend(a);
    }
    assert!(
        answered.len() > 20,
        "only {} changes answered",
        answered.len()
    );

    let db = xuexin::store::connect(&url, 2).await.unwrap();
    let rows: Vec<(i64, String)> = xuexin_projections::on_db!(&db, pool => {
        sqlx::query_as(
            "SELECT position, CAST(metadata AS TEXT) FROM events
             WHERE event_type = 'LanguageChosen'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    });
    let mut written = std::collections::HashMap::<String, Vec<i64>>::new();
    for (position, metadata) in rows {
        let metadata: Value = serde_json::from_str(&metadata).unwrap();
        let id = metadata["request_id"].as_str().unwrap().to_string();
        written.entry(id).or_default().push(position);
    }
    for (id, position) in &answered {
        assert_eq!(
            written.get(id),
            Some(&vec![*position]),
            "answered change {id} is not in the log once, at {position}"
        );
    }
    for (id, positions) in &written {
        assert_eq!(positions.len(), 1, "{id} is in the log at {positions:?}");
        assert!(sent.contains(id), "{id} was never sent");
    }
    // Each aggregate's sequence runs 1..n without a gap.
    let gaps = scalar(
        &db,
        "SELECT COUNT(*) FROM (SELECT aggregate_type, aggregate_id FROM events
         GROUP BY aggregate_type, aggregate_id HAVING MAX(sequence) <> COUNT(*)) g",
    )
    .await;
    assert_eq!(gaps, 0);
    db.close().await;
    let verify = Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// On PostgreSQL, holds a lock on the event log that conflicts with inserts (not reads) for
/// `pause`, from a connection of its own, so that the appends in flight queue behind it. SQLite
/// has one writer at a time, so its appends queue by themselves: there it only waits a little.
async fn hold_the_log(db: &Db, pause: Duration) {
    match db {
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await.unwrap();
            for statement in ["BEGIN", "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"] {
                sqlx::query(statement).execute(&mut *conn).await.unwrap();
            }
            tokio::time::sleep(pause).await;
            sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
        }
        Db::Sqlite(_) => tokio::time::sleep(Duration::from_millis(20)).await,
    }
}
