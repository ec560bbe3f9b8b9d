//! The service under test: the release `xuexin serve` as a child process, configured for a
//! benchmark (warnings-only logs, limits raised so that only the CPU and the database limit
//! the rate), and its memory read from /proc.

use crate::loader::DIGEST_KEY_HEX;
use crate::support::xuexin_binary;
use anyhow::Context;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Service {
    child: Child,
    pub base: String,
}

pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Service {
    /// Starts `xuexin serve --dev` on a free port and waits until /healthz answers.
    pub async fn start(database_url: &str, nats_url: Option<&str>) -> anyhow::Result<Self> {
        Self::start_with(database_url, nats_url, &[]).await
    }

    /// As `start`, with more settings (`extra` overrides the ones above).
    pub async fn start_with(
        database_url: &str,
        nats_url: Option<&str>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(xuexin_binary()?);
        command
            .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("XUEXIN_DIGEST_KEY", DIGEST_KEY_HEX)
            .env("RUST_LOG", "warn")
            .env("XUEXIN_SMS_PER_IP_HOURLY", "100000000")
            .env("XUEXIN_SMS_PER_PHONE_DAILY", "100000000")
            .env("XUEXIN_REGISTRATIONS_PER_IP_HOURLY", "100000000")
            .env("XUEXIN_EMAIL_RESEND_PER_IP_HOURLY", "100000000")
            .env("XUEXIN_EMAIL_RESEND_PER_ACCOUNT_PER_MINUTE", "100000000")
            // Every client is 127.0.0.1: a login counts against this before its password is
            // checked, so 32 logins in flight would otherwise be refused with 429. (The limit
            // per address and account stays: the logins pick random accounts.)
            .env("XUEXIN_LOGIN_FAILURES_PER_IP_HOURLY", "100000000")
            .env("XUEXIN_HASH_QUEUE", "1024")
            // The load generator stands in for a proxy: it names each client's address.
            .env("XUEXIN_TRUST_FORWARDED_FOR", "true")
            // The OpenID issuer is the address the service answers on.
            .env("XUEXIN_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command.envs(extra.iter().copied());
        if let Some(url) = nats_url {
            command
                .env("NATS_URL", url)
                .env("XUEXIN_NATS_STREAM", crate::nats::STREAM);
        }
        let child = command.spawn().context("failed to start xuexin serve")?;
        let service = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", service.base)).send().await {
                if response.status().is_success() {
                    return Ok(service);
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "xuexin serve did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Current resident set (VmRSS), KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Peak resident set since the process started (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples a process's VmRSS every 50 ms until stopped; answers the highest value seen.
pub struct RssSampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(proc_status_kib(pid, "VmRSS:"));
                tokio::select! {
                    _ = stopped.changed() => return peak,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}
