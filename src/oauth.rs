//! WeChat and Alipay login (seed 000: 微信登录、支付宝登录): the OAuth 2.0 authorization-code
//! flows the two platforms document.
//!
//! - WeChat (网站应用微信登录): the browser goes to `qrconnect?appid&redirect_uri&response_type=code
//!   &scope=snsapi_login&state`; the callback's `code` is exchanged at
//!   `/sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code` for an
//!   `access_token` and the user's `openid` (and `unionid`, used when present).
//! - Alipay (用户信息授权): the browser goes to `publicAppAuthorize.htm?app_id&scope=auth_user
//!   &redirect_uri&state`; the callback's `auth_code` is exchanged through the gateway method
//!   `alipay.system.oauth.token`, a request signed RSA2 (SHA256withRSA) with the app's private
//!   key, whose response is verified with Alipay's public key; it names the `user_id`.
//!
//! `state` is random, single use, ten minutes, stored hashed and bound to the browser that
//! started the flow (a cookie) and, for a bind, to the logged-in account.

use crate::security::{new_token, token_hash};
use anyhow::Context;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use xuexin_domain::ids::LoginNameKind;
use xuexin_domain::Timestamp;
use xuexin_projections::{db_execute, on_db, Db};

pub const STATE_SECONDS: i64 = 600;
/// The cookie that ties a flow to the browser that started it.
pub const BROWSER_COOKIE: &str = "xuexin_oauth_browser";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    WeChat,
    Alipay,
}

impl Provider {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "wechat" => Some(Self::WeChat),
            "alipay" => Some(Self::Alipay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WeChat => "wechat",
            Self::Alipay => "alipay",
        }
    }

    pub fn login_name_kind(self) -> LoginNameKind {
        match self {
            Self::WeChat => LoginNameKind::WeChat,
            Self::Alipay => LoginNameKind::Alipay,
        }
    }

    /// The platform's name in the current request's language.
    pub fn label(self) -> &'static str {
        crate::messages::text(match self {
            Self::WeChat => "provider.wechat",
            Self::Alipay => "provider.alipay",
        })
    }
}

#[derive(Clone, Debug)]
pub struct WeChatConfig {
    pub app_id: String,
    pub secret: String,
    /// Default `https://open.weixin.qq.com/connect/qrconnect`.
    pub authorize_url: String,
    /// Default `https://api.weixin.qq.com`.
    pub api_url: String,
}

#[derive(Clone, Debug)]
pub struct AlipayConfig {
    pub app_id: String,
    /// The app's RSA private key: PKCS#8 or PKCS#1, base64 DER, PEM armour optional.
    pub private_key: String,
    /// Alipay's RSA public key (SubjectPublicKeyInfo, base64 DER, PEM armour optional).
    pub alipay_public_key: String,
    /// Default `https://openauth.alipay.com/oauth2/publicAppAuthorize.htm`.
    pub authorize_url: String,
    /// Default `https://openapi.alipay.com/gateway.do`.
    pub gateway_url: String,
}

/// What a provider can answer for a code.
#[derive(Debug)]
pub enum ExchangeError {
    /// The provider refused the code (wrong, expired, used): the person should try again.
    Rejected(String),
    /// Unreachable, malformed, or a response whose signature does not verify.
    Provider(anyhow::Error),
}

fn der_of(text: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .context("the key is not base64")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub struct WeChat {
    config: WeChatConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct WeChatToken {
    errcode: Option<i64>,
    errmsg: Option<String>,
    openid: Option<String>,
    unionid: Option<String>,
}

impl WeChat {
    pub fn new(config: WeChatConfig) -> anyhow::Result<Self> {
        Ok(Self {
            config,
            client: http_client()?,
        })
    }

    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}?appid={}&redirect_uri={}&response_type=code&scope=snsapi_login&state={}#wechat_redirect",
            self.config.authorize_url,
            percent_encode(&self.config.app_id),
            percent_encode(redirect_uri),
            percent_encode(state),
        )
    }

    /// `code` → the user's unionid (or openid).
    #[tracing::instrument(skip_all)]
    pub async fn exchange(&self, code: &str) -> Result<String, ExchangeError> {
        let url = format!(
            "{}/sns/oauth2/access_token",
            self.config.api_url.trim_end_matches('/')
        );
        let response = self
            .client
            .get(&url)
            .query(&[
                ("appid", self.config.app_id.as_str()),
                ("secret", self.config.secret.as_str()),
                ("code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(crate::gateways::redact::http)
            .context("WeChat is unreachable")
            .map_err(ExchangeError::Provider)?;
        if !response.status().is_success() {
            return Err(ExchangeError::Provider(anyhow::anyhow!(
                "WeChat answered {}",
                response.status()
            )));
        }
        let token: WeChatToken = response
            .json()
            .await
            .map_err(crate::gateways::redact::http)
            .context("WeChat's answer is not the documented JSON")
            .map_err(ExchangeError::Provider)?;
        if let Some(code) = token.errcode.filter(|c| *c != 0) {
            return Err(ExchangeError::Rejected(format!(
                "{code} {}",
                token.errmsg.unwrap_or_default()
            )));
        }
        token
            .unionid
            .filter(|u| !u.is_empty())
            .or(token.openid.filter(|o| !o.is_empty()))
            .ok_or_else(|| ExchangeError::Provider(anyhow::anyhow!("WeChat named no openid")))
    }
}

pub struct Alipay {
    config: AlipayConfig,
    signing_key: SigningKey<Sha256>,
    alipay_key: VerifyingKey<Sha256>,
    client: reqwest::Client,
}

/// The gateway's answer: the method's response object and the signature over its exact text.
#[derive(Deserialize)]
struct AlipayEnvelope<'a> {
    #[serde(borrow)]
    alipay_system_oauth_token_response: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    error_response: Option<&'a serde_json::value::RawValue>,
    sign: Option<String>,
}

#[derive(Deserialize)]
struct AlipayToken {
    code: Option<String>,
    msg: Option<String>,
    sub_code: Option<String>,
    user_id: Option<String>,
    open_id: Option<String>,
}

/// Alipay's signing string: every non-empty parameter but `sign`, sorted by name, `k=v&…`.
pub fn alipay_sign_content(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Alipay {
    pub fn new(config: AlipayConfig) -> anyhow::Result<Self> {
        let der = der_of(&config.private_key).context("XUEXIN_ALIPAY_PRIVATE_KEY")?;
        let private = RsaPrivateKey::from_pkcs8_der(&der)
            .or_else(|_| {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                RsaPrivateKey::from_pkcs1_der(&der)
            })
            .context("XUEXIN_ALIPAY_PRIVATE_KEY is not an RSA private key (PKCS#8 or PKCS#1)")?;
        let public_der = der_of(&config.alipay_public_key).context("XUEXIN_ALIPAY_PUBLIC_KEY")?;
        let public = RsaPublicKey::from_public_key_der(&public_der)
            .context("XUEXIN_ALIPAY_PUBLIC_KEY is not an RSA public key")?;
        Ok(Self {
            config,
            signing_key: SigningKey::<Sha256>::new(private),
            alipay_key: VerifyingKey::<Sha256>::new(public),
            client: http_client()?,
        })
    }

    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}?app_id={}&scope=auth_user&redirect_uri={}&state={}",
            self.config.authorize_url,
            percent_encode(&self.config.app_id),
            percent_encode(redirect_uri),
            percent_encode(state),
        )
    }

    fn sign(&self, content: &str) -> anyhow::Result<String> {
        // Randomized: the private-key operation runs blinded (no timing of the key itself).
        let signature: Signature = self
            .signing_key
            .try_sign_with_rng(&mut rsa::rand_core::OsRng, content.as_bytes())
            .context("failed to sign an Alipay request")?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()))
    }

    fn verify(&self, content: &str, signature: &str) -> anyhow::Result<()> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .context("Alipay's signature is not base64")?;
        let signature = Signature::try_from(bytes.as_slice()).context("malformed signature")?;
        self.alipay_key
            .verify(content.as_bytes(), &signature)
            .context("Alipay's signature does not verify")
    }

    /// `auth_code` → the user's user_id (or open_id).
    #[tracing::instrument(skip_all)]
    pub async fn exchange(&self, auth_code: &str, now: Timestamp) -> Result<String, ExchangeError> {
        let mut params = BTreeMap::new();
        for (k, v) in [
            ("app_id", self.config.app_id.as_str()),
            ("method", "alipay.system.oauth.token"),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
            ("grant_type", "authorization_code"),
            ("code", auth_code),
        ] {
            params.insert(k.to_string(), v.to_string());
        }
        params.insert(
            "timestamp".into(),
            format!("{}:00", crate::messenger::beijing_time(now)),
        );
        let sign = self
            .sign(&alipay_sign_content(&params))
            .map_err(ExchangeError::Provider)?;
        params.insert("sign".into(), sign);
        let response = self
            .client
            .post(&self.config.gateway_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(
                serde_urlencoded::to_string(&params)
                    .map_err(|e| ExchangeError::Provider(e.into()))?,
            )
            .send()
            .await
            .map_err(crate::gateways::redact::http)
            .context("the Alipay gateway is unreachable")
            .map_err(ExchangeError::Provider)?;
        if !response.status().is_success() {
            return Err(ExchangeError::Provider(anyhow::anyhow!(
                "the Alipay gateway answered {}",
                response.status()
            )));
        }
        let text = response
            .text()
            .await
            .map_err(crate::gateways::redact::http)
            .context("failed to read the Alipay answer")
            .map_err(ExchangeError::Provider)?;
        let envelope: AlipayEnvelope<'_> = serde_json::from_str(&text)
            .context("the Alipay answer is not the documented JSON")
            .map_err(ExchangeError::Provider)?;
        let (raw, is_error) = match (
            envelope.alipay_system_oauth_token_response,
            envelope.error_response,
        ) {
            (Some(raw), _) => (raw, false),
            (None, Some(raw)) => (raw, true),
            (None, None) => {
                return Err(ExchangeError::Provider(anyhow::anyhow!(
                    "the Alipay answer has no response object"
                )))
            }
        };
        // The signature covers the response object's exact text.
        let sign = envelope.sign.ok_or_else(|| {
            ExchangeError::Provider(anyhow::anyhow!("the Alipay answer is not signed"))
        })?;
        self.verify(raw.get(), &sign)
            .map_err(ExchangeError::Provider)?;
        let token: AlipayToken = serde_json::from_str(raw.get())
            .context("the Alipay response object is malformed")
            .map_err(ExchangeError::Provider)?;
        let failed = is_error || token.code.as_deref().is_some_and(|c| c != "10000");
        if failed {
            return Err(ExchangeError::Rejected(format!(
                "{} {} {}",
                token.code.unwrap_or_default(),
                token.sub_code.unwrap_or_default(),
                token.msg.unwrap_or_default()
            )));
        }
        token
            .user_id
            .filter(|u| !u.is_empty())
            .or(token.open_id.filter(|o| !o.is_empty()))
            .ok_or_else(|| ExchangeError::Provider(anyhow::anyhow!("Alipay named no user_id")))
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("failed to build an HTTP client")
}

/// The configured providers.
#[derive(Default)]
pub struct Providers {
    pub wechat: Option<WeChat>,
    pub alipay: Option<Alipay>,
}

impl Providers {
    pub fn configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::WeChat => self.wechat.is_some(),
            Provider::Alipay => self.alipay.is_some(),
        }
    }

    pub fn authorize_url(
        &self,
        provider: Provider,
        redirect_uri: &str,
        state: &str,
    ) -> Option<String> {
        match provider {
            Provider::WeChat => self
                .wechat
                .as_ref()
                .map(|w| w.authorize_url(redirect_uri, state)),
            Provider::Alipay => self
                .alipay
                .as_ref()
                .map(|a| a.authorize_url(redirect_uri, state)),
        }
    }

    pub async fn exchange(
        &self,
        provider: Provider,
        code: &str,
        now: Timestamp,
    ) -> Result<String, ExchangeError> {
        let missing =
            || ExchangeError::Provider(anyhow::anyhow!("{} is not configured", provider.as_str()));
        match provider {
            Provider::WeChat => {
                self.wechat
                    .as_ref()
                    .ok_or_else(missing)?
                    .exchange(code)
                    .await
            }
            Provider::Alipay => {
                self.alipay
                    .as_ref()
                    .ok_or_else(missing)?
                    .exchange(code, now)
                    .await
            }
        }
    }
}

/// What a flow is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Login,
    Bind,
}

impl Purpose {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "login" => Some(Self::Login),
            "bind" => Some(Self::Bind),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Bind => "bind",
        }
    }
}

/// Records a new flow; returns its `state`.
pub async fn new_state(
    db: &Db,
    provider: Provider,
    purpose: Purpose,
    account_id: Option<&str>,
    browser: &str,
    now: Timestamp,
) -> anyhow::Result<(String, Timestamp)> {
    let state = new_token();
    let expires_at = now.plus_seconds(STATE_SECONDS);
    db_execute!(
        db,
        "INSERT INTO oauth_states (state_hash, provider, purpose, account_id, browser_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        token_hash(&state),
        provider.as_str(),
        purpose.as_str(),
        account_id,
        token_hash(browser),
        expires_at.millis(),
    )
    .context("failed to store an OAuth state")?;
    Ok((state, expires_at))
}

/// Uses a flow's `state` up if it is live, of this provider, and from this browser.
pub async fn take_state(
    db: &Db,
    provider: Provider,
    state: &str,
    browser: &str,
    now: Timestamp,
) -> anyhow::Result<Option<(Purpose, Option<String>)>> {
    let row: Option<(String, Option<String>)> = on_db!(db, pool => {
        sqlx::query_as(
            "UPDATE oauth_states SET consumed_at = $5
             WHERE state_hash = $1 AND provider = $2 AND browser_hash = $3 AND consumed_at IS NULL
               AND expires_at > $4
             RETURNING purpose, account_id",
        )
        .bind(token_hash(state))
        .bind(provider.as_str())
        .bind(token_hash(browser))
        .bind(now.millis())
        .bind(now.millis())
        .fetch_optional(pool)
        .await
        .context("failed to use an OAuth state")?
    });
    Ok(row.and_then(|(purpose, account)| Purpose::parse(&purpose).map(|p| (p, account))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_sorts_and_skips_sign_and_empty_values() {
        let params: BTreeMap<String, String> = [
            ("method", "alipay.system.oauth.token"),
            ("app_id", "2021"),
            ("sign", "xyz"),
            ("code", "c1"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            alipay_sign_content(&params),
            "app_id=2021&code=c1&method=alipay.system.oauth.token"
        );
    }

    #[test]
    fn redirect_uris_are_percent_encoded() {
        assert_eq!(
            percent_encode("http://127.0.0.1:8080/a?b=c"),
            "http%3A%2F%2F127.0.0.1%3A8080%2Fa%3Fb%3Dc"
        );
    }
}
