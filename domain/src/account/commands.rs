use super::events::RegistrationDetails;
use crate::ids::LoginVia;
use crate::time::Timestamp;
use crate::values::{Email, Secret};

#[derive(Clone, Debug)]
pub enum AccountCommand {
    StartRegistration(Box<RegistrationDetails>),
    CompleteRegistration,
    AbandonRegistration { reason: String },
    RequestEmailVerification { expires_at: Timestamp },
    VerifyEmail { email: Email },
    /// Checks the password (through the hasher service) and records the outcome.
    Login { password: Secret, via: LoginVia },
}
