//! Partner platforms (issue 17, item 1): an administrator registers the relying parties of the
//! OpenID provider, rotates a confidential platform's secret and disables a platform. The
//! secret is made here, shown once, and kept only as a keyed digest under the service key.

use crate::security::{constant_time_eq, new_token, DigestKey};
use crate::store::{CommandMetadata, EventStore, ExecuteError};
use std::sync::Arc;
use xuexin_domain::platform::{
    ClientKind, Platform, PlatformCommand, PlatformError, PlatformSettings,
};
use xuexin_projections::{on_db, Db};

/// What the platform use cases need.
#[derive(Clone)]
pub struct Platforms {
    pub store: Arc<EventStore>,
    pub db: Db,
    pub digest: DigestKey,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformUseError {
    #[error(transparent)]
    Refused(#[from] PlatformError),
    #[error("busy; try again")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ExecuteError<PlatformError>> for PlatformUseError {
    fn from(error: ExecuteError<PlatformError>) -> Self {
        match error {
            ExecuteError::Domain(refused) => Self::Refused(refused),
            ExecuteError::Contention => Self::Busy,
            ExecuteError::Store(error) => Self::Internal(error),
        }
    }
}

impl PlatformUseError {
    /// The catalogue code of the refusal (`src/messages.rs`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(PlatformError::Invalid(what)) => match *what {
                "client_id" => "platform.invalid.client_id",
                "name" => "platform.invalid.name",
                "redirect_uri" => "platform.invalid.redirect_uri",
                "post_logout_redirect_uri" => "platform.invalid.post_logout_redirect_uri",
                "backchannel_logout_uri" => "platform.invalid.backchannel_logout_uri",
                "scope" => "platform.invalid.scope",
                "sector" => "platform.invalid.sector",
                "secret" => "platform.invalid.secret",
                _ => "platform.invalid",
            },
            Self::Refused(PlatformError::Exists) => "platform.exists",
            Self::Refused(PlatformError::Unknown) => "platform.unknown",
            Self::Refused(PlatformError::NoSecret) => "platform.no_secret",
            Self::Refused(PlatformError::Disabled) => "platform.disabled",
            Self::Busy => "overloaded",
            Self::Internal(_) => "request_failed",
        }
    }
}

/// A platform as an administrator sees it: never its secret or the secret's digest.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlatformView {
    pub client_id: String,
    #[serde(flatten)]
    pub settings: PlatformSettings,
    pub disabled: bool,
}

/// A client secret: 32 random bytes, base64url.
fn new_secret() -> String {
    new_token()
}

fn secret_digest(digest: &DigestKey, client_id: &str, secret: &str) -> String {
    digest.digest(
        "platform-client-secret",
        format!("{client_id}:{secret}").as_bytes(),
    )
}

impl Platforms {
    /// Registers a platform; an empty sector becomes its client_id, so that only an
    /// administrator's choice puts two platforms in one sector. Answers its client secret
    /// (confidential platforms only), which is not kept and cannot be shown again.
    pub async fn register(
        &self,
        client_id: &str,
        mut settings: PlatformSettings,
        metadata: &CommandMetadata,
    ) -> Result<Option<String>, PlatformUseError> {
        if settings.sector.trim().is_empty() {
            settings.sector = client_id.to_string();
        }
        let secret = (settings.kind == ClientKind::Confidential).then(new_secret);
        let digest = secret
            .as_deref()
            .map(|secret| secret_digest(&self.digest, client_id, secret));
        self.store
            .execute::<Platform>(
                client_id,
                PlatformCommand::Register {
                    client_id: client_id.to_string(),
                    settings,
                    secret_digest: digest,
                },
                &(),
                metadata,
            )
            .await?;
        Ok(secret)
    }

    /// A new secret for a confidential platform; the old one stops working at once.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        metadata: &CommandMetadata,
    ) -> Result<String, PlatformUseError> {
        let secret = new_secret();
        self.store
            .execute::<Platform>(
                client_id,
                PlatformCommand::RotateSecret {
                    secret_digest: secret_digest(&self.digest, client_id, &secret),
                },
                &(),
                metadata,
            )
            .await?;
        Ok(secret)
    }

    pub async fn disable(
        &self,
        client_id: &str,
        metadata: &CommandMetadata,
    ) -> Result<(), PlatformUseError> {
        self.store
            .execute::<Platform>(client_id, PlatformCommand::Disable, &(), metadata)
            .await?;
        Ok(())
    }

    /// One platform, if registered.
    pub async fn get(&self, client_id: &str) -> Result<Option<PlatformView>, PlatformUseError> {
        let platform = self.store.load::<Platform>(client_id).await?.aggregate;
        Ok(view(&platform))
    }

    /// The enabled platform `client_id`, and whether `secret` is its current secret (false for
    /// a public platform or no secret): one load for the token endpoint's client check.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Option<(PlatformView, bool)>, PlatformUseError> {
        let platform = self.store.load::<Platform>(client_id).await?.aggregate;
        let Some(found) = view(&platform).filter(|p| !p.disabled) else {
            return Ok(None);
        };
        let matches = match (platform.secret_digest(), secret) {
            (Some(stored), Some(secret)) => {
                let given = secret_digest(&self.digest, client_id, secret);
                constant_time_eq(stored.as_bytes(), given.as_bytes())
            }
            _ => false,
        };
        Ok(Some((found, matches)))
    }

    /// Whether `secret` is the platform's current secret (an enabled, confidential platform).
    pub async fn secret_matches(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<bool, PlatformUseError> {
        let platform = self.store.load::<Platform>(client_id).await?.aggregate;
        let Some(stored) = platform.secret_digest() else {
            return Ok(false);
        };
        let given = secret_digest(&self.digest, client_id, secret);
        Ok(!platform.is_disabled() && constant_time_eq(stored.as_bytes(), given.as_bytes()))
    }

    /// Every registered platform, by client_id. Platforms are few (one per partner site), so
    /// they are folded from the log rather than kept in a read model.
    pub async fn list(&self) -> Result<Vec<PlatformView>, PlatformUseError> {
        let ids: Vec<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1
                 ORDER BY aggregate_id",
            )
            .bind(<Platform as cqrs_es::Aggregate>::TYPE)
            .fetch_all(pool)
            .await
            .map_err(anyhow::Error::from)?
        });
        let mut views = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let platform = self.store.load::<Platform>(&id).await?.aggregate;
            views.extend(view(&platform));
        }
        Ok(views)
    }
}

fn view(platform: &Platform) -> Option<PlatformView> {
    Some(PlatformView {
        client_id: platform.client_id()?.to_string(),
        settings: platform.settings()?.clone(),
        disabled: platform.is_disabled(),
    })
}
