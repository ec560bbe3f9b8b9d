//! Aggregate identifiers. Accounts get random ids; the aggregates that guard uniqueness are
//! keyed by a UUIDv5 of the unique value, so the event store's optimistic concurrency on
//! `(aggregate_type, aggregate_id, sequence)` decides every race for that value.

use crate::values::DocumentType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Namespace for login-name aggregate ids (phone, e-mail, external logins).
const LOGIN_NAME_NAMESPACE: Uuid = Uuid::from_u128(0x6f2c_1a7e_93d4_4b51_9a0e_55c1_d3b2_7a10);
/// Namespace for identity aggregate ids (document type + keyed digest of the number).
const IDENTITY_NAMESPACE: Uuid = Uuid::from_u128(0x0b8e_4f3a_2c61_4d07_b1f5_8e2a_6c94_d315);

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

impl AccountId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }
}

/// A UUID as `Uuid` writes it: lower-case, hyphenated.
pub const UUID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

impl JsonSchema for AccountId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "uuid",
            "pattern": UUID_PATTERN,
            "description": "An account id"
        })
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

/// The kinds of name an account can be claimed under (a login name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginNameKind {
    Phone,
    Email,
    WeChat,
    Alipay,
    /// A staff account's username.
    Staff,
}

impl LoginNameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::WeChat => "wechat",
            Self::Alipay => "alipay",
            Self::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Phone,
            Self::Email,
            Self::WeChat,
            Self::Alipay,
            Self::Staff,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}

/// How a person identified themselves when logging in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginVia {
    Phone,
    Email,
    IdNumber,
    WeChat,
    Alipay,
    StaffUsername,
}

impl LoginVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::IdNumber => "id_number",
            Self::WeChat => "wechat",
            Self::Alipay => "alipay",
            Self::StaffUsername => "staff_username",
        }
    }
}

/// `kind:value`, the string a login-name id is derived from and the login index is keyed by.
pub fn login_name_key(kind: LoginNameKind, normalized_value: &str) -> String {
    format!("{}:{normalized_value}", kind.as_str())
}

pub fn login_name_id(kind: LoginNameKind, normalized_value: &str) -> Uuid {
    Uuid::new_v5(
        &LOGIN_NAME_NAMESPACE,
        login_name_key(kind, normalized_value).as_bytes(),
    )
}

/// The identity aggregate id is derived from the keyed digest, never from the raw number, so
/// that the id itself cannot be brute-forced back into an ID number.
pub fn identity_id(kind: DocumentType, number_digest: &str) -> Uuid {
    Uuid::new_v5(
        &IDENTITY_NAMESPACE,
        format!("{}:{number_digest}", kind.as_str()).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separated_by_kind() {
        let a = login_name_id(LoginNameKind::Phone, "+8613800138000");
        assert_eq!(a, login_name_id(LoginNameKind::Phone, "+8613800138000"));
        assert_ne!(a, login_name_id(LoginNameKind::WeChat, "+8613800138000"));
        assert_ne!(
            identity_id(DocumentType::ResidentIdCard, "ab"),
            identity_id(DocumentType::Other, "ab")
        );
    }
}
