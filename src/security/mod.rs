//! Secrets: random tokens and codes, their at-rest hashes, the keyed digest for document
//! numbers, and argon2id on a bounded pool.

pub mod digest;
pub mod hashing;
pub mod random;
pub mod signing;

pub use digest::DigestKey;
pub use hashing::{HashPool, HashingParams};
pub use random::{constant_time_eq, new_numeric_code, new_token, random_bytes, token_hash};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let code = new_numeric_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
