//! Identity documents: the resident ID card (GB 11643, 18 characters with a mod-11 check
//! character), the overseas-Chinese ID card or passport, and "other" for numbers that fail
//! the resident-ID rules (seed 000: such people may still register to see their records).
//!
//! A raw document number never leaves the request that carried it: events, views and logs
//! hold a keyed digest (for matching) and a mask (for people).

use crate::time::CivilDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// 居民身份证
    ResidentIdCard,
    /// 华侨身份证/护照
    OverseasChineseIdOrPassport,
    /// 其他
    Other,
}

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResidentIdCard => "resident_id_card",
            Self::OverseasChineseIdOrPassport => "overseas_chinese_id_or_passport",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "resident_id_card" | "居民身份证" => Some(Self::ResidentIdCard),
            "overseas_chinese_id_or_passport" | "passport" | "华侨身份证/护照" | "护照" => {
                Some(Self::OverseasChineseIdOrPassport)
            }
            "other" | "其他" => Some(Self::Other),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::ResidentIdCard => "居民身份证",
            Self::OverseasChineseIdOrPassport => "华侨身份证/护照",
            Self::Other => "其他",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("document number is empty")]
    Empty,
    #[error("document number has an invalid format")]
    Format,
    #[error("resident ID number has an impossible birth date")]
    BirthDate,
    #[error("resident ID number fails the GB 11643 check character")]
    Checksum,
}

/// A parsed document. Holds the raw number in memory only; it is neither `Serialize` nor
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    kind: DocumentType,
    number: String,
}

const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for the first 17 digits.
pub fn resident_id_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(RESIDENT_ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(RESIDENT_ID_CHECK[(sum % 11) as usize] as char)
}

/// Upper-cases and removes the white space people paste into number fields (the seeds warn
/// about spaces). Shared by parsing and by look-ups so that both digest the same string.
pub fn normalize_document_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            'ｘ' | 'Ｘ' => 'X',
            _ => c.to_ascii_uppercase(),
        })
        .collect()
}

impl Document {
    /// `today` bounds the birth date of a resident ID (no one is born tomorrow).
    pub fn parse(kind: DocumentType, raw: &str, today: CivilDate) -> Result<Self, DocumentError> {
        let number = normalize_document_number(raw);
        if number.is_empty() {
            return Err(DocumentError::Empty);
        }
        match kind {
            DocumentType::ResidentIdCard => {
                validate_resident_id(&number, today)?;
            }
            DocumentType::OverseasChineseIdOrPassport => {
                let ok = (5..=20).contains(&number.len())
                    && number.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(DocumentError::Format);
                }
            }
            DocumentType::Other => {
                let ok = (4..=30).contains(&number.len())
                    && number
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    return Err(DocumentError::Format);
                }
            }
        }
        Ok(Self { kind, number })
    }

    pub fn kind(&self) -> DocumentType {
        self.kind
    }

    /// The normalized number. Callers hash it or compare it; they never store or log it.
    pub fn expose_number(&self) -> &str {
        &self.number
    }

    pub fn masked(&self) -> String {
        mask_document_number(&self.number)
    }

    /// The birth date encoded in a resident ID number.
    pub fn birth_date(&self) -> Option<CivilDate> {
        match self.kind {
            DocumentType::ResidentIdCard => birth_date_of(&self.number),
            _ => None,
        }
    }

    /// What events and views keep of a document.
    pub fn summary(&self, hasher: &dyn KeyedHasher) -> DocumentSummary {
        DocumentSummary {
            kind: self.kind,
            number_digest: document_number_digest(hasher, &self.number),
            masked: self.masked(),
        }
    }
}

fn validate_resident_id(number: &str, today: CivilDate) -> Result<(), DocumentError> {
    let b = number.as_bytes();
    if b.len() != 18
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X')
        || b[0] == b'0'
    {
        return Err(DocumentError::Format);
    }
    let birth = birth_date_of(number).ok_or(DocumentError::BirthDate)?;
    if birth.year < 1900 || birth > today {
        return Err(DocumentError::BirthDate);
    }
    if resident_id_check_char(&number[..17]) != Some(b[17] as char) {
        return Err(DocumentError::Checksum);
    }
    Ok(())
}

fn birth_date_of(number: &str) -> Option<CivilDate> {
    let digits = number.get(6..14)?;
    CivilDate::parse(digits)
}

/// `61**************12`: the first two and last two characters, as the design shows.
pub fn mask_document_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Document({:?}, {})", self.kind, self.masked())
    }
}

/// A keyed one-way function (HMAC in the service). Used wherever a value must be matched
/// later but must not be readable: document numbers.
pub trait KeyedHasher: Send + Sync {
    /// Hex digest of `input` under the service's key, separated by `purpose`.
    fn keyed_digest(&self, purpose: &str, input: &[u8]) -> String;
}

/// The digest of a normalized document number. The number alone (not its type) is hashed so
/// that "log in with your ID number" is a single look-up.
pub fn document_number_digest(hasher: &dyn KeyedHasher, normalized_number: &str) -> String {
    hasher.keyed_digest("document-number", normalized_number.as_bytes())
}

/// What the system keeps of a document: its type, a keyed digest of the number, a mask.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DocumentSummary {
    pub kind: DocumentType,
    pub number_digest: String,
    pub masked: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const TODAY: CivilDate = CivilDate {
        year: 2026,
        month: 11,
        day: 22,
    };

    /// Builds a valid resident ID from an area code, a birth date and a sequence number.
    pub(crate) fn resident_id(area: u32, date: CivilDate, seq: u32) -> String {
        let first17 = format!(
            "{area:06}{:04}{:02}{:02}{seq:03}",
            date.year, date.month, date.day
        );
        let check = resident_id_check_char(&first17).unwrap();
        format!("{first17}{check}")
    }

    #[test]
    fn the_sample_data_ids_are_valid() {
        for id in [
            "51010419980721271X",
            "110105199704037391",
            "420111199901188738",
        ] {
            let doc = Document::parse(DocumentType::ResidentIdCard, id, TODAY).unwrap();
            assert_eq!(doc.expose_number(), id);
        }
    }

    #[test]
    fn a_lowercase_x_is_upper_cased() {
        let doc =
            Document::parse(DocumentType::ResidentIdCard, "51010419980721271x", TODAY).unwrap();
        assert_eq!(doc.expose_number(), "51010419980721271X");
    }

    #[test]
    fn a_wrong_check_character_is_a_checksum_error() {
        assert_eq!(
            Document::parse(DocumentType::ResidentIdCard, "510104199807212710", TODAY),
            Err(DocumentError::Checksum)
        );
    }

    #[test]
    fn an_impossible_birth_date_is_rejected() {
        // 1998-02-30 does not exist; the check character is made valid on purpose.
        let first17 = "51010419980230271";
        let id = format!("{first17}{}", resident_id_check_char(first17).unwrap());
        assert_eq!(
            Document::parse(DocumentType::ResidentIdCard, &id, TODAY),
            Err(DocumentError::BirthDate)
        );
        let future = resident_id(110105, CivilDate::new(2027, 1, 1).unwrap(), 1);
        assert_eq!(
            Document::parse(DocumentType::ResidentIdCard, &future, TODAY),
            Err(DocumentError::BirthDate)
        );
    }

    #[test]
    fn wrong_lengths_and_letters_are_format_errors() {
        for raw in [
            "51010419980721271",
            "5101041998072127XX",
            "A10104199807212710",
        ] {
            assert_eq!(
                Document::parse(DocumentType::ResidentIdCard, raw, TODAY),
                Err(DocumentError::Format),
                "{raw}"
            );
        }
    }

    #[test]
    fn other_accepts_numbers_that_fail_the_check() {
        let doc = Document::parse(DocumentType::Other, "510104199807212710", TODAY).unwrap();
        assert_eq!(doc.kind(), DocumentType::Other);
    }

    #[test]
    fn passports_are_upper_cased() {
        let doc = Document::parse(
            DocumentType::OverseasChineseIdOrPassport,
            "e1234 5678",
            TODAY,
        )
        .unwrap();
        assert_eq!(doc.expose_number(), "E12345678");
        assert!(
            Document::parse(DocumentType::OverseasChineseIdOrPassport, "E1/2345", TODAY).is_err()
        );
    }

    #[test]
    fn mask_matches_the_design() {
        let doc = Document::parse(DocumentType::ResidentIdCard, "610104199807212712", TODAY);
        // Whatever the check result, the mask shape is fixed.
        assert_eq!(
            mask_document_number("610104199807212712"),
            "61**************12"
        );
        let _ = doc;
    }

    #[test]
    fn debug_shows_only_the_mask() {
        let doc =
            Document::parse(DocumentType::ResidentIdCard, "51010419980721271X", TODAY).unwrap();
        let text = format!("{doc:?}");
        assert!(!text.contains("51010419980721271X"));
        assert!(text.contains("51**************1X"));
    }

    fn date_strategy() -> impl Strategy<Value = CivilDate> {
        (1900i32..=2025, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| CivilDate::new(y, m, d).unwrap())
    }

    proptest! {
        #[test]
        fn every_generated_resident_id_is_valid(area in 110000u32..=659999, date in date_strategy(), seq in 0u32..=999) {
            let id = resident_id(area, date, seq);
            let doc = Document::parse(DocumentType::ResidentIdCard, &id, TODAY).unwrap();
            prop_assert_eq!(doc.birth_date(), Some(date));
            prop_assert_eq!(doc.masked().len(), 18);
        }

        #[test]
        fn changing_any_single_digit_breaks_the_check(area in 110000u32..=659999, date in date_strategy(), seq in 0u32..=999, pos in 0usize..17, delta in 1u8..=9) {
            let id = resident_id(area, date, seq);
            let mut bytes = id.clone().into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let mutated = String::from_utf8(bytes).unwrap();
            // A single-digit change is always caught by GB 11643 (weights are all non-zero mod 11),
            // unless it also makes the date or area invalid, which is another error.
            prop_assert!(Document::parse(DocumentType::ResidentIdCard, &mutated, TODAY).is_err());
        }

        #[test]
        fn normalization_is_idempotent(raw in "[0-9xX a-z]{0,20}") {
            let once = normalize_document_number(&raw);
            prop_assert_eq!(normalize_document_number(&once), once);
        }
    }
}
