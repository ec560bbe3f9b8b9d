//! Delivery to the outside world: SMS and e-mail. Each has a capture implementation that keeps
//! what it would have sent in `dev_outbox` (development, tests) and a real one.

pub mod liveness;
pub mod mail;
pub mod outbox;
pub mod redact;
pub mod sms;

pub use mail::{MailSender, OutgoingMail};
pub use sms::SmsGateway;
