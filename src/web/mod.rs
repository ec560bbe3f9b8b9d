//! The web pages a person uses (ADR 0018): HTML rendered on the server from templates
//! embedded in the binary, calling the same application use cases as the JSON API. They work
//! without JavaScript.
//!
//! A browser session is the API's session token in an HttpOnly, SameSite=Lax cookie (Secure
//! when the public URL is https); no token is ever in a URL or in script-readable storage.
//! Every form carries a CSRF token bound to a random per-browser cookie; a POST without the
//! right one is refused with 403 before anything runs. The security headers (CSP without
//! inline script, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`) come from the
//! shared middleware (`http/headers.rs`). Texts come from the message catalogue, in the
//! language of the `xuexin_lang` cookie or `Accept-Language` (zh-CN by default).

mod archive;
mod changes;
mod email;
mod external;
mod identity;
mod manage;
mod page;
mod pages;
mod recover;
mod register;
mod sessions;
mod sso;
mod staff;
mod support;

pub use page::{CSRF_COOKIE, SESSION_COOKIE};
pub use staff::PAGES as STAFF_PAGES;

use crate::state::SharedState;
use axum::Router;

/// The pages and their static files, for `http::router` to serve with the API. An account
/// waiting for identity review reaches only the pages of its review (as the API's
/// `Authenticated` allows only the verification endpoints).
pub fn router(state: SharedState) -> Router<SharedState> {
    pages::router()
        .merge(staff::router())
        .merge(sso::router())
        .layer(axum::middleware::from_fn_with_state(
            state,
            page::session_guard,
        ))
        .merge(page::static_files())
}
