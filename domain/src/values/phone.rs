//! Mobile phone numbers: mainland China (`1[3-9]` + 9 digits, with or without `+86`/`0086`)
//! and international E.164 numbers. Always stored as E.164 (`+8613800138000`).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number has an invalid format")]
    Format,
}

impl Phone {
    /// Parses what a person types: spaces and hyphens are ignored; a bare 11-digit number,
    /// `+86…` or `0086…` is a mainland mobile number; `+…` or `00…` otherwise is E.164.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\u{3000}'))
            .map(fullwidth_to_ascii)
            .collect();
        if compact.is_empty() {
            return Err(PhoneError::Empty);
        }
        let international = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Self::mainland(&compact);
        };
        if !international.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::Format);
        }
        if let Some(national) = international.strip_prefix("86") {
            return Self::mainland(national);
        }
        // E.164: a country code that does not start with 0, at most 15 digits in all.
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(PhoneError::Format);
        }
        Ok(Self(format!("+{international}")))
    }

    fn mainland(national: &str) -> Result<Self, PhoneError> {
        let b = national.as_bytes();
        let valid = b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]);
        if valid {
            Ok(Self(format!("+86{national}")))
        } else {
            Err(PhoneError::Format)
        }
    }

    /// The E.164 form, e.g. `+8613800138000`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_mainland(&self) -> bool {
        self.0.starts_with("+86")
    }

    /// The number as people write it at home: 11 digits for the mainland, E.164 otherwise.
    pub fn national(&self) -> &str {
        if self.is_mainland() {
            &self.0[3..]
        } else {
            &self.0
        }
    }

    /// `136****1011` for the mainland (as the seeds show it); `+44******1234` otherwise.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks a stored E.164 number without re-validating it (events keep plain strings).
pub fn mask_phone(e164: &str) -> String {
    let digits: Vec<char> = e164.trim_start_matches('+').chars().collect();
    if let Some(national) = e164.strip_prefix("+86").filter(|n| n.len() == 11) {
        return format!("{}****{}", &national[..3], &national[7..]);
    }
    if digits.len() < 8 {
        return "*".repeat(digits.len());
    }
    let head: String = digits[..2].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("+{head}{}{tail}", "*".repeat(digits.len() - 6))
}

fn fullwidth_to_ascii(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '＋' => '+',
        _ => c,
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    // Debug output ends up in logs: show only the mask.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mainland_forms_normalize_to_e164() {
        for raw in [
            "13800138000",
            "+8613800138000",
            "008613800138000",
            "138 0013 8000",
            "+86 138-0013-8000",
            "１３８００１３８０００",
        ] {
            assert_eq!(
                Phone::parse(raw).unwrap().as_str(),
                "+8613800138000",
                "{raw}"
            );
        }
    }

    #[test]
    fn seed_mask_shape() {
        assert_eq!(Phone::parse("13612341011").unwrap().masked(), "136****1011");
    }

    #[test]
    fn invalid_mainland_numbers_are_rejected() {
        for raw in [
            "12800138000",
            "1380013800",
            "138001380001",
            "+8602012345678",
            "1380013800a",
            "",
            "   ",
        ] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        let p = Phone::parse("+44 7700 900123").unwrap();
        assert_eq!(p.as_str(), "+447700900123");
        assert!(!p.is_mainland());
        assert_eq!(p.masked(), "+44******0123");
        assert_eq!(Phone::parse("0044 7700900123").unwrap(), p);
        assert!(Phone::parse("+0447700900").is_err());
        assert!(Phone::parse("+1234567").is_err());
        assert!(Phone::parse("+1234567890123456").is_err());
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let p = Phone::parse("13612341011").unwrap();
        assert!(!format!("{p:?}").contains("13612341011"));
    }

    proptest! {
        #[test]
        fn every_valid_mainland_number_parses_in_all_prefix_forms(
            second in 3u8..=9, rest in "[0-9]{9}", prefix in prop::sample::select(vec!["", "+86", "0086", "+86 "])
        ) {
            let national = format!("1{second}{rest}");
            let phone = Phone::parse(&format!("{prefix}{national}")).unwrap();
            prop_assert_eq!(phone.as_str(), format!("+86{national}"));
            prop_assert_eq!(phone.national(), national.as_str());
            let masked = phone.masked();
            prop_assert_eq!(masked.len(), 11);
            prop_assert!(masked.contains("****"));
        }

        #[test]
        fn parsing_is_idempotent(raw in "\\+?[0-9 ]{0,18}") {
            if let Ok(phone) = Phone::parse(&raw) {
                prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone);
            }
        }

        #[test]
        fn mainland_numbers_with_a_bad_second_digit_fail(second in 0u8..=2, rest in "[0-9]{9}") {
            let raw = format!("1{second}{rest}");
            prop_assert!(Phone::parse(&raw).is_err());
        }
    }
}
