use super::events::{RegistrationDetails, StaffProfile};
use crate::ids::LoginVia;
use crate::values::{Email, Secret};

#[derive(Clone, Debug)]
pub enum AccountCommand {
    StartRegistration(Box<RegistrationDetails>),
    CreateStaffAccount {
        profile: StaffProfile,
        password_hash: String,
    },
    CompleteRegistration,
    AbandonRegistration {
        reason: String,
    },
    /// A new verification link for the current, unverified address.
    RequestEmailVerification,
    VerifyEmail {
        email: Email,
    },
    /// Checks the password (through the hasher service) and records the outcome.
    Login {
        password: Secret,
        via: LoginVia,
    },
}
