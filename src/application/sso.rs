//! Single sign-on for the partner platforms (issue 17): xuexin as their OpenID Connect
//! provider. The authorization request is checked and kept (`sso_requests`) while the person
//! logs in and consents; a code (60 s, single use, bound to the client, the redirect URI and
//! the PKCE challenge) is exchanged for an ID token (RS256), an opaque access token and a
//! refresh token that rotates on every use. The subject is pairwise per sector.
//!
//! The adapters (`crate::oidc`) parse the protocol's requests and turn these answers into
//! redirects, pages and JSON; here are the rules.

use super::platforms::{PlatformView, Platforms};
use crate::security::signing::SigningKeys;
use crate::security::{constant_time_eq, new_token, token_hash, DigestKey};
use crate::sessions::{public_id, Session};
use crate::store::{CommandMetadata, EventStore, ExecuteError};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use xuexin_domain::account::{Account, AccountCommand, AccountError, AccountServices};
use xuexin_domain::platform::{ClientKind, SCOPES};
use xuexin_domain::{AccountId, Clock, Timestamp};
use xuexin_projections::{db_execute, on_db, Db};

/// How long a code may wait for its exchange.
pub const CODE_TTL_MS: i64 = 60_000;
/// How long an authorization request waits for the login and the consent.
pub const REQUEST_TTL_MS: i64 = 10 * 60_000;
/// Access tokens and ID tokens.
pub const ACCESS_TTL_MS: i64 = 10 * 60_000;
pub const ID_TOKEN_TTL_MS: i64 = 10 * 60_000;
/// A refresh token lives this long unless used (then its successor does).
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// What the provider needs.
#[derive(Clone)]
pub struct Sso {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub digest: DigestKey,
    pub clock: Arc<dyn Clock>,
    pub platforms: Platforms,
    pub keys: SigningKeys,
    pub account_services: AccountServices,
    /// The issuer: the service's public URL, without a trailing slash.
    pub issuer: String,
}

/// The parameters of an authorization request (query or form). Unknown ones are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub response_mode: Option<String>,
}

/// A checked authorization request, kept while the person logs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub platform: String,
    pub redirect_uri: String,
    /// The scopes asked for that the platform may have, `openid` first.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The subject of a valid `id_token_hint`: only that person may be signed in.
    pub hint_subject: Option<String>,
}

/// A request waiting for the person, as the login and consent pages show it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub request: AuthRequest,
    pub created_at: Timestamp,
    pub consented: bool,
}

/// Why an authorization request stops.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: an error page, never a redirect.
    #[error("refused: {0}")]
    Page(&'static str),
    /// Told to the platform on its redirect URI (`error`, and a catalogue code for the
    /// description).
    #[error("{error}")]
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Where a checked request goes, before it has an id.
enum Outcome {
    Login,
    Consent,
    /// To the platform: a code, or an error it must hear.
    Back(String),
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum Step {
    /// To the login page, carrying the request.
    Login(String),
    /// To the consent page.
    Consent(String),
    /// Back to the platform (a code, or an error it must hear).
    Redirect(String),
}

/// The token, revocation and introspection endpoints' refusals (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// `basic`: the client tried HTTP Basic (the answer then carries `WWW-Authenticate`).
    #[error("invalid_client")]
    InvalidClient { basic: bool },
    #[error("invalid_grant")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl TokenError {
    /// The `error` member.
    pub fn error(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Internal(_) => "server_error",
        }
    }

    /// The catalogue code of `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidRequest(code) | Self::InvalidGrant(code) => code,
            Self::InvalidClient { .. } => "sso.invalid_client",
            Self::UnauthorizedClient => "sso.unauthorized_client",
            Self::UnsupportedGrantType => "sso.unsupported_grant_type",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// How a client authenticated at the token endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub secret: Option<String>,
    /// Sent as HTTP Basic (`client_secret_basic`).
    pub basic: bool,
}

/// The token endpoint's form (the client's credentials are `ClientCredentials`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub id_token: String,
    pub scope: String,
}

/// Why a bearer token opens nothing (RFC 6750 `invalid_token`).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("invalid_token")]
    Invalid,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One platform the holder gave access to, for 账号管理.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub client_id: String,
    pub platform: String,
    pub scopes: Vec<String>,
}

/// What RP-initiated logout decided.
#[derive(Debug)]
pub enum LogoutStep {
    /// End the browser's session (if it is the hint's person or there is no hint), then go
    /// to `to` (the platform's registered URI with its `state`, or None for our login page).
    SignOut { to: Option<String> },
    /// The hint names someone else than the browser's person: ask before signing out.
    Confirm { to: Option<String> },
}

/// A live token as the userinfo and introspection endpoints see it.
struct LiveToken {
    kind: String,
    client_id: String,
    account_id: String,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: i64,
}

/// The parameters of a query or a form body, refusing a repeated one (RFC 6749 §3.1).
#[allow(clippy::result_unit_err)]
pub fn parameters(raw: &[u8]) -> Result<std::collections::BTreeMap<String, String>, ()> {
    let mut map = std::collections::BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw) {
        if map.insert(key.into_owned(), value.into_owned()).is_some() {
            return Err(());
        }
    }
    Ok(map)
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.finish())
}

/// `error` on the platform's redirect URI, with its state and our issuer (RFC 9207).
pub fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> String {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    redirect_with(redirect_uri, &pairs)
}

/// A PKCE challenge or verifier's characters (RFC 7636 §4.1).
fn pkce_text(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn split_scopes(scope: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for part in scope.split(' ').filter(|s| !s.is_empty()) {
        if !seen.iter().any(|s: &String| s == part) {
            seen.push(part.to_string());
        }
    }
    seen
}

impl From<ExecuteError<AccountError>> for AuthorizeError {
    fn from(error: ExecuteError<AccountError>) -> Self {
        Self::Internal(anyhow::anyhow!("{error}"))
    }
}

impl Sso {
    fn now(&self) -> i64 {
        self.clock.now().millis()
    }

    /// The person's subject at a platform: pairwise per sector.
    pub fn subject(&self, sector: &str, account_id: &str) -> String {
        self.digest
            .digest("sso-subject", format!("{sector}:{account_id}").as_bytes())
    }

    /// The discovery document (OpenID Connect Discovery 1.0).
    pub fn discovery(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.issuer);
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": at("/oauth2/authorize"),
            "token_endpoint": at("/oauth2/token"),
            "userinfo_endpoint": at("/oauth2/userinfo"),
            "jwks_uri": at("/oauth2/jwks"),
            "end_session_endpoint": at("/oauth2/logout"),
            "revocation_endpoint": at("/oauth2/revoke"),
            "introspection_endpoint": at("/oauth2/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp",
                "name", "phone_number", "phone_number_verified", "email", "email_verified",
                "real_name_verified", "document_type", "document_number_masked", "document_digest",
                "records"
            ],
            "prompt_values_supported": ["none", "login", "consent"],
            "ui_locales_supported": ["zh-CN", "en"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "require_request_uri_registration": true,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
        })
    }

    async fn platform(&self, client_id: &str) -> anyhow::Result<Option<PlatformView>> {
        self.platforms
            .get(client_id)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))
    }

    /// An authorization request from the platform: checked, then either answered at once (a
    /// code, or an error the platform must hear) or kept while the person logs in or
    /// consents (`Step::Login` / `Step::Consent` carry its id).
    #[tracing::instrument(skip_all)]
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
        session: Option<&Session>,
        metadata: &CommandMetadata,
    ) -> Result<Step, AuthorizeError> {
        let (request, platform) = self.check(params).await?;
        let now = self.now();
        match self
            .route(&request, &platform, now, false, session, metadata)
            .await?
        {
            Outcome::Back(to) => Ok(Step::Redirect(to)),
            outcome => {
                let id = self.keep(&request, now).await?;
                Ok(match outcome {
                    Outcome::Login => Step::Login(id),
                    _ => Step::Consent(id),
                })
            }
        }
    }

    /// Checks an authorization request (the client and its redirect URI first: until they
    /// match, nothing is redirected).
    async fn check(
        &self,
        params: &AuthorizeParams,
    ) -> Result<(AuthRequest, PlatformView), AuthorizeError> {
        // Until the client and its redirect URI are known to match, nothing is redirected.
        let client_id = params
            .client_id
            .as_deref()
            .ok_or(AuthorizeError::Page("sso.unknown_client"))?;
        let platform = self
            .platform(client_id)
            .await?
            .filter(|p| !p.disabled)
            .ok_or(AuthorizeError::Page("sso.unknown_client"))?;
        let redirect_uri = params
            .redirect_uri
            .as_deref()
            .filter(|uri| platform.settings.redirect_uris.iter().any(|r| r == uri))
            .ok_or(AuthorizeError::Page("sso.redirect_uri_mismatch"))?
            .to_string();
        let refuse = |error: &'static str, description: &'static str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: params.state.clone(),
            error,
            description,
        };
        if params.request.is_some() {
            return Err(refuse("request_not_supported", "sso.request_not_supported"));
        }
        if params.request_uri.is_some() {
            return Err(refuse(
                "request_uri_not_supported",
                "sso.request_not_supported",
            ));
        }
        match params.response_type.as_deref() {
            None | Some("") => return Err(refuse("invalid_request", "sso.response_type_missing")),
            Some("code") => {}
            Some(_) => {
                return Err(refuse(
                    "unsupported_response_type",
                    "sso.response_type_unsupported",
                ))
            }
        }
        if params
            .response_mode
            .as_deref()
            .is_some_and(|mode| mode != "query")
        {
            return Err(refuse("invalid_request", "sso.response_mode_unsupported"));
        }
        let asked = split_scopes(params.scope.as_deref().unwrap_or(""));
        if !asked.iter().any(|s| s == "openid") {
            return Err(refuse("invalid_scope", "sso.openid_scope_missing"));
        }
        // Scopes the platform may not have, and unknown ones, are left out (RFC 6749 §3.3).
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(
            asked
                .into_iter()
                .filter(|s| s != "openid" && platform.settings.scopes.contains(s)),
        );
        let code_challenge = match (
            params.code_challenge.as_deref(),
            params.code_challenge_method.as_deref(),
        ) {
            (None, None) if platform.settings.kind == ClientKind::Public => {
                return Err(refuse("invalid_request", "sso.pkce_required"))
            }
            (None, None) => None,
            (Some(challenge), Some("S256")) if pkce_text(challenge) => Some(challenge.to_string()),
            _ => return Err(refuse("invalid_request", "sso.pkce_invalid")),
        };
        let prompt = split_scopes(params.prompt.as_deref().unwrap_or(""));
        if prompt
            .iter()
            .any(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
            || (prompt.iter().any(|p| p == "none") && prompt.len() > 1)
        {
            return Err(refuse("invalid_request", "sso.prompt_invalid"));
        }
        let max_age = match params.max_age.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|age| *age >= 0)
                    .ok_or_else(|| refuse("invalid_request", "sso.max_age_invalid"))?,
            ),
        };
        let hint_subject = match params.id_token_hint.as_deref() {
            None | Some("") => None,
            Some(hint) => {
                let claims = self.keys.verify(hint).await;
                let ours = claims
                    .as_ref()
                    .is_some_and(|c| c["iss"] == self.issuer.as_str());
                match claims.filter(|_| ours) {
                    Some(claims) => claims["sub"].as_str().map(str::to_string),
                    None => return Err(refuse("invalid_request", "sso.id_token_hint_invalid")),
                }
            }
        };
        let request = AuthRequest {
            client_id: client_id.to_string(),
            platform: platform.settings.name.clone(),
            redirect_uri,
            scopes,
            state: params.state.clone(),
            nonce: params.nonce.clone().filter(|n| !n.is_empty()),
            code_challenge,
            prompt,
            max_age,
            login_hint: params
                .login_hint
                .as_deref()
                .map(|h| h.chars().filter(|c| !c.is_control()).take(100).collect()),
            hint_subject,
        };
        Ok((request, platform))
    }

    /// Keeps a checked request for the login and consent pages; answers its id.
    async fn keep(&self, request: &AuthRequest, now: i64) -> Result<String, AuthorizeError> {
        let id = new_token();
        db_execute!(
            &self.db,
            "INSERT INTO sso_requests (id, client_id, params, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &id,
            &request.client_id,
            serde_json::to_string(request).context("a request serializes")?,
            now,
            now + REQUEST_TTL_MS,
        )
        .context("failed to keep an authorization request")?;
        Ok(id)
    }

    /// A kept request, if it has not expired.
    pub async fn pending(&self, id: &str) -> anyhow::Result<Option<Pending>> {
        type Row = (String, i64, Option<i64>);
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT params, created_at, consented_at FROM sso_requests
                 WHERE id = $1 AND expires_at > $2",
            )
            .bind(id)
            .bind(self.now())
            .fetch_optional(pool)
            .await
            .context("failed to read an authorization request")?
        });
        let Some((params, created_at, consented_at)) = row else {
            return Ok(None);
        };
        Ok(Some(Pending {
            id: id.to_string(),
            request: serde_json::from_str(&params).context("a kept request reads back")?,
            created_at: Timestamp::from_millis(created_at),
            consented: consented_at.is_some(),
        }))
    }

    async fn finish_request(&self, id: &str) -> anyhow::Result<()> {
        db_execute!(&self.db, "DELETE FROM sso_requests WHERE id = $1", id)
            .context("failed to end an authorization request")?;
        Ok(())
    }

    /// Where a kept request goes with this browser's session: the login, the consent, or
    /// back to the platform with a code.
    #[tracing::instrument(skip_all)]
    pub async fn proceed(
        &self,
        id: &str,
        session: Option<&Session>,
        metadata: &CommandMetadata,
    ) -> Result<Step, AuthorizeError> {
        let pending = self
            .pending(id)
            .await?
            .ok_or(AuthorizeError::Page("sso.request_expired"))?;
        let platform = self
            .platform(&pending.request.client_id)
            .await?
            .filter(|p| !p.disabled)
            .ok_or(AuthorizeError::Page("sso.unknown_client"))?;
        let outcome = self
            .route(
                &pending.request,
                &platform,
                pending.created_at.millis(),
                pending.consented,
                session,
                metadata,
            )
            .await?;
        match outcome {
            Outcome::Login => Ok(Step::Login(id.to_string())),
            Outcome::Consent => Ok(Step::Consent(id.to_string())),
            Outcome::Back(to) => {
                self.finish_request(id).await?;
                Ok(Step::Redirect(to))
            }
        }
    }

    /// The rules of a checked request made at `created_at`: the person must be signed in
    /// (recently enough for `prompt=login` and `max_age`), be the hint's person, and have
    /// consented (`consented`: on the consent page of this request); then the sign-in is
    /// recorded and a code is made.
    async fn route(
        &self,
        request: &AuthRequest,
        platform: &PlatformView,
        created_at: i64,
        consented: bool,
        session: Option<&Session>,
        metadata: &CommandMetadata,
    ) -> Result<Outcome, AuthorizeError> {
        let silent = request.prompt.iter().any(|p| p == "none");
        let back = |error: &'static str, description: &'static str| {
            Ok::<_, AuthorizeError>(Outcome::Back(error_redirect(
                &self.issuer,
                &request.redirect_uri,
                request.state.as_deref(),
                error,
                crate::messages::text_in(description, xuexin_domain::values::Language::En),
            )))
        };
        let now = self.now();
        // The person must be signed in, recently enough, and be the hint's person.
        let fresh = |session: &Session| {
            let login_forced = request.prompt.iter().any(|p| p == "login")
                && session.created_at.millis() < created_at;
            let too_old = request
                .max_age
                .is_some_and(|age| now - session.created_at.millis() > age * 1000);
            !login_forced && !too_old
        };
        let session = match session.filter(|s| s.staff.is_none()) {
            Some(session) if fresh(session) => session,
            _ if silent => return back("login_required", "sso.login_required"),
            _ => return Ok(Outcome::Login),
        };
        let account_id = session.account_id.to_string();
        let subject = self.subject(&platform.settings.sector, &account_id);
        if request.hint_subject.as_ref().is_some_and(|s| *s != subject) {
            if silent {
                return back("login_required", "sso.login_required");
            }
            return Ok(Outcome::Login);
        }
        let consent_forced = request.prompt.iter().any(|p| p == "consent");
        if consent_forced && !consented {
            if silent {
                return back("consent_required", "sso.consent_required");
            }
            return Ok(Outcome::Consent);
        }
        // The account decides, in one load: a usable person whose consent covers the scopes
        // (or who consented just now) signs in, and the sign-in is recorded.
        let signed_in = self
            .store
            .execute::<Account>(
                &account_id,
                AccountCommand::SignInToPlatform {
                    client_id: request.client_id.clone(),
                    platform: platform.settings.name.clone(),
                    scopes: request.scopes.clone(),
                    consented,
                },
                &self.account_services,
                metadata,
            )
            .await;
        match signed_in {
            Ok(_) => {}
            Err(ExecuteError::Domain(AccountError::ConsentNeeded)) if silent => {
                return back("consent_required", "sso.consent_required")
            }
            Err(ExecuteError::Domain(AccountError::ConsentNeeded)) => return Ok(Outcome::Consent),
            Err(ExecuteError::Domain(_)) => {
                return back("access_denied", "sso.account_cannot_sign_in")
            }
            Err(error) => return Err(error.into()),
        }
        let code = new_token();
        db_execute!(
            &self.db,
            "INSERT INTO sso_codes (code_hash, client_id, account_id, redirect_uri, scopes, nonce,
                 code_challenge, auth_time, sid, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            token_hash(&code),
            &request.client_id,
            &account_id,
            &request.redirect_uri,
            request.scopes.join(" "),
            request.nonce.as_deref(),
            request.code_challenge.as_deref(),
            session.created_at.millis(),
            public_id(&session.token_hash),
            now,
            now + CODE_TTL_MS,
        )
        .context("failed to store a code")?;
        // Ending this xuexin session will tell the platform (back-channel logout).
        if let Some(uri) = platform.settings.backchannel_logout_uri.as_deref() {
            let payload = json!({
                "client_id": request.client_id,
                "sub": subject,
                "sid": public_id(&session.token_hash),
            });
            db_execute!(
                &self.db,
                "INSERT INTO sso_signins (session_hash, client_id, account_id, backchannel_uri, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (session_hash, client_id) DO NOTHING",
                &session.token_hash,
                &request.client_id,
                &account_id,
                uri,
                payload.to_string(),
                now,
            )
            .context("failed to note a platform sign-in")?;
        }
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = request.state.as_deref() {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.issuer));
        Ok(Outcome::Back(redirect_with(&request.redirect_uri, &pairs)))
    }

    /// The consent page's answer: allow records the grant and goes on; deny tells the
    /// platform `access_denied`.
    #[tracing::instrument(skip_all)]
    pub async fn decide(
        &self,
        id: &str,
        session: &Session,
        allow: bool,
        metadata: &CommandMetadata,
    ) -> Result<Step, AuthorizeError> {
        let pending = self
            .pending(id)
            .await?
            .ok_or(AuthorizeError::Page("sso.request_expired"))?;
        let request = pending.request;
        if !allow {
            self.finish_request(id).await?;
            return Ok(Step::Redirect(error_redirect(
                &self.issuer,
                &request.redirect_uri,
                request.state.as_deref(),
                "access_denied",
                crate::messages::text_in("sso.access_denied", xuexin_domain::values::Language::En),
            )));
        }
        if session.staff.is_some() {
            return Ok(Step::Login(id.to_string()));
        }
        let granted = self
            .store
            .execute::<Account>(
                &session.account_id.to_string(),
                AccountCommand::GrantPlatformAccess {
                    client_id: request.client_id.clone(),
                    platform: request.platform.clone(),
                    scopes: request.scopes.clone(),
                },
                &self.account_services,
                metadata,
            )
            .await;
        match granted {
            Ok(_) => {}
            Err(ExecuteError::Domain(_)) => {
                self.finish_request(id).await?;
                return Ok(Step::Redirect(error_redirect(
                    &self.issuer,
                    &request.redirect_uri,
                    request.state.as_deref(),
                    "access_denied",
                    crate::messages::text_in(
                        "sso.account_cannot_sign_in",
                        xuexin_domain::values::Language::En,
                    ),
                )));
            }
            Err(error) => return Err(error.into()),
        }
        db_execute!(
            &self.db,
            "UPDATE sso_requests SET consented_at = $2 WHERE id = $1",
            id,
            self.now(),
        )
        .context("failed to note a consent")?;
        self.proceed(id, Some(session), metadata).await
    }

    /// The client a token-endpoint request authenticates as.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<PlatformView, TokenError> {
        let invalid = TokenError::InvalidClient {
            basic: credentials.basic,
        };
        let Some(client_id) = credentials.client_id.as_deref() else {
            return Err(invalid);
        };
        let found = self
            .platforms
            .authenticate(client_id, credentials.secret.as_deref())
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let Some((platform, secret_matches)) = found else {
            return Err(invalid);
        };
        match (platform.settings.kind, credentials.secret.is_some()) {
            (ClientKind::Confidential, true) if secret_matches => Ok(platform),
            (ClientKind::Public, false) => Ok(platform),
            _ => Err(invalid),
        }
    }

    /// The token endpoint: a code or a refresh token for tokens.
    #[tracing::instrument(skip_all, fields(grant_type))]
    pub async fn token(
        &self,
        credentials: &ClientCredentials,
        form: &TokenForm,
    ) -> Result<Tokens, TokenError> {
        let grant_type = form.grant_type.as_deref().unwrap_or("");
        tracing::Span::current().record("grant_type", grant_type);
        if !["authorization_code", "refresh_token"].contains(&grant_type) {
            return Err(if grant_type.is_empty() {
                TokenError::InvalidRequest("sso.grant_type_missing")
            } else {
                TokenError::UnsupportedGrantType
            });
        }
        let platform = self.authenticate_client(credentials).await?;
        match grant_type {
            "authorization_code" => self.exchange_code(&platform, form).await,
            _ => self.refresh(&platform, form).await,
        }
    }

    async fn revoke_family(&self, family: &str) -> anyhow::Result<()> {
        db_execute!(
            &self.db,
            "UPDATE sso_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
            family,
            self.now(),
        )
        .context("failed to revoke a token family")?;
        Ok(())
    }

    async fn exchange_code(
        &self,
        platform: &PlatformView,
        form: &TokenForm,
    ) -> Result<Tokens, TokenError> {
        let code = form
            .code
            .as_deref()
            .ok_or(TokenError::InvalidRequest("sso.code_missing"))?;
        let code_hash = token_hash(code);
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            String,
            i64,
            Option<i64>,
        );
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT client_id, account_id, redirect_uri, scopes, nonce, code_challenge,
                        auth_time, sid, expires_at, used_at
                 FROM sso_codes WHERE code_hash = $1",
            )
            .bind(&code_hash)
            .fetch_optional(pool)
            .await
            .context("failed to read a code")?
        });
        let Some((
            client_id,
            account_id,
            redirect_uri,
            scopes,
            nonce,
            challenge,
            auth_time,
            sid,
            expires_at,
            used_at,
        )) = row
        else {
            return Err(TokenError::InvalidGrant("sso.code_invalid"));
        };
        if client_id != platform.client_id {
            return Err(TokenError::InvalidGrant("sso.code_invalid"));
        }
        if used_at.is_some() {
            // A code presented twice: what it issued is revoked (RFC 6749 §4.1.2).
            self.revoke_family(&code_hash).await?;
            return Err(TokenError::InvalidGrant("sso.code_used"));
        }
        if expires_at <= self.now() {
            return Err(TokenError::InvalidGrant("sso.code_expired"));
        }
        if form.redirect_uri.as_deref() != Some(redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant("sso.redirect_uri_mismatch"));
        }
        match (challenge.as_deref(), form.code_verifier.as_deref()) {
            (None, None) => {}
            (Some(challenge), Some(verifier)) if pkce_text(verifier) => {
                let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
                if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                    return Err(TokenError::InvalidGrant("sso.code_verifier_mismatch"));
                }
            }
            _ => return Err(TokenError::InvalidGrant("sso.code_verifier_mismatch")),
        }
        // Single use, decided by the database: of two exchanges at once only one wins.
        let claimed = db_execute!(
            &self.db,
            "UPDATE sso_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
            &code_hash,
            self.now(),
        )
        .context("failed to use a code")?;
        if claimed != 1 {
            self.revoke_family(&code_hash).await?;
            return Err(TokenError::InvalidGrant("sso.code_used"));
        }
        let scopes: Vec<String> = scopes.split(' ').map(str::to_string).collect();
        self.issue(
            platform,
            &account_id,
            &scopes,
            &code_hash,
            &sid,
            auth_time,
            nonce.as_deref(),
        )
        .await
    }

    async fn refresh(
        &self,
        platform: &PlatformView,
        form: &TokenForm,
    ) -> Result<Tokens, TokenError> {
        let presented = form
            .refresh_token
            .as_deref()
            .ok_or(TokenError::InvalidRequest("sso.refresh_token_missing"))?;
        let hash = token_hash(presented);
        type Row = (String, String, String, String, String, i64, i64);
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT family, client_id, account_id, scopes, sid, auth_time, expires_at
                 FROM sso_tokens WHERE token_hash = $1 AND kind = 'refresh'",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await
            .context("failed to read a refresh token")?
        });
        let Some((family, client_id, account_id, scopes, sid, auth_time, expires_at)) = row else {
            return Err(TokenError::InvalidGrant("sso.refresh_token_invalid"));
        };
        if client_id != platform.client_id {
            return Err(TokenError::InvalidGrant("sso.refresh_token_invalid"));
        }
        if expires_at <= self.now() {
            return Err(TokenError::InvalidGrant("sso.refresh_token_invalid"));
        }
        // Rotation: the token is used up here; presented again, it revokes its family.
        let claimed = db_execute!(
            &self.db,
            "UPDATE sso_tokens SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
            &hash,
            self.now(),
        )
        .context("failed to use a refresh token")?;
        if claimed != 1 {
            self.revoke_family(&family).await?;
            tracing::warn!(
                client_id = client_id.as_str(),
                "a refresh token was presented again; its family is revoked"
            );
            return Err(TokenError::InvalidGrant("sso.refresh_token_reused"));
        }
        let mut scopes: Vec<String> = scopes.split(' ').map(str::to_string).collect();
        if let Some(narrower) = form.scope.as_deref() {
            let asked = split_scopes(narrower);
            if asked.iter().any(|s| !scopes.contains(s)) {
                return Err(TokenError::InvalidRequest("sso.scope_wider"));
            }
            scopes = asked;
        }
        self.issue(
            platform,
            &account_id,
            &scopes,
            &family,
            &sid,
            auth_time,
            None,
        )
        .await
    }

    /// Whether the account may still be signed in to the platform with these scopes: an active
    /// person whose consent still covers them. Answers the account.
    async fn still_allowed(
        &self,
        client_id: &str,
        account_id: &str,
        scopes: &[String],
    ) -> anyhow::Result<Option<Account>> {
        let account = self.store.load::<Account>(account_id).await?.aggregate;
        let allowed = account.can_use_platforms()
            && account
                .platform_grant(client_id)
                .is_some_and(|granted| scopes.iter().all(|s| granted.contains(s)));
        Ok(allowed.then_some(account))
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        platform: &PlatformView,
        account_id: &str,
        scopes: &[String],
        family: &str,
        sid: &str,
        auth_time: i64,
        nonce: Option<&str>,
    ) -> Result<Tokens, TokenError> {
        if self
            .still_allowed(&platform.client_id, account_id, scopes)
            .await?
            .is_none()
        {
            self.revoke_family(family).await?;
            return Err(TokenError::InvalidGrant("sso.access_ended"));
        }
        let now = self.now();
        let access = new_token();
        let refresh = new_token();
        for (token, kind, ttl) in [
            (&access, "access", ACCESS_TTL_MS),
            (&refresh, "refresh", REFRESH_TTL_MS),
        ] {
            db_execute!(
                &self.db,
                "INSERT INTO sso_tokens (token_hash, kind, family, client_id, account_id, scopes,
                     sid, auth_time, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                token_hash(token),
                kind,
                family,
                &platform.client_id,
                account_id,
                scopes.join(" "),
                sid,
                auth_time,
                now,
                now + ttl,
            )
            .context("failed to store a token")?;
        }
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject(&platform.settings.sector, account_id),
            "aud": platform.client_id,
            "azp": platform.client_id,
            "iat": now / 1000,
            "exp": (now + ID_TOKEN_TTL_MS) / 1000,
            "auth_time": auth_time / 1000,
            "sid": sid,
            "at_hash": at_hash(&access),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let id_token = self.keys.sign("JWT", &claims).await?;
        Ok(Tokens {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_TTL_MS / 1000,
            refresh_token: refresh,
            id_token,
            scope: scopes.join(" "),
        })
    }

    async fn live_token(&self, token: &str) -> anyhow::Result<Option<LiveToken>> {
        type Row = (String, String, String, String, i64, i64);
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kind, client_id, account_id, scopes, created_at, expires_at FROM sso_tokens
                 WHERE token_hash = $1 AND revoked_at IS NULL AND used_at IS NULL
                   AND expires_at > $2",
            )
            .bind(token_hash(token))
            .bind(self.now())
            .fetch_optional(pool)
            .await
            .context("failed to read a token")?
        });
        Ok(row.map(
            |(kind, client_id, account_id, scopes, created_at, expires_at)| LiveToken {
                kind,
                client_id,
                account_id,
                scopes: scopes.split(' ').map(str::to_string).collect(),
                created_at,
                expires_at,
            },
        ))
    }

    /// The userinfo endpoint: the claims the access token's scopes allow.
    #[tracing::instrument(skip_all)]
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, BearerError> {
        let token = self
            .live_token(access_token)
            .await?
            .filter(|t| t.kind == "access")
            .ok_or(BearerError::Invalid)?;
        let platform = self
            .platform(&token.client_id)
            .await?
            .filter(|p| !p.disabled)
            .ok_or(BearerError::Invalid)?;
        let account = self
            .still_allowed(&token.client_id, &token.account_id, &token.scopes)
            .await?
            .ok_or(BearerError::Invalid)?;
        let mut claims = Map::new();
        claims.insert(
            "sub".into(),
            json!(self.subject(&platform.settings.sector, &token.account_id)),
        );
        let has = |scope: &str| token.scopes.iter().any(|s| s == scope);
        if has("profile") {
            claims.insert("name".into(), json!(account.name()));
        }
        if has("phone") {
            if let Some(phone) = account.phone() {
                claims.insert("phone_number".into(), json!(phone));
                // A phone is bound only with an SMS code sent to it.
                claims.insert("phone_number_verified".into(), json!(true));
            }
        }
        if has("email") {
            if let Some(email) = account.email().filter(|e| e.verified) {
                claims.insert("email".into(), json!(email.address));
                claims.insert("email_verified".into(), json!(true));
            }
        }
        if has("identity") {
            claims.insert(
                "real_name_verified".into(),
                json!(account.document().is_some()),
            );
            if let Some(document) = account.document() {
                claims.insert("document_type".into(), json!(document.kind.as_str()));
                claims.insert("document_number_masked".into(), json!(document.masked));
                claims.insert(
                    "document_digest".into(),
                    json!(self.digest.digest(
                        "sso-document",
                        format!("{}:{}", platform.settings.sector, document.number_digest)
                            .as_bytes()
                    )),
                );
            }
        }
        if has("records") {
            claims.insert(
                "records".into(),
                self.records_summary(&token.account_id).await?,
            );
        }
        Ok(Value::Object(claims))
    }

    /// The archive's enrolment and degree summary: the school, level, major, dates and status
    /// of each record bound to the account (never its ID number or photos).
    async fn records_summary(&self, account_id: &str) -> anyhow::Result<Value> {
        const KEPT: &[&str] = &[
            "school_name",
            "level",
            "major",
            "category",
            "study_form",
            "enrolment_date",
            "expected_graduation_date",
            "status",
            "graduation_date",
            "graduation_conclusion",
            "certificate_number",
        ];
        let rows = xuexin_projections::records::for_account(&self.db, account_id).await?;
        let mut enrolments = Vec::new();
        let mut degrees = Vec::new();
        for row in rows {
            let mut entry = Map::new();
            entry.insert("school_code".into(), json!(row.school_code));
            for (key, value) in row.fields.iter() {
                if KEPT.contains(&key.as_str()) {
                    entry.insert(key.clone(), json!(value));
                }
            }
            let entry = Value::Object(entry);
            if row.kind == "degree" {
                degrees.push(entry);
            } else {
                enrolments.push(entry);
            }
        }
        Ok(json!({"enrolments": enrolments, "degrees": degrees}))
    }

    /// RFC 7009: the platform's own token ends (a refresh token ends its family). Unknown
    /// tokens and other platforms' tokens are ignored, as the RFC asks.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &str,
    ) -> Result<(), TokenError> {
        let platform = self.authenticate_client(credentials).await?;
        type Row = (String, String, String);
        let row: Option<Row> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT kind, family, client_id FROM sso_tokens WHERE token_hash = $1")
                .bind(token_hash(token))
                .fetch_optional(pool)
                .await
                .context("failed to read a token")?
        });
        match row {
            Some((kind, family, client_id)) if client_id == platform.client_id => {
                if kind == "refresh" {
                    self.revoke_family(&family).await?;
                } else {
                    db_execute!(
                        &self.db,
                        "UPDATE sso_tokens SET revoked_at = $2
                         WHERE token_hash = $1 AND revoked_at IS NULL",
                        token_hash(token),
                        self.now(),
                    )
                    .context("failed to revoke a token")?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// RFC 7662 for a platform's own servers: about its own tokens only; anything else is
    /// `{"active": false}`.
    #[tracing::instrument(skip_all)]
    pub async fn introspect(
        &self,
        credentials: &ClientCredentials,
        token: &str,
    ) -> Result<Value, TokenError> {
        let platform = self.authenticate_client(credentials).await?;
        let inactive = json!({"active": false});
        let Some(live) = self.live_token(token).await? else {
            return Ok(inactive);
        };
        if live.client_id != platform.client_id
            || self
                .still_allowed(&live.client_id, &live.account_id, &live.scopes)
                .await?
                .is_none()
        {
            return Ok(inactive);
        }
        Ok(json!({
            "active": true,
            "scope": live.scopes.join(" "),
            "client_id": live.client_id,
            "sub": self.subject(&platform.settings.sector, &live.account_id),
            "token_type": if live.kind == "access" { "Bearer" } else { "refresh_token" },
            "iat": live.created_at / 1000,
            "exp": live.expires_at / 1000,
            "iss": self.issuer,
            "aud": live.client_id,
        }))
    }

    /// RP-initiated logout 1.0: checks the hint and where to go afterwards.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
        session: Option<&Session>,
    ) -> Result<LogoutStep, AuthorizeError> {
        let hint = match id_token_hint.filter(|h| !h.is_empty()) {
            Some(hint) => Some(
                self.keys
                    .verify(hint)
                    .await
                    .filter(|c| c["iss"] == self.issuer.as_str())
                    .ok_or(AuthorizeError::Page("sso.id_token_hint_invalid"))?,
            ),
            None => None,
        };
        let audience = hint
            .as_ref()
            .and_then(|c| c["aud"].as_str().map(str::to_string));
        if let (Some(audience), Some(client_id)) = (audience.as_deref(), client_id) {
            if audience != client_id {
                return Err(AuthorizeError::Page("sso.id_token_hint_invalid"));
            }
        }
        let client_id = audience.as_deref().or(client_id);
        let platform = match client_id {
            Some(client_id) => self.platform(client_id).await?,
            None => None,
        };
        let to = match post_logout_redirect_uri.filter(|u| !u.is_empty()) {
            None => None,
            Some(uri) => {
                let registered = platform.as_ref().is_some_and(|p| {
                    p.settings
                        .post_logout_redirect_uris
                        .iter()
                        .any(|r| r == uri)
                });
                if !registered {
                    return Err(AuthorizeError::Page(
                        "sso.post_logout_redirect_uri_mismatch",
                    ));
                }
                Some(match state {
                    Some(state) => redirect_with(uri, &[("state", state)]),
                    None => uri.to_string(),
                })
            }
        };
        // Without a hint naming the browser's person, someone must confirm (a link alone must
        // not sign people out).
        let matches = match (hint.as_ref(), session, platform.as_ref()) {
            (Some(claims), Some(session), Some(platform)) => {
                claims["sub"].as_str()
                    == Some(
                        self.subject(&platform.settings.sector, &session.account_id.to_string())
                            .as_str(),
                    )
            }
            _ => false,
        };
        Ok(if matches || session.is_none() {
            LogoutStep::SignOut { to }
        } else {
            LogoutStep::Confirm { to }
        })
    }

    /// The platforms the holder gave access to (账号管理).
    pub async fn grants(&self, account_id: AccountId) -> anyhow::Result<Vec<GrantView>> {
        let account = self
            .store
            .load::<Account>(&account_id.to_string())
            .await?
            .aggregate;
        Ok(account
            .platform_grants()
            .iter()
            .map(|(client_id, (platform, scopes))| GrantView {
                client_id: client_id.clone(),
                platform: platform.clone(),
                scopes: scopes.clone(),
            })
            .collect())
    }

    /// The holder withdraws a platform's access: its tokens for this person die at once.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_grant(
        &self,
        account_id: AccountId,
        client_id: &str,
        metadata: &CommandMetadata,
    ) -> Result<bool, anyhow::Error> {
        let result = self
            .store
            .execute::<Account>(
                &account_id.to_string(),
                AccountCommand::RevokePlatformAccess {
                    client_id: client_id.to_string(),
                },
                &self.account_services,
                metadata,
            )
            .await;
        match result {
            Ok(_) => {}
            Err(ExecuteError::Domain(_)) => return Ok(false),
            Err(error) => return Err(anyhow::anyhow!("{error}")),
        }
        db_execute!(
            &self.db,
            "UPDATE sso_tokens SET revoked_at = $3
             WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            account_id.to_string(),
            client_id,
            self.now(),
        )
        .context("failed to revoke a platform's tokens")?;
        Ok(true)
    }
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    B64.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_go_back_with_state_and_issuer() {
        let url = error_redirect(
            "https://xuexin.example",
            "https://yz.example.cn/cb?x=1",
            Some("a b"),
            "login_required",
            "Log in first",
        );
        assert_eq!(
            url,
            "https://yz.example.cn/cb?x=1&error=login_required&error_description=Log+in+first&state=a+b&iss=https%3A%2F%2Fxuexin.example"
        );
    }

    #[test]
    fn pkce_values_follow_rfc_7636() {
        assert!(pkce_text(&"a".repeat(43)));
        assert!(!pkce_text(&"a".repeat(42)));
        assert!(!pkce_text(&"a".repeat(129)));
        assert!(!pkce_text(&format!("{}+", "a".repeat(43))));
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            B64.encode(Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn scopes_keep_their_order_without_repeats() {
        assert_eq!(
            split_scopes("profile  openid profile"),
            vec!["profile".to_string(), "openid".to_string()]
        );
    }
}
