//! Staff roles (DESIGN: API conventions). Staff accounts are created by `xuexin admin`, never
//! by self-registration; a role may be scoped to a school, a province or an office.

use crate::actor::Actor;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Manual identity review (人工审核).
    Reviewer,
    /// A school's registrar: imports records, sees the unchecked list. Scope: school code.
    Registrar,
    /// Provincial education authority: approves degree-record corrections. Scope: province.
    ProvincialAuthority,
    /// Conscription office (征兵办公室): accounts for young people. Scope: office name.
    ConscriptionOffice,
    /// Reads and replays the event history.
    Auditor,
    Administrator,
}

impl StaffRole {
    pub const ALL: [Self; 6] = [
        Self::Reviewer,
        Self::Registrar,
        Self::ProvincialAuthority,
        Self::ConscriptionOffice,
        Self::Auditor,
        Self::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Registrar => "registrar",
            Self::ProvincialAuthority => "provincial_authority",
            Self::ConscriptionOffice => "conscription_office",
            Self::Auditor => "auditor",
            Self::Administrator => "administrator",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    /// Whether the role only makes sense with a scope (which school, province, office).
    pub fn needs_scope(self) -> bool {
        matches!(
            self,
            Self::Registrar | Self::ProvincialAuthority | Self::ConscriptionOffice
        )
    }

    /// The actor a staff member of this role appears as in event metadata.
    pub fn actor(self, account_id: String) -> Actor {
        match self {
            Self::Reviewer => Actor::Reviewer(account_id),
            Self::Registrar => Actor::Registrar(account_id),
            Self::ProvincialAuthority => Actor::ProvincialAuthority(account_id),
            Self::ConscriptionOffice => Actor::ConscriptionOffice(account_id),
            Self::Auditor => Actor::Auditor(account_id),
            Self::Administrator => Actor::Administrator(account_id),
        }
    }
}

/// A staff username: 3–32 of `a-z 0-9 . _ -`, lower-cased.
pub fn parse_staff_username(raw: &str) -> Option<String> {
    let name = raw.trim().to_ascii_lowercase();
    let ok = (3..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_scoped_roles_are_known() {
        for role in StaffRole::ALL {
            assert_eq!(StaffRole::parse(role.as_str()), Some(role));
        }
        assert!(StaffRole::Registrar.needs_scope());
        assert!(!StaffRole::Auditor.needs_scope());
    }

    #[test]
    fn usernames_are_plain_ascii() {
        assert_eq!(
            parse_staff_username(" Reg-99001 ").as_deref(),
            Some("reg-99001")
        );
        assert!(parse_staff_username("ab").is_none());
        assert!(parse_staff_username("教务处").is_none());
        assert!(parse_staff_username("a b c").is_none());
    }
}
