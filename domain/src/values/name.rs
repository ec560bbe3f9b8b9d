//! Real names. The seeds expect simplified Chinese but rare characters may be missing from
//! input methods and overseas students register with Latin names, so any Unicode letter is
//! accepted, with `·` between name parts and single spaces between words.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

pub const NAME_MIN_CHARS: usize = 2;
pub const NAME_MAX_CHARS: usize = 50;
pub const MIDDLE_DOT: char = '·';

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name must have at least {NAME_MIN_CHARS} characters")]
    TooShort,
    #[error("name must have at most {NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("name contains a character that is not a letter: {0:?}")]
    InvalidCharacter(char),
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let mut normalized = String::with_capacity(raw.len());
        let mut pending_space = false;
        for c in raw.nfc() {
            let c = normalize_separator(c);
            if c.is_whitespace() {
                pending_space = !normalized.is_empty();
                continue;
            }
            if pending_space {
                normalized.push(' ');
                pending_space = false;
            }
            normalized.push(c);
        }
        if normalized.is_empty() {
            return Err(NameError::Empty);
        }
        for c in normalized.chars() {
            let allowed = c.is_alphabetic() || is_combining_mark(c) || c == MIDDLE_DOT || c == ' ';
            if !allowed {
                return Err(NameError::InvalidCharacter(c));
            }
        }
        if normalized.starts_with(MIDDLE_DOT) || normalized.ends_with(MIDDLE_DOT) {
            return Err(NameError::InvalidCharacter(MIDDLE_DOT));
        }
        let count = normalized.chars().count();
        // Combining marks alone are no name: at least two letters of their own.
        let letters = normalized
            .chars()
            .filter(|&c| c.is_alphabetic() && !is_combining_mark(c))
            .count();
        if count < NAME_MIN_CHARS || letters < NAME_MIN_CHARS {
            return Err(NameError::TooShort);
        }
        if count > NAME_MAX_CHARS {
            return Err(NameError::TooLong);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The many dots people type between the parts of a transliterated name all become `·`.
fn normalize_separator(c: char) -> char {
    match c {
        '\u{00B7}' | '\u{2022}' | '\u{2027}' | '\u{30FB}' | '\u{FF65}' | '\u{FF0E}'
        | '\u{2219}' | '\u{22C5}' | '\u{0387}' => MIDDLE_DOT,
        _ => c,
    }
}

impl TryFrom<String> for PersonName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PersonName> for String {
    fn from(value: PersonName) -> Self {
        value.0
    }
}

impl AsRef<str> for PersonName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_names_are_trimmed() {
        assert_eq!(PersonName::parse("  张三 ").unwrap().as_str(), "张三");
    }

    #[test]
    fn single_character_is_too_short() {
        assert_eq!(PersonName::parse("雷"), Err(NameError::TooShort));
        assert_eq!(PersonName::parse(" "), Err(NameError::Empty));
    }

    #[test]
    fn combining_marks_alone_are_no_name() {
        assert_eq!(
            PersonName::parse("\u{301}\u{301}\u{301}"),
            Err(NameError::TooShort)
        );
        assert_eq!(
            PersonName::parse("e\u{301}\u{301}"),
            Err(NameError::TooShort)
        );
        assert_eq!(PersonName::parse("Jose\u{301}").unwrap().as_str(), "José");
    }

    #[test]
    fn transliterated_names_use_the_middle_dot() {
        assert_eq!(
            PersonName::parse("买买提•吐尔逊").unwrap().as_str(),
            "买买提·吐尔逊"
        );
        assert_eq!(
            PersonName::parse("阿依古丽・艾买提").unwrap().as_str(),
            "阿依古丽·艾买提"
        );
        assert!(PersonName::parse("·张三").is_err());
    }

    #[test]
    fn latin_names_keep_single_spaces() {
        assert_eq!(
            PersonName::parse("  John   SMITH ").unwrap().as_str(),
            "John SMITH"
        );
    }

    #[test]
    fn rare_characters_outside_the_bmp_are_letters() {
        // U+20BB7 𠮷 is a CJK Extension B character missing from many input methods.
        assert_eq!(PersonName::parse("𠮷野").unwrap().as_str(), "𠮷野");
    }

    #[test]
    fn digits_and_punctuation_are_rejected() {
        assert_eq!(
            PersonName::parse("张3"),
            Err(NameError::InvalidCharacter('3'))
        );
        assert!(PersonName::parse("张三!").is_err());
        assert!(PersonName::parse("<script>").is_err());
    }

    #[test]
    fn decomposed_input_is_composed() {
        let decomposed = "Jose\u{301} Lo\u{301}pez";
        let name = PersonName::parse(decomposed).unwrap();
        assert_eq!(name.as_str(), "José López");
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(raw in "\\PC{0,12}") {
            if let Ok(name) = PersonName::parse(&raw) {
                prop_assert_eq!(PersonName::parse(name.as_str()).unwrap(), name);
            }
        }

        #[test]
        fn any_two_or_more_cjk_characters_are_a_name(raw in "[\\u{4e00}-\\u{9fa5}]{2,20}") {
            let name = PersonName::parse(&raw).unwrap();
            prop_assert_eq!(name.as_str(), raw.as_str());
        }

        #[test]
        fn accepted_names_are_nfc_and_trimmed(raw in "[ a-zA-Z\\u{4e00}-\\u{4e10}\\u{301}·]{0,20}") {
            if let Ok(name) = PersonName::parse(&raw) {
                let s = name.as_str();
                prop_assert_eq!(s.trim(), s);
                prop_assert_eq!(s.nfc().collect::<String>(), s.to_string());
                prop_assert!(s.chars().count() >= NAME_MIN_CHARS);
            }
        }
    }
}
