//! Passwords: the seeds' rule (6–30 characters from English letters, digits and special
//! characters), a blocklist of common passwords, and no password that contains the phone
//! number or the document number. Strength is scored for the client's meter (弱/中/强/非常强).

use super::phone::Phone;
use super::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::OnceLock;

pub const PASSWORD_MIN_LEN: usize = 6;
pub const PASSWORD_MAX_LEN: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must have {PASSWORD_MIN_LEN} to {PASSWORD_MAX_LEN} characters")]
    Length,
    #[error("password may only contain English letters, digits and special characters")]
    InvalidCharacter,
    #[error("password is too common")]
    TooCommon,
    #[error("password contains the phone number")]
    ContainsPhone,
    #[error("password contains the document number")]
    ContainsDocumentNumber,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordStrength {
    Weak,
    Medium,
    Strong,
    VeryStrong,
}

impl PasswordStrength {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weak => "weak",
            Self::Medium => "medium",
            Self::Strong => "strong",
            Self::VeryStrong => "very_strong",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Weak => "弱",
            Self::Medium => "中",
            Self::Strong => "强",
            Self::VeryStrong => "非常强",
        }
    }

    pub fn score(self) -> u8 {
        match self {
            Self::Weak => 1,
            Self::Medium => 2,
            Self::Strong => 3,
            Self::VeryStrong => 4,
        }
    }
}

/// What a password must not contain. The document number may be given in the clear (at
/// registration) or only as a digest check (later changes, when the clear number is gone).
#[derive(Default)]
pub struct PasswordContext<'a> {
    pub phone: Option<&'a Phone>,
    pub document_number: Option<&'a str>,
    /// Answers whether a candidate substring is the account's document number.
    pub document_number_matches: Option<&'a dyn Fn(&str) -> bool>,
    /// The length of the document number, so that only substrings of that length are tried.
    pub document_number_len: Option<usize>,
}

/// A password that passed the rules. The clear text stays inside `Secret`.
#[derive(Clone, Debug)]
pub struct Password(Secret);

impl Password {
    pub fn parse(raw: &Secret, context: &PasswordContext<'_>) -> Result<Self, PasswordError> {
        let text = raw.expose();
        let len = text.chars().count();
        if !(PASSWORD_MIN_LEN..=PASSWORD_MAX_LEN).contains(&len) {
            return Err(PasswordError::Length);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) || !text.is_ascii() {
            return Err(PasswordError::InvalidCharacter);
        }
        if is_common(text) {
            return Err(PasswordError::TooCommon);
        }
        let upper = text.to_ascii_uppercase();
        if let Some(phone) = context.phone {
            if upper.contains(phone.national()) || upper.contains(phone.as_str()) {
                return Err(PasswordError::ContainsPhone);
            }
        }
        if let Some(number) = context.document_number {
            if !number.is_empty() && upper.contains(&number.to_ascii_uppercase()) {
                return Err(PasswordError::ContainsDocumentNumber);
            }
        }
        if let (Some(matches), Some(n)) =
            (context.document_number_matches, context.document_number_len)
        {
            if n > 0 && upper.len() >= n {
                let found = (0..=upper.len() - n).any(|start| matches(&upper[start..start + n]));
                if found {
                    return Err(PasswordError::ContainsDocumentNumber);
                }
            }
        }
        Ok(Self(raw.clone()))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }

    pub fn strength(&self) -> PasswordStrength {
        strength_of(self.0.expose())
    }
}

/// Character classes and length: the meter the seeds' form shows. Monotone: adding a
/// character never lowers the score.
pub fn strength_of(text: &str) -> PasswordStrength {
    let len = text.chars().count();
    let classes = [
        text.bytes().any(|b| b.is_ascii_lowercase()),
        text.bytes().any(|b| b.is_ascii_uppercase()),
        text.bytes().any(|b| b.is_ascii_digit()),
        text.bytes().any(|b| b.is_ascii_punctuation()),
    ]
    .iter()
    .filter(|present| **present)
    .count();
    let points = classes * 2 + len.min(16) / 4;
    match points {
        0..=4 => PasswordStrength::Weak,
        5..=6 => PasswordStrength::Medium,
        7..=9 => PasswordStrength::Strong,
        _ => PasswordStrength::VeryStrong,
    }
}

fn blocklist() -> &'static HashSet<String> {
    static LIST: OnceLock<HashSet<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

fn is_common(text: &str) -> bool {
    let lowered = text.to_ascii_lowercase();
    if blocklist().contains(&lowered) {
        return true;
    }
    // One repeated character, or a plain run of consecutive digits or letters.
    let bytes = lowered.as_bytes();
    let all_same = bytes.iter().all(|b| *b == bytes[0]);
    let ascending = bytes.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
    let descending = bytes.windows(2).all(|w| w[0] == w[1].wrapping_add(1));
    all_same || ascending || descending
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &str) -> Result<Password, PasswordError> {
        Password::parse(&Secret::new(raw), &PasswordContext::default())
    }

    #[test]
    fn length_rule_is_six_to_thirty() {
        assert_eq!(parse("Ab1!x").unwrap_err(), PasswordError::Length);
        assert!(parse("Ab1!xy").is_ok());
        assert!(parse("Ab1!Cd2@Ef3#Gh4$Ij5%Kl6^Mn7&Op").is_ok());
        assert_eq!(parse(&"Ab1!".repeat(8)).unwrap_err(), PasswordError::Length);
    }

    #[test]
    fn chinese_and_spaces_are_not_allowed() {
        assert_eq!(
            parse("密码Ab12345").unwrap_err(),
            PasswordError::InvalidCharacter
        );
        assert_eq!(
            parse("Ab12 345").unwrap_err(),
            PasswordError::InvalidCharacter
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        for raw in [
            "123456",
            "PASSWORD",
            "woaini1314",
            "Qwerty123",
            "aaaaaaaa",
            "abcdefghij",
            "98765432",
        ] {
            assert_eq!(parse(raw).unwrap_err(), PasswordError::TooCommon, "{raw}");
        }
    }

    #[test]
    fn the_phone_number_may_not_be_part_of_the_password() {
        let phone = Phone::parse("13612341011").unwrap();
        let ctx = PasswordContext {
            phone: Some(&phone),
            ..Default::default()
        };
        assert_eq!(
            Password::parse(&Secret::new("x13612341011"), &ctx).unwrap_err(),
            PasswordError::ContainsPhone
        );
        assert!(Password::parse(&Secret::new("x1361234101"), &ctx).is_ok());
    }

    #[test]
    fn the_document_number_may_not_be_part_of_the_password() {
        let ctx = PasswordContext {
            document_number: Some("51010419980721271X"),
            ..Default::default()
        };
        assert_eq!(
            Password::parse(&Secret::new("a51010419980721271x"), &ctx).unwrap_err(),
            PasswordError::ContainsDocumentNumber
        );
    }

    #[test]
    fn the_document_number_check_works_with_only_a_matcher() {
        let matcher = |candidate: &str| candidate == "51010419980721271X";
        let ctx = PasswordContext {
            document_number_matches: Some(&matcher),
            document_number_len: Some(18),
            ..Default::default()
        };
        assert_eq!(
            Password::parse(&Secret::new("ab51010419980721271x!"), &ctx).unwrap_err(),
            PasswordError::ContainsDocumentNumber
        );
        assert!(Password::parse(&Secret::new("ab5101041998072127!"), &ctx).is_ok());
    }

    #[test]
    fn strength_grows_with_classes_and_length() {
        assert_eq!(strength_of("zhangsan"), PasswordStrength::Weak);
        assert_eq!(strength_of("zhangsan42"), PasswordStrength::Medium);
        assert_eq!(strength_of("Zhangsan42"), PasswordStrength::Strong);
        assert_eq!(
            strength_of("Zhang-San-2024!x"),
            PasswordStrength::VeryStrong
        );
    }

    proptest! {
        #[test]
        fn appending_a_character_never_lowers_strength(base in "[ -~]{1,20}", extra in "[!-~]") {
            let longer = format!("{base}{extra}");
            prop_assert!(strength_of(&longer) >= strength_of(&base));
        }

        #[test]
        fn accepted_passwords_satisfy_every_rule(raw in "[!-~]{0,34}") {
            if let Ok(p) = parse(&raw) {
                let len = p.secret().expose().len();
                prop_assert!((PASSWORD_MIN_LEN..=PASSWORD_MAX_LEN).contains(&len));
                prop_assert!(!blocklist().contains(&raw.to_ascii_lowercase()));
            }
        }
    }
}
