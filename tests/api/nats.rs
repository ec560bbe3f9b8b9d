//! The NATS JetStream relay against a real nats-server that each test starts on a free port
//! (never the shared one): every event arrives once, in per-aggregate order, masked; a killed
//! nats-server or a killed relay loses nothing and duplicates nothing.

use crate::helpers::{spawn_app_with, Backend, Person, TestApp};
use crate::on_both_backends;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use futures::StreamExt;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xuexin_domain::ids::{login_name_id, LoginNameKind};
use xuexin_domain::login_name::{LoginName, LoginNameCommand};
use xuexin_domain::AccountId;

on_both_backends!(
    every_event_reaches_the_stream_once_in_order_and_masked,
    a_nats_server_killed_mid_run_loses_and_duplicates_nothing,
    a_relay_killed_mid_run_loses_and_duplicates_nothing,
);

pub(crate) const STREAM: &str = "XUEXIN_EVENTS";

/// A nats-server of the test's own, with JetStream on a scratch directory.
pub(crate) struct NatsServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.restart();
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (apt install nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no goodbye.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn nats_app(backend: Backend, nats: Option<&NatsServer>) -> TestApp {
    let url = nats.map(NatsServer::url);
    spawn_app_with(backend, move |config| {
        crate::helpers::relaxed_limits(config);
        config.nats_url = url;
    })
    .await
}

async fn event_count(app: &TestApp) -> u64 {
    app.event_count().await as u64
}

/// Waits until the stream holds `expected` messages (and no more arrive for a moment).
pub(crate) async fn wait_for_stream(nats: &NatsServer, expected: u64) -> jetstream::stream::Stream {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let context = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(mut stream) = context.get_stream(STREAM).await {
            let messages = stream.info().await.unwrap().state.messages;
            assert!(
                messages <= expected,
                "the stream holds {messages} > {expected}: duplicates"
            );
            if messages == expected {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let again = stream.info().await.unwrap().state.messages;
                assert_eq!(again, expected, "more messages than events");
                return stream;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the stream did not reach {expected} messages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every message of the stream, in stream order: (subject, Nats-Msg-Id, body).
pub(crate) async fn read_all(
    stream: &jetstream::stream::Stream,
    count: u64,
) -> Vec<(String, String, Value)> {
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .expect("the consumer stalled")
            .unwrap()
            .unwrap();
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        let id = body["id"].as_str().unwrap_or_default().to_string();
        out.push((message.subject.to_string(), id, body));
    }
    out
}

/// Each event exactly once; each aggregate's events in sequence order.
pub(crate) fn assert_complete_and_ordered(messages: &[(String, String, Value)], expected: u64) {
    assert_eq!(messages.len() as u64, expected);
    let ids: HashSet<&str> = messages.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), messages.len(), "a message id appears twice");
    let mut last: HashMap<String, i64> = HashMap::new();
    for (subject, id, body) in messages {
        let aggregate = format!(
            "{}:{}",
            body["aggregate_type"].as_str().unwrap(),
            body["aggregate_id"].as_str().unwrap()
        );
        let sequence = body["sequence"].as_i64().unwrap();
        assert_eq!(id, &format!("{aggregate}:{sequence}"));
        assert_eq!(
            subject,
            &format!(
                "xuexin.events.{}.{}",
                body["aggregate_type"].as_str().unwrap(),
                body["event_type"].as_str().unwrap()
            )
        );
        let previous = last.insert(aggregate.clone(), sequence).unwrap_or(0);
        assert_eq!(sequence, previous + 1, "{aggregate} out of order");
    }
}

async fn every_event_reaches_the_stream_once_in_order_and_masked(backend: Backend) {
    let nats = NatsServer::start();
    let app = nats_app(backend, Some(&nats)).await;
    let people = [Person::random(), Person::random()];
    for person in &people {
        app.register_ok(person).await;
        app.login_ok(&person.phone, &person.password).await;
        app.login(&person.phone, "Wrong-Pass-1!").await;
    }
    // The failures are recorded just after their answers.
    app.settle_queued().await;
    let expected = event_count(&app).await;
    let stream = wait_for_stream(&nats, expected).await;
    let messages = read_all(&stream, expected).await;
    assert_complete_and_ordered(&messages, expected);
    // JetStream deduplicates on the Nats-Msg-Id header: the event's id.
    let stored = stream.get_raw_message(1).await.unwrap();
    let header = stored
        .headers
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.to_string());
    assert_eq!(header.as_deref(), messages[0].2["id"].as_str());
    let text: String = messages
        .iter()
        .map(|(_, _, body)| body.to_string())
        .collect();
    for person in &people {
        assert!(!text.contains(&person.phone[3..]), "a phone left unmasked");
        assert!(!text.contains(&person.document_number));
    }
    assert!(!text.contains("argon2"), "a password hash was published");
    assert!(!text.contains("client_ip"));
    let registered = messages
        .iter()
        .find(|(subject, _, _)| subject == "xuexin.events.Account.RegistrationStarted")
        .expect("registrations are published");
    let phone = registered.2["payload"]["RegistrationStarted"]["phone"]
        .as_str()
        .unwrap();
    assert!(phone.contains("****"), "{phone}");
    assert!(registered.2["time"].as_str().is_some());
    assert!(registered.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("account:"));
}

/// Appends `batches` × 200 events (login-name claims: no hashing), from another task.
fn append_in_background(app: &TestApp, batches: usize) -> tokio::task::JoinHandle<()> {
    let state = app.state.clone();
    tokio::spawn(async move {
        let metadata = xuexin::store::CommandMetadata::system("nats-fault-test");
        for _ in 0..batches {
            let account_id = AccountId::new_random();
            let commands: Vec<(String, LoginNameCommand)> = (0..200)
                .map(|_| {
                    let value = format!("fault-{}", uuid::Uuid::new_v4().simple());
                    (
                        login_name_id(LoginNameKind::Staff, &value).to_string(),
                        LoginNameCommand::Claim {
                            account_id,
                            kind: LoginNameKind::Staff,
                            value,
                        },
                    )
                })
                .collect();
            // Commands keep succeeding whatever NATS is doing.
            let outcome = state
                .store
                .execute_batch::<LoginName>(&commands, &(), &metadata)
                .await;
            assert!(outcome.is_ok(), "an append failed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

async fn a_nats_server_killed_mid_run_loses_and_duplicates_nothing(backend: Backend) {
    let mut nats = NatsServer::start();
    let app = nats_app(backend, Some(&nats)).await;
    let appending = append_in_background(&app, 50);
    // Let some of it through, then take NATS away while appends go on.
    while event_count(&app).await < 2_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nats.kill();
    let at_kill = event_count(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        event_count(&app).await > at_kill,
        "commands stopped while NATS was down"
    );
    nats.restart();
    appending.await.unwrap();
    let expected = event_count(&app).await;
    assert!(expected >= 10_000);
    let stream = wait_for_stream(&nats, expected).await;
    let messages = read_all(&stream, expected).await;
    assert_complete_and_ordered(&messages, expected);
}

async fn a_relay_killed_mid_run_loses_and_duplicates_nothing(backend: Backend) {
    let nats = NatsServer::start();
    // The service without a relay; the relay runs as its own process.
    let app = nats_app(backend, None).await;
    let relay = |app: &TestApp| {
        KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_xuexin"))
                .arg("relay")
                .env("DATABASE_URL", &app.database_url)
                .env("NATS_URL", nats.url())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut first = relay(&app);
    let appending = append_in_background(&app, 50);
    // Wait until the relay has published part of the log, then kill it without warning.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let context = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = context.get_stream(STREAM).await {
            if stream.info().await.unwrap().state.messages >= 3_000 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the relay published nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = relay(&app);
    appending.await.unwrap();
    let expected = event_count(&app).await;
    let stream = wait_for_stream(&nats, expected).await;
    let messages = read_all(&stream, expected).await;
    assert_complete_and_ordered(&messages, expected);
    drop(second);
}

/// A child process that dies with the test, even when an assertion fails first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
