//! Who caused an event. Every event's metadata names its actor (DESIGN: API conventions).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A person acting on their own account (or registering one).
    Account(String),
    Reviewer(String),
    Registrar(String),
    ProvincialAuthority(String),
    ConscriptionOffice(String),
    Auditor(String),
    Administrator(String),
    /// The service itself: process managers, recovery, expiry.
    System(String),
    /// Someone not logged in (registration, recovery), identified by nothing but the request.
    Anonymous,
}

impl Actor {
    /// `account:3f…`, `system:registration-recovery`, `anonymous`.
    pub fn to_metadata(&self) -> String {
        match self {
            Self::Account(id) => format!("account:{id}"),
            Self::Reviewer(id) => format!("reviewer:{id}"),
            Self::Registrar(id) => format!("registrar:{id}"),
            Self::ProvincialAuthority(id) => format!("provincial_authority:{id}"),
            Self::ConscriptionOffice(id) => format!("conscription_office:{id}"),
            Self::Auditor(id) => format!("auditor:{id}"),
            Self::Administrator(id) => format!("administrator:{id}"),
            Self::System(id) => format!("system:{id}"),
            Self::Anonymous => "anonymous".to_string(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_metadata())
    }
}
