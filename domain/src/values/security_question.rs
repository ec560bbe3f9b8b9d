//! Security questions (密保问题): three questions, each with an answer that is normalized
//! before it is hashed, so that "Beijing " and "beijing" are the same answer.

use super::secret::Secret;
use unicode_normalization::UnicodeNormalization;

pub const SECURITY_QUESTION_COUNT: usize = 3;
pub const QUESTION_MAX_CHARS: usize = 50;
pub const ANSWER_MAX_CHARS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityQuestionError {
    #[error("exactly three security questions are required")]
    Count,
    #[error("a security question is empty or too long")]
    Question,
    #[error("the same security question is used twice")]
    Duplicate,
    #[error("a security answer is empty or too long")]
    Answer,
}

/// A question with its normalized answer, ready to be hashed.
#[derive(Debug, Clone)]
pub struct SecurityQuestionAnswer {
    pub question: String,
    pub answer: Secret,
}

/// NFKC (full-width letters become ASCII), lower case, no white space at all. Composed once
/// more at the end: NFKC can turn a spacing accent into a space plus a combining mark, and
/// dropping the space leaves the mark to compose with the letter before it.
pub fn normalize_answer(raw: &str) -> String {
    raw.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .nfkc()
        .collect()
}

fn normalize_question(raw: &str) -> String {
    raw.nfkc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Validates three (question, answer) pairs and normalizes them.
pub fn parse_security_questions(
    pairs: &[(String, Secret)],
) -> Result<Vec<SecurityQuestionAnswer>, SecurityQuestionError> {
    if pairs.len() != SECURITY_QUESTION_COUNT {
        return Err(SecurityQuestionError::Count);
    }
    let mut parsed: Vec<SecurityQuestionAnswer> = Vec::with_capacity(pairs.len());
    for (question, answer) in pairs {
        let question = normalize_question(question);
        let qlen = question.chars().count();
        if qlen == 0 || qlen > QUESTION_MAX_CHARS {
            return Err(SecurityQuestionError::Question);
        }
        if parsed.iter().any(|p| p.question == question) {
            return Err(SecurityQuestionError::Duplicate);
        }
        let answer = normalize_answer(answer.expose());
        let alen = answer.chars().count();
        if alen == 0 || alen > ANSWER_MAX_CHARS {
            return Err(SecurityQuestionError::Answer);
        }
        parsed.push(SecurityQuestionAnswer {
            question,
            answer: Secret::new(answer),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, Secret)> {
        items
            .iter()
            .map(|(q, a)| (q.to_string(), Secret::new(*a)))
            .collect()
    }

    #[test]
    fn answers_ignore_case_width_and_spaces() {
        assert_eq!(normalize_answer(" Bei Jing "), "beijing");
        assert_eq!(normalize_answer("ＢＥＩＪＩＮＧ"), "beijing");
        assert_eq!(normalize_answer("北 京"), "北京");
    }

    #[test]
    fn three_distinct_questions_are_required() {
        let ok = pairs(&[
            ("您母亲的生日?", "0101"),
            ("您父亲的生日?", "0202"),
            ("您最喜欢的星?", "Mars"),
        ]);
        let parsed = parse_security_questions(&ok).unwrap();
        assert_eq!(parsed[2].answer.expose(), "mars");

        let two = pairs(&[("您母亲的生日?", "0101"), ("您父亲的生日?", "0202")]);
        assert_eq!(
            parse_security_questions(&two).unwrap_err(),
            SecurityQuestionError::Count
        );
        let dup = pairs(&[
            ("您母亲的生日?", "0101"),
            ("您母亲的生日?", "0202"),
            ("您最喜欢的星?", "Mars"),
        ]);
        assert_eq!(
            parse_security_questions(&dup).unwrap_err(),
            SecurityQuestionError::Duplicate
        );
        let blank = pairs(&[
            ("您母亲的生日?", " "),
            ("您父亲的生日?", "0202"),
            ("您最喜欢的星?", "Mars"),
        ]);
        assert_eq!(
            parse_security_questions(&blank).unwrap_err(),
            SecurityQuestionError::Answer
        );
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(raw in "\\PC{0,30}") {
            let once = normalize_answer(&raw);
            prop_assert_eq!(normalize_answer(&once), once);
        }

        #[test]
        fn surrounding_space_and_case_do_not_matter(raw in "[a-zA-Z0-9]{1,20}") {
            prop_assert_eq!(normalize_answer(&format!("  {}  ", raw.to_uppercase())), normalize_answer(&raw));
        }
    }
}
