//! The application layer: one public function per use case, grouped by area, taking parsed
//! domain values and returning the area's typed error. Adapters (the JSON API under `http`,
//! the CLI, and next the web pages and the OpenID provider) parse, call and map; nothing here
//! knows HTTP (`tests/api/layers.rs` checks that, and that `src/` has no import cycle).
//!
//! Areas move here one at a time; those not yet moved (
//! identity, records, offices) still live in `src/` and in their HTTP handlers.

pub mod account;
pub mod account_log;
pub mod archive;
pub mod email;
pub mod external;
pub mod factor;
pub mod identity;
pub mod import;
pub mod login;
pub mod offices;
pub mod platforms;
pub mod profile;
pub mod records;
pub mod recovery;
pub mod registration;
pub mod sso;
pub mod staff;
pub mod support;

/// A value of the request refused at its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRefusal {
    pub field: String,
    pub code: &'static str,
}

impl FieldRefusal {
    pub fn new(field: &str, code: &'static str) -> Self {
        Self {
            field: field.to_string(),
            code,
        }
    }
}
