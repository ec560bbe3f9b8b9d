//! The language of an answer: `Accept-Language` picks zh-CN or en (zh-CN when it names
//! neither), every text the request renders comes from the catalogue in that language, and the
//! answer says which (`Content-Language`, `Vary: Accept-Language`).

use crate::messages::{self, Language};
use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The language `Accept-Language` asks for.
pub fn requested(request: &Request) -> Language {
    request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .map(Language::negotiate)
        .unwrap_or_default()
}

pub async fn negotiate_language(request: Request, next: Next) -> Response {
    let language = requested(&request);
    let mut response = messages::in_language(language, next.run(request)).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(language.tag()),
    );
    headers.append(header::VARY, HeaderValue::from_static("accept-language"));
    response
}
