//! The identity-verification provider behind 实人验证 (real-person check). Protocol:
//!
//! - start: `POST {url}/sessions` with `{"reference", "callback_url"}`, signed like a callback;
//!   the provider answers `{"session_id", "verify_url"}` (the page or app link for the person);
//! - result: the provider calls `POST /api/v1/identity/liveness/callback` with
//!   `{"session_id", "result": "pass" | "fail"}` and the headers `X-Xuexin-Timestamp` (Unix
//!   seconds) and `X-Xuexin-Signature`, the hex HMAC-SHA256 of `"{timestamp}.{body}"` under the
//!   shared secret. Callbacks older than five minutes are refused, and a session takes one
//!   result only, so a replayed callback changes nothing.

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "x-xuexin-signature";
pub const TIMESTAMP_HEADER: &str = "x-xuexin-timestamp";
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length")
}

/// The signature of a message: hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a callback is signed with the secret and recent (constant-time comparison).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_seconds: i64,
) -> bool {
    let Ok(sent_at) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now_seconds - sent_at).abs() > MAX_CLOCK_SKEW_SECONDS {
        return false;
    }
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(sent_at.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[derive(Debug, Deserialize)]
pub struct StartedSession {
    pub session_id: String,
    pub verify_url: String,
}

pub struct LivenessProvider {
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl LivenessProvider {
    pub fn new(url: String, secret: Vec<u8>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("failed to build the liveness HTTP client")?;
        Ok(Self {
            client,
            url,
            secret,
        })
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    #[tracing::instrument(skip_all)]
    pub async fn start(
        &self,
        reference: &str,
        callback_url: &str,
        now_seconds: i64,
    ) -> anyhow::Result<StartedSession> {
        let body = serde_json::to_vec(&serde_json::json!({
            "reference": reference,
            "callback_url": callback_url,
        }))?;
        let response = self
            .client
            .post(format!("{}/sessions", self.url.trim_end_matches('/')))
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, now_seconds.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret, now_seconds, &body))
            .body(body)
            .send()
            .await
            .map_err(super::redact::http)
            .context("the identity-verification provider is unreachable")?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "the identity-verification provider answered {status}"
        );
        response
            .json()
            .await
            .map_err(super::redact::http)
            .context("the identity-verification provider's answer is not understood")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_check_the_secret_the_body_and_the_time() {
        let body = br#"{"session_id":"s1","result":"pass"}"#;
        let signature = sign(b"secret", 1_000, body);
        assert!(verify(b"secret", "1000", &signature, body, 1_100));
        assert!(!verify(b"other", "1000", &signature, body, 1_100));
        assert!(!verify(
            b"secret",
            "1000",
            &signature,
            br#"{"session_id":"s1","result":"fail"}"#,
            1_100
        ));
        assert!(!verify(
            b"secret",
            "1000",
            &signature,
            body,
            1_000 + MAX_CLOCK_SKEW_SECONDS + 1
        ));
        assert!(!verify(b"secret", "1001", &signature, body, 1_100));
    }
}
