//! The staff console (issue 16): each staff role's work in the browser, on the same use cases
//! as the API, under the pages' rules (cookie session, CSRF token on every form, the strict
//! CSP, zh-CN and English, 390 px).
//!
//! A staff member signs in at `/staff/login` and, before any other page, passes the second
//! factor at `/staff/factor` (enrolling an authenticator app from a QR code the first time).
//! Every console page names the roles that may open it; anyone else — students and the other
//! roles — gets 403, and pages scoped to a school, province or office show only that scope.

mod admin;
mod audit;
mod console;
mod factor;
mod gate;
mod office;
mod platforms;
mod records;
mod reviews;

pub use console::{router, PAGES};
