//! The OpenID provider's signing keys (issue 17): RS256 keys made at first use, stored sealed
//! (ChaCha20-Poly1305 under a key derived from the service key, the kid as associated data),
//! published as a JWKS, and rotated with an overlap: a retired key stays published until the
//! last token it signed has expired. A private key never reaches an event or a log.

use super::DigestKey;
use anyhow::{anyhow, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use xuexin_domain::time::Clock;
use xuexin_projections::{db_execute, on_db, Db};

/// RSA modulus size of new keys.
const KEY_BITS: usize = 2048;
/// How long a node trusts its copy of the key table (a rotation elsewhere reaches it within).
const CACHE_FOR: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct StoredKey {
    kid: String,
    public: RsaPublicKey,
    private: Arc<RsaPrivateKey>,
    jwk: Value,
    retired_at: Option<i64>,
    published_until: Option<i64>,
}

#[derive(Default)]
struct Cache {
    loaded_at: Option<Instant>,
    /// Newest first.
    keys: Vec<StoredKey>,
}

/// The key table and this node's decrypted copy of it.
#[derive(Clone)]
pub struct SigningKeys {
    db: Db,
    seal_key: Arc<Key>,
    clock: Arc<dyn Clock>,
    cache: Arc<RwLock<Cache>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeys(***)")
    }
}

/// One published key, as `xuexin admin keys list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub published_until: Option<i64>,
}

impl SigningKeys {
    pub fn new(db: Db, digest: &DigestKey, clock: Arc<dyn Clock>) -> Self {
        // 32 bytes: the hex digest of a fixed purpose under the service key.
        let derived = hex::decode(digest.digest("signing-key-seal", b"")).unwrap_or_default();
        Self {
            db,
            seal_key: Arc::new(*Key::from_slice(&derived[..32])),
            clock,
            cache: Arc::new(RwLock::new(Cache::default())),
        }
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&self.seal_key)
    }

    fn seal(&self, kid: &str, secret: &[u8]) -> anyhow::Result<String> {
        let nonce = super::random_bytes::<12>();
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| anyhow!("failed to seal a signing key"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(B64.encode(out))
    }

    fn open(&self, kid: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = B64.decode(sealed).context("a sealed key is not base64")?;
        if bytes.len() < 12 {
            anyhow::bail!("a sealed key is too short");
        }
        let (nonce, body) = bytes.split_at(12);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow!("signing key {kid} does not open under this service key (was XUEXIN_DIGEST_KEY changed?)")
            })
    }

    /// Reads the key table into the cache if the copy is older than `CACHE_FOR` (or `force`).
    async fn refresh(&self, force: bool) -> anyhow::Result<()> {
        {
            let cache = self.cache.read().await;
            if !force && cache.loaded_at.is_some_and(|at| at.elapsed() < CACHE_FOR) {
                return Ok(());
            }
        }
        type Row = (String, String, String, Option<i64>, Option<i64>);
        let rows: Vec<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kid, sealed_private, public_jwk, retired_at, published_until
                 FROM signing_keys ORDER BY created_at DESC, kid DESC",
            )
            .fetch_all(pool)
            .await
            .context("failed to read the signing keys")?
        });
        let mut keys = Vec::with_capacity(rows.len());
        for (kid, sealed, jwk, retired_at, published_until) in rows {
            let der = self.open(&kid, &sealed)?;
            let private = RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| anyhow!("signing key {kid} is not a PKCS#8 RSA key"))?;
            keys.push(StoredKey {
                public: private.to_public_key(),
                private: Arc::new(private),
                jwk: serde_json::from_str(&jwk).context("a stored JWK is not JSON")?,
                kid,
                retired_at,
                published_until,
            });
        }
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.loaded_at = Some(Instant::now());
        Ok(())
    }

    /// Makes and stores a new key; answers its kid.
    async fn generate(&self) -> anyhow::Result<String> {
        let private = tokio::task::spawn_blocking(|| {
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
        })
        .await
        .context("key generation stopped")?
        .map_err(|error| anyhow!("failed to generate a key: {error}"))?;
        let public = private.to_public_key();
        let n = B64.encode(public.n().to_bytes_be());
        let e = B64.encode(public.e().to_bytes_be());
        // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = B64.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        let der = private
            .to_pkcs8_der()
            .map_err(|_| anyhow!("failed to encode a key"))?;
        let sealed = self.seal(&kid, der.as_bytes())?;
        db_execute!(
            &self.db,
            "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, created_at)
             VALUES ($1, 'RS256', $2, $3, $4)",
            &kid,
            sealed,
            jwk.to_string(),
            self.clock.now().millis(),
        )
        .context("failed to store a signing key")?;
        tracing::info!(kid, "made a new ID-token signing key");
        Ok(kid)
    }

    /// The key that signs now: the newest one not retired, made at first use.
    async fn current(&self) -> anyhow::Result<StoredKey> {
        self.refresh(false).await?;
        if let Some(key) = self.newest_active().await {
            return Ok(key);
        }
        // Two nodes may both make one at the very first use; both are published and the
        // newest signs, so either's tokens verify.
        self.generate().await?;
        self.refresh(true).await?;
        self.newest_active()
            .await
            .ok_or_else(|| anyhow!("no signing key after making one"))
    }

    async fn newest_active(&self) -> Option<StoredKey> {
        let cache = self.cache.read().await;
        cache.keys.iter().find(|k| k.retired_at.is_none()).cloned()
    }

    /// Makes the signing key if there is none yet (at start, so the first sign-in does not wait).
    pub async fn ensure(&self) -> anyhow::Result<String> {
        Ok(self.current().await?.kid)
    }

    /// The published keys: the current ones and the retired ones still within their overlap.
    pub async fn jwks(&self) -> anyhow::Result<Value> {
        self.current().await?;
        let now = self.clock.now().millis();
        let cache = self.cache.read().await;
        let keys: Vec<&Value> = cache
            .keys
            .iter()
            .filter(|k| k.published_until.is_none_or(|until| until > now))
            .map(|k| &k.jwk)
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// `claims` as a compact JWS (RS256), with the signing key's kid in the header.
    pub async fn sign(&self, typ: &str, claims: &Value) -> anyhow::Result<String> {
        let key = self.current().await?;
        let header = json!({"alg": "RS256", "typ": typ, "kid": key.kid});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signer = SigningKey::<Sha256>::new((*key.private).clone());
        let signature = signer
            .try_sign_with_rng(&mut rsa::rand_core::OsRng, input.as_bytes())
            .map_err(|_| anyhow!("failed to sign a token"))?;
        Ok(format!("{input}.{}", B64.encode(signature.to_bytes())))
    }

    /// The claims of a token this service signed with any key it has made (retired ones too:
    /// an `id_token_hint` may be old), or None if the signature does not verify. Times are the
    /// caller's to check.
    pub async fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, body, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header["alg"] != "RS256" {
            return None;
        }
        let kid = header["kid"].as_str()?;
        let mut key = self.key(kid).await;
        if key.is_none() && self.refresh(true).await.is_ok() {
            key = self.key(kid).await;
        }
        let key = key?;
        let signature = Signature::try_from(B64.decode(signature).ok()?.as_slice()).ok()?;
        VerifyingKey::<Sha256>::new(key.public.clone())
            .verify(
                format!("{}.{body}", parts_head(token)?).as_bytes(),
                &signature,
            )
            .ok()?;
        serde_json::from_slice(&B64.decode(body).ok()?).ok()
    }

    async fn key(&self, kid: &str) -> Option<StoredKey> {
        if self.refresh(false).await.is_err() {
            return None;
        }
        let cache = self.cache.read().await;
        cache.keys.iter().find(|k| k.kid == kid).cloned()
    }

    /// A new signing key; the ones it replaces stay published for `overlap` (the longest
    /// lifetime of a token they signed). Answers the new kid and the retired ones.
    pub async fn rotate(&self, overlap: Duration) -> anyhow::Result<(String, Vec<String>)> {
        self.refresh(true).await?;
        let retiring: Vec<String> = {
            let cache = self.cache.read().await;
            cache
                .keys
                .iter()
                .filter(|k| k.retired_at.is_none())
                .map(|k| k.kid.clone())
                .collect()
        };
        let kid = self.generate().await?;
        let now = self.clock.now().millis();
        for old in &retiring {
            db_execute!(
                &self.db,
                "UPDATE signing_keys SET retired_at = $1, published_until = $2
                 WHERE kid = $3 AND retired_at IS NULL",
                now,
                now + overlap.as_millis() as i64,
                old,
            )
            .context("failed to retire a signing key")?;
        }
        self.refresh(true).await?;
        Ok((kid, retiring))
    }

    /// Every key with its dates, newest first.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyInfo>> {
        type Row = (String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kid, created_at, retired_at, published_until FROM signing_keys
                 ORDER BY created_at DESC, kid DESC",
            )
            .fetch_all(pool)
            .await
            .context("failed to read the signing keys")?
        });
        Ok(rows
            .into_iter()
            .map(|(kid, created_at, retired_at, published_until)| KeyInfo {
                kid,
                created_at,
                retired_at,
                published_until,
            })
            .collect())
    }
}

/// `header.` part of a compact JWS, without the body and signature.
fn parts_head(token: &str) -> Option<&str> {
    token.split('.').next()
}
