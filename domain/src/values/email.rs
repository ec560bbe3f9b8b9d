//! Security e-mail addresses. Lower-cased as a whole so that one mailbox is one login name.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const EMAIL_MAX_LEN: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("e-mail address has an invalid format")]
    Format,
}

const LOCAL_SPECIALS: &[u8] = b".!#$%&'*+/=?^_`{|}~-";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        let lowered = trimmed.to_ascii_lowercase();
        if lowered.len() > EMAIL_MAX_LEN || !lowered.is_ascii() {
            return Err(EmailError::Format);
        }
        let (local, domain) = lowered.split_once('@').ok_or(EmailError::Format)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Format);
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    /// `4***@qq.com`: enough for the owner to recognise it, as the seed's messages show.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

pub fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(&b))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let labels_ok = labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let tld = labels[labels.len() - 1];
    labels_ok && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_lower_cased_and_trimmed() {
        let e = Email::parse("  Li.Lei+chsi@QQ.com ").unwrap();
        assert_eq!(e.as_str(), "li.lei+chsi@qq.com");
        assert_eq!(e.domain(), "qq.com");
        assert_eq!(e.masked(), "l***@qq.com");
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for raw in [
            "plainaddress",
            "@qq.com",
            "a@",
            "a@qq",
            "a@qq.c",
            "a..b@qq.com",
            ".a@qq.com",
            "a@-qq.com",
            "a b@qq.com",
            "张三@qq.com",
            "a@qq.123",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
    }

    proptest! {
        #[test]
        fn generated_addresses_parse_and_round_trip(
            local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]",
            domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,2}\\.[a-z]{2,6}"
        ) {
            prop_assume!(!local.contains(".."));
            let raw = format!("{local}@{domain}");
            let email = Email::parse(&raw.to_uppercase()).unwrap();
            prop_assert_eq!(email.as_str(), raw.as_str());
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }

        #[test]
        fn anything_without_an_at_sign_fails(raw in "[^@]{0,40}") {
            prop_assert!(Email::parse(&raw).is_err());
        }
    }
}
