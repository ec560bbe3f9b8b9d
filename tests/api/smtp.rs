//! Verification mail over a real SMTP conversation, with a local aiosmtpd server.

use crate::helpers::{spawn_app_with, Backend, Person};
use crate::on_both_backends;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xuexin::config::MailConfig;

on_both_backends!(the_verification_mail_goes_out_over_smtp_and_its_link_works);

struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sink() -> Sink {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
    let mut child = Command::new("python3")
        .args([script, &port.to_string(), dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the SMTP sink");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim() != "ready" {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
        panic!("the SMTP sink did not start (pip install aiosmtpd; .ci/run does): {err}");
    }
    Sink { child, port, dir }
}

async fn the_verification_mail_goes_out_over_smtp_and_its_link_works(backend: Backend) {
    let sink = start_sink();
    let port = sink.port;
    let app = spawn_app_with(backend, move |config| {
        config.mail = MailConfig::Smtp {
            url: format!("smtp://127.0.0.1:{port}"),
        };
    })
    .await;
    let person = Person::random();
    app.register_ok(&person).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let mail: Value = loop {
        let found = std::fs::read_dir(sink.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "json"));
        if let Some(entry) = found {
            break serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        }
        assert!(Instant::now() < deadline, "no mail reached the SMTP server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(mail["to"], json!([person.email]));
    assert_eq!(mail["subject"], "学信网 CHSI 邮箱验证");
    let body = mail["body"].as_str().unwrap();
    let start = body.find("token=").unwrap() + 6;
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    // Nothing was captured locally: the mail really went out.
    assert!(app.outbox(&person.email).await.is_empty());

    app.confirm_email_ok(&token).await;
}
