//! The OpenID provider's machine endpoints (issue 17): discovery, the JWKS, the token
//! endpoint, userinfo, revocation (RFC 7009) and introspection (RFC 7662). They answer in
//! the protocols' own JSON (`error` and `error_description`), not problem+json, and never
//! with a 5xx for bad input.

use crate::application::sso::{BearerError, ClientCredentials, TokenError, TokenForm};
use crate::messages::{self, Language};
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/token", post(token))
        .route("/oauth2/userinfo", get(userinfo_get).post(userinfo_post))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
}

/// A JSON answer no cache keeps (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(error: TokenError) -> Response {
    let status = match &error {
        TokenError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        TokenError::Internal(inner) => {
            tracing::error!(error = format!("{inner:#}"), "a token request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = no_store(
        status,
        json!({
            "error": error.error(),
            "error_description": messages::text_in(error.description(), Language::En),
        }),
    );
    if let TokenError::InvalidClient { basic: true } = error {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"xuexin\""),
        );
    }
    response
}

#[tracing::instrument(skip_all)]
async fn discovery(State(state): State<SharedState>) -> Response {
    let mut response = Json(state.sso.discovery()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

#[tracing::instrument(skip_all)]
async fn jwks(State(state): State<SharedState>) -> Response {
    match state.sso.keys.jwks().await {
        Ok(keys) => {
            let mut response = Json(keys).into_response();
            // Short: a rotation reaches the platforms' caches within minutes.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            response
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "the JWKS failed");
            no_store(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "temporarily_unavailable"}),
            )
        }
    }
}

/// A form body's parameters; a repeated one is `invalid_request` (RFC 6749 §3.2).
fn form(body: &[u8]) -> Result<BTreeMap<String, String>, TokenError> {
    crate::application::sso::parameters(body)
        .map_err(|()| TokenError::InvalidRequest("sso.duplicate_parameter"))
}

/// The client's credentials: HTTP Basic (its parts form-decoded, RFC 6749 §2.3.1) or the
/// form's `client_id` / `client_secret`, never both.
fn credentials(
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Result<ClientCredentials, TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match basic {
        Some(encoded) => {
            if params.contains_key("client_secret") {
                return Err(TokenError::InvalidRequest("sso.multiple_client_auth"));
            }
            let invalid = TokenError::InvalidClient { basic: true };
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(invalid)?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or(TokenError::InvalidClient { basic: true })?;
            let decode = |part: &str| -> String {
                form_urlencoded::parse(format!("x={part}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let client_id = decode(id);
            if params.get("client_id").is_some_and(|c| *c != client_id) {
                return Err(TokenError::InvalidClient { basic: true });
            }
            Ok(ClientCredentials {
                client_id: Some(client_id),
                secret: Some(decode(secret)),
                basic: true,
            })
        }
        None => Ok(ClientCredentials {
            client_id: params.get("client_id").cloned(),
            secret: params.get("client_secret").cloned(),
            basic: false,
        }),
    }
}

#[tracing::instrument(skip_all)]
async fn token(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let params = form(&body)?;
        let credentials = credentials(&headers, &params)?;
        let get = |name: &str| params.get(name).cloned();
        let form = TokenForm {
            grant_type: get("grant_type"),
            code: get("code"),
            redirect_uri: get("redirect_uri"),
            code_verifier: get("code_verifier"),
            refresh_token: get("refresh_token"),
            scope: get("scope"),
        };
        state.sso.token(&credentials, &form).await
    }
    .await;
    match answer {
        Ok(tokens) => {
            metrics::counter!("xuexin_sso_tokens_issued_total").increment(1);
            no_store(StatusCode::OK, json!(tokens))
        }
        Err(error) => oauth_error(error),
    }
}

fn bearer_refusal(error: BearerError, had_token: bool) -> Response {
    if let BearerError::Internal(inner) = &error {
        tracing::error!(error = format!("{inner:#}"), "a userinfo request failed");
        return no_store(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "server_error"}),
        );
    }
    let challenge = if had_token {
        "Bearer realm=\"xuexin\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"xuexin\""
    };
    let mut response = no_store(
        StatusCode::UNAUTHORIZED,
        json!({
            "error": "invalid_token",
            "error_description": messages::text_in("sso.invalid_token", Language::En),
        }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn bearer_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
}

async fn userinfo(state: SharedState, token: Option<String>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return bearer_refusal(BearerError::Invalid, false);
    };
    match state.sso.userinfo(&token).await {
        Ok(claims) => no_store(StatusCode::OK, claims),
        Err(error) => bearer_refusal(error, true),
    }
}

#[tracing::instrument(skip_all)]
async fn userinfo_get(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    userinfo(state, bearer_of(&headers)).await
}

/// POST: the token in the header or in the form body (RFC 6750 §2.2), not both.
#[tracing::instrument(skip_all)]
async fn userinfo_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(params) = form(&body) else {
        return bearer_refusal(BearerError::Invalid, false);
    };
    let token = match (bearer_of(&headers), params.get("access_token")) {
        (Some(_), Some(_)) => {
            return no_store(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
        }
        (Some(header), None) => Some(header),
        (None, body) => body.cloned(),
    };
    userinfo(state, token).await
}

/// A client-authenticated request about one token (revocation, introspection): the client's
/// credentials and the `token` parameter.
fn about_a_token(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ClientCredentials, String), TokenError> {
    let params = form(body)?;
    let credentials = credentials(headers, &params)?;
    let token = params
        .get("token")
        .cloned()
        .ok_or(TokenError::InvalidRequest("sso.token_missing"))?;
    Ok((credentials, token))
}

#[tracing::instrument(skip_all)]
async fn revoke(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = match about_a_token(&headers, &body) {
        Ok((credentials, token)) => state.sso.revoke(&credentials, &token).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(()) => no_store(StatusCode::OK, json!({})),
        Err(error) => oauth_error(error),
    }
}

#[tracing::instrument(skip_all)]
async fn introspect(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = match about_a_token(&headers, &body) {
        Ok((credentials, token)) => state.sso.introspect(&credentials, &token).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(value) => no_store(StatusCode::OK, value),
        Err(error) => oauth_error(error),
    }
}
