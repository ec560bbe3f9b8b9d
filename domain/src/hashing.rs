//! Slow hashing of secrets (argon2id in the service) as the domain sees it: an async trait,
//! so that the aggregate decides *when* to verify while the service decides *where* the CPU
//! work runs (a bounded pool, refusing work beyond its queue).

use crate::values::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the hashing pool is saturated")]
pub struct HasherUnavailable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash uses older parameters and should be replaced.
    pub needs_rehash: bool,
}

#[async_trait::async_trait]
pub trait SecretHasher: Send + Sync {
    /// A PHC string for the secret.
    async fn hash(&self, secret: &Secret) -> Result<String, HasherUnavailable>;
    /// Whether the secret matches the PHC string.
    async fn verify(&self, phc: &str, secret: &Secret) -> Result<Verification, HasherUnavailable>;
}
