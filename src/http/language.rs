//! The language of an answer: the pages' language cookie, else `Accept-Language`, picks zh-CN or en (zh-CN when it names
//! neither), every text the request renders comes from the catalogue in that language, and the
//! answer says which (`Content-Language`, `Vary: Accept-Language`).

use crate::messages::{self, Language};
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The language the browser chose with the pages' switch (the `xuexin_lang` cookie), else the
/// one `Accept-Language` asks for.
pub fn requested(request: &Request) -> Language {
    if let Some(chosen) = chosen_language(request.headers()) {
        return chosen;
    }
    request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .map(Language::negotiate)
        .unwrap_or_default()
}

/// The cookie the pages' language switch sets (`zh-CN` or `en`).
pub const LANGUAGE_COOKIE: &str = "xuexin_lang";

/// A cookie of the request, by name (`None` when absent or empty).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The language a browser chose with the switch, if any.
pub fn chosen_language(headers: &HeaderMap) -> Option<Language> {
    cookie(headers, LANGUAGE_COOKIE).and_then(Language::from_tag)
}

pub async fn negotiate_language(request: Request, next: Next) -> Response {
    let language = requested(&request);
    let mut response = messages::in_language(language, next.run(request)).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(language.tag()),
    );
    headers.append(
        header::VARY,
        HeaderValue::from_static("accept-language, cookie"),
    );
    response
}
