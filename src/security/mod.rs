//! Secrets: random tokens and codes, their at-rest hashes, the keyed digest for document
//! numbers, and argon2id on a bounded pool.

pub mod digest;
pub mod hashing;

use base64::Engine;
use sha2::{Digest, Sha256};

pub use digest::DigestKey;
pub use hashing::{HashPool, HashingParams};

/// Bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS RNG failing is not something a request can recover from.
    getrandom::getrandom(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A bearer or link token: 256 random bits, URL-safe.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What is stored of a high-entropy token: its SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality whose time does not depend on where the inputs first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A 6-digit code, uniform over 000000–999999 (rejection sampling avoids modulo bias).
pub fn new_numeric_code() -> String {
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

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
