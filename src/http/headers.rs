//! Security headers on every answer, and the pages' static files.
//!
//! Every answer: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` (page URLs
//! carry tokens). HTML: a CSP that allows only this origin's files, no inline script or style,
//! and no framing. Everything but the static files and the API description: `Cache-Control:
//! no-store`, since answers carry tokens and personal data. HSTS when the public URL is https.

use crate::state::SharedState;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The CSP with `form-action` widened to the origins of `targets` (absolute URLs a form's
/// answer may redirect to: browsers hold redirects after a form to `form-action`).
pub fn csp_with_form_targets(targets: &[&str]) -> String {
    let mut allowed = String::from("form-action 'self'");
    for target in targets {
        let Some((scheme, rest)) = target.split_once("://") else {
            continue;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let clean = authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if !authority.is_empty() && clean && (scheme == "https" || scheme == "http") {
            allowed.push_str(&format!(" {scheme}://{authority}"));
        }
    }
    CONTENT_SECURITY_POLICY.replace("form-action 'self'", &allowed)
}

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Paths whose answers hold nothing personal and may be cached.
fn cacheable(path: &str) -> bool {
    path.starts_with("/static/")
        || path == "/api/v1/openapi.json"
        || path == "/.well-known/openid-configuration"
        || path == "/oauth2/jwks"
}

pub async fn security_headers(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // A page may widen `form-action` itself (the sign-in pages of a partner platform,
    // whose forms end in a redirect to the platform: `csp_with_form_targets`).
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    if html {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !cacheable(&path) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.public_url.starts_with("https://") {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
