//! Single sign-on (issue 17): how many second-platform sign-ins a node completes per second
//! for a person with a live xuexin session, as a ratio to what the same machine's cores do
//! with RS256 signatures alone (target ≥ 0.5), and the token endpoint's p99 while logins load
//! the node. A sign-in is the platform's whole round: the authorization request (the session
//! cookie, no password) → the code → the token endpoint (client_secret_basic, PKCE) → the ID
//! token's signature checked against the JWKS.

use crate::load::{closed_loop, paced, round2};
use crate::loader::{DIGEST_KEY_HEX, PASSWORD};
use crate::service::Service;
use crate::support::{fresh_postgres, xuexin_binary};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, Verifier};
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REDIRECT: &str = "https://yz.example.cn/callback";
/// The person who signs in to the platform.
const PERSON: &str = "13912340000";
/// The people whose logins load the node (each client its own, so that no two logins race
/// on one account).
fn loader(i: usize) -> String {
    format!("139123{:05}", 1 + i)
}
/// A fixed PKCE pair (RFC 7636 appendix B): the bench measures the provider, not the RNG.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// RS256 signatures per second on every core, with the blinding the service signs with.
pub fn rs256_limit(seconds: u64) -> f64 {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("a key");
    let signer = SigningKey::<rsa::sha2::Sha256>::new(key);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let signer = signer.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let message = [7u8; 600];
                while Instant::now() < until {
                    let _ = signer.sign_with_rng(&mut rsa::rand_core::OsRng, &message);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

/// The browser: a session cookie from the login form, and the consent given once.
async fn browser_session(client: &reqwest::Client, service: &Service) -> anyhow::Result<String> {
    let login = client.get(service.url("/login")).send().await?;
    let csrf_cookie = cookie(&login, "xuexin_csrf").context("no CSRF cookie")?;
    let page = login.text().await?;
    let csrf = hidden(&page, "csrf").context("no CSRF field")?;
    let answer = client
        .post(service.url("/login"))
        .header("cookie", format!("xuexin_csrf={csrf_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", PERSON),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    let session = cookie(&answer, "xuexin_session").context("the login opened no session")?;
    let cookies = format!("xuexin_csrf={csrf_cookie}; xuexin_session={session}");
    // The first sign-in asks for consent; the measured ones do not.
    let start = client
        .get(authorize_url(service))
        .header("cookie", &cookies)
        .send()
        .await?;
    let consent = location(&start)?;
    anyhow::ensure!(
        consent.starts_with("/oauth2/consent"),
        "expected the consent page: {consent}"
    );
    let sso = consent.split("sso=").nth(1).unwrap_or("").to_string();
    let allowed = client
        .post(service.url("/oauth2/consent"))
        .header("cookie", &cookies)
        .form(&[
            ("csrf", csrf.as_str()),
            ("sso", sso.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        location(&allowed)?.starts_with(REDIRECT),
        "the consent did not go back"
    );
    Ok(cookies)
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &page[page.find(&marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    Ok(response
        .headers()
        .get("location")
        .context("no redirect")?
        .to_str()?
        .to_string())
}

fn authorize_url(service: &Service) -> String {
    service.url(&format!(
        "/oauth2/authorize?response_type=code&client_id=yz&scope=openid%20profile&redirect_uri={}&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
        "https%3A%2F%2Fyz.example.cn%2Fcallback"
    ))
}

/// The platform's verification key, from the JWKS.
async fn jwks_key(client: &reqwest::Client, service: &Service) -> anyhow::Result<RsaPublicKey> {
    let jwks: Value = client
        .get(service.url("/oauth2/jwks"))
        .send()
        .await?
        .json()
        .await?;
    let key = &jwks["keys"][0];
    let number = |name: &str| -> anyhow::Result<rsa::BigUint> {
        Ok(rsa::BigUint::from_bytes_be(
            &B64.decode(key[name].as_str().context("a JWK member")?)?,
        ))
    };
    Ok(RsaPublicKey::new(number("n")?, number("e")?)?)
}

/// One second-platform sign-in, start to verified ID token.
async fn sign_in(
    client: &reqwest::Client,
    service: &Service,
    cookies: &str,
    secret: &str,
    key: &VerifyingKey<rsa::sha2::Sha256>,
) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let back = client
        .get(authorize_url(service))
        .header("cookie", cookies)
        .send()
        .await?;
    let to = location(&back)?;
    let code = to
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .context("no code")?
        .to_string();
    let authorize_time = started.elapsed();
    let started = Instant::now();
    let answer = client
        .post(service.url("/oauth2/token"))
        .basic_auth("yz", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await?;
    let token_time = started.elapsed();
    anyhow::ensure!(
        answer.status().is_success(),
        "the token endpoint answered {}",
        answer.status()
    );
    let tokens: Value = answer.json().await?;
    let id_token = tokens["id_token"].as_str().context("no ID token")?;
    let parts: Vec<&str> = id_token.split('.').collect();
    anyhow::ensure!(parts.len() == 3, "not a compact JWS");
    let signature = Signature::try_from(B64.decode(parts[2])?.as_slice())?;
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| anyhow::anyhow!("the ID token's signature does not verify"))?;
    Ok((authorize_time, token_time))
}

pub async fn run(seconds: u64) -> anyhow::Result<Value> {
    eprintln!("== sso: RS256 signatures alone, {seconds} s on every core");
    let limit = rs256_limit(seconds);
    eprintln!("  {limit:.0} signatures/s");
    let database = fresh_postgres("sso").await?;
    let service = Service::start_with(
        &database,
        None,
        &[
            ("XUEXIN_LOGIN_FAILURES_PER_IP_HOURLY", "1000000000"),
            ("XUEXIN_REQUEST_TIMEOUT_SECONDS", "120"),
        ],
    )
    .await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let clients = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::timing::register_as(&client, &service, PERSON, "sso-person@example.com", 515_000)
        .await?;
    for i in 0..clients {
        let email = format!("sso-load-{i}@example.com");
        crate::timing::register_as(&client, &service, &loader(i), &email, 515_001 + i).await?;
    }
    let added = std::process::Command::new(xuexin_binary()?)
        .args([
            "admin",
            "platform",
            "add",
            "--client-id",
            "yz",
            "--name",
            "研究生招生信息网",
        ])
        .args(["--redirect-uri", REDIRECT, "--json"])
        .env("DATABASE_URL", &database)
        .env("XUEXIN_DIGEST_KEY", DIGEST_KEY_HEX)
        .env("RUST_LOG", "warn")
        .output()?;
    anyhow::ensure!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let secret = serde_json::from_slice::<Value>(&added.stdout)?["client_secret"]
        .as_str()
        .context("no client secret")?
        .to_string();
    let cookies = browser_session(&client, &service).await?;
    let key = VerifyingKey::<rsa::sha2::Sha256>::new(jwks_key(&client, &service).await?);
    let shared = Arc::new((client.clone(), cookies, secret, key));

    eprintln!("== sso: second-platform sign-ins, {clients} clients, {seconds} s");
    let service_ref = Arc::new(service);
    let run_sign_ins = |duration: Duration| {
        let shared = shared.clone();
        let service = service_ref.clone();
        closed_loop(clients, duration, move |_, _| {
            let shared = shared.clone();
            let service = service.clone();
            async move {
                let (client, cookies, secret, key) = &*shared;
                sign_in(client, &service, cookies, secret, key)
                    .await
                    .is_ok()
            }
        })
    };
    // Warm up, then measure.
    run_sign_ins(Duration::from_secs(2)).await;
    let measured = run_sign_ins(Duration::from_secs(seconds)).await;
    let rate = measured.per_second();
    eprintln!("  {rate:.1} sign-ins/s ({} failed)", measured.failed);
    // Where a sign-in's time goes, one at a time on an idle node.
    let (client_ref, cookies_ref, secret_ref, key_ref) = &*shared;
    let (mut authorize_alone, mut token_alone) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let (a, t) = sign_in(client_ref, &service_ref, cookies_ref, secret_ref, key_ref).await?;
        authorize_alone.push(a);
        token_alone.push(t);
    }
    let authorize_alone = crate::load::Latencies(authorize_alone);
    let token_alone = crate::load::Latencies(token_alone);
    eprintln!(
        "  alone: authorize → code p50 {:.1} ms, token p50 {:.1} ms",
        authorize_alone.percentile_ms(50.0),
        token_alone.percentile_ms(50.0)
    );

    // The token endpoint's p99 while logins (argon2id) load the node: one paced platform.
    eprintln!("== sso: token endpoint p99 under the login load, {seconds} s");
    let login_load = {
        let client = client.clone();
        let url = service_ref.url("/api/v1/sessions");
        tokio::spawn(closed_loop(
            clients,
            Duration::from_secs(seconds),
            move |c, _| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    client
                        .post(&url)
                        .json(&json!({"login": loader(c), "password": PASSWORD}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            },
        ))
    };
    let (client, cookies, secret, key) = &*shared;
    let token_times = std::sync::Mutex::new(Vec::new());
    let (times, service) = (&token_times, &*service_ref);
    let (_, failures) = paced(
        Duration::from_millis(50),
        Duration::from_secs(seconds),
        None,
        move |_| async move {
            match sign_in(client, service, cookies, secret, key).await {
                Ok((_, took)) => {
                    if let Ok(mut times) = times.lock() {
                        times.push(took);
                    }
                    true
                }
                Err(_) => false,
            }
        },
    )
    .await;
    let logins = login_load.await?;
    let token_latencies = crate::load::Latencies(token_times.into_inner().unwrap_or_default());
    eprintln!(
        "  token p99 {:.1} ms under {:.1} logins/s ({failures} failed sign-ins)",
        token_latencies.percentile_ms(99.0),
        logins.per_second()
    );
    if let Ok(service) = Arc::try_unwrap(service_ref) {
        service.stop();
    }
    Ok(json!({
        "rs256_signatures_per_s": round2(limit),
        "sign_ins_per_s": round2(rate),
        "sign_in_failures": measured.failed,
        "ratio": round2(rate / limit),
        "token_under_login_load": token_latencies.summary(),
        "authorize_alone": authorize_alone.summary(),
        "token_alone": token_alone.summary(),
        "logins_per_s_during": round2(logins.per_second()),
        "clients": clients,
    }))
}

/// The rows of docs/benchmarks.md for the SSO results.
pub fn table(r: &Value) -> String {
    let ratio = r["ratio"].as_f64().unwrap_or(f64::NAN);
    let p99 = r["token_under_login_load"]["p99_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    [
        "| row | measured | limit | ratio | target | |".to_string(),
        "|---|---:|---:|---:|---:|---|".to_string(),
        format!(
            "| second-platform sign-ins/s (authorize → code → token → ID-token check) ÷ RS256 signatures/s alone | {} | {} | {} | ≥ 0.5 | {} |",
            r["sign_ins_per_s"],
            r["rs256_signatures_per_s"],
            r["ratio"],
            if ratio >= 0.5 { "met" } else { "MISSED" }
        ),
        format!(
            "| token endpoint p50 / p99 ms under the login load ({} logins/s) | {} / {} | | | — | {} |",
            r["logins_per_s_during"],
            r["token_under_login_load"]["p50_ms"],
            r["token_under_login_load"]["p99_ms"],
            if p99.is_finite() { "measured" } else { "—" }
        ),
    ]
    .join("\n")
}
