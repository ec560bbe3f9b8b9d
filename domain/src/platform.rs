//! Partner platforms (relying parties of the OpenID provider, seed 000: 学信档案, 研招网,
//! 征兵网, 学信就业 …), registered by an administrator. Keyed by the client_id. A confidential
//! platform's secret is kept only as a keyed digest, made by the application layer; the domain
//! never sees the secret.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a platform may ask for. `openid` is always among a platform's scopes.
pub const SCOPES: [&str; 6] = ["openid", "profile", "phone", "email", "identity", "records"];

/// A confidential platform authenticates with its secret; a public one (a mobile or
/// single-page app) cannot keep one and must use PKCE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Confidential,
    Public,
}

/// The settings an administrator gives a platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformSettings {
    /// Shown on the login and consent pages (研究生招生信息网).
    pub name: String,
    pub kind: ClientKind,
    /// Exact redirect URIs: a code goes only to one of these, compared character by character.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// The scopes it may ask for (always with `openid`).
    pub scopes: Vec<String>,
    /// Platforms of one sector see a person under the same pairwise `sub`; by default each
    /// platform is its own sector (its client_id), so only an administrator's choice lets two
    /// platforms correlate a person.
    pub sector: String,
}

#[derive(Clone, Debug)]
pub enum PlatformCommand {
    Register {
        client_id: String,
        settings: PlatformSettings,
        /// The keyed digest of a confidential platform's secret.
        secret_digest: Option<String>,
    },
    RotateSecret {
        secret_digest: String,
    },
    Disable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PlatformEvent {
    PlatformRegistered {
        client_id: String,
        settings: PlatformSettings,
        secret_digest: Option<String>,
    },
    PlatformSecretRotated {
        secret_digest: String,
    },
    PlatformDisabled,
}

impl DomainEvent for PlatformEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PlatformRegistered { .. } => "PlatformRegistered",
            Self::PlatformSecretRotated { .. } => "PlatformSecretRotated",
            Self::PlatformDisabled => "PlatformDisabled",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// A setting is not acceptable; the code names which.
    #[error("invalid platform setting: {0}")]
    Invalid(&'static str),
    #[error("a platform with this client_id exists")]
    Exists,
    #[error("no such platform")]
    Unknown,
    #[error("a public platform has no secret")]
    NoSecret,
    #[error("the platform is disabled")]
    Disabled,
}

/// A client_id: 2 to 64 of `a-z 0-9 - _ .`, starting with a letter or a digit.
pub fn valid_client_id(raw: &str) -> bool {
    (2..=64).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// A redirect URI a platform may register: absolute, `https` (or `http` to a loopback host, for
/// development), an ASCII host name or address with an optional numeric port, no user part, no
/// fragment, no wildcard, no backslash, nothing outside printable ASCII. It is kept as given and
/// later compared character by character.
pub fn valid_redirect_uri(raw: &str) -> bool {
    if raw.len() > 512
        || !raw.bytes().all(|b| b.is_ascii_graphic())
        || raw.contains(['#', '*', '\\'])
    {
        return false;
    }
    let (secure, rest) = match (raw.strip_prefix("https://"), raw.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return false,
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, after)) => (address, after.strip_prefix(':')),
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && !host.ends_with('.')
        && !host.starts_with('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    host_ok && port_ok && (secure || loopback)
}

/// A name or sector as people read it: no control or bidirectional-override characters.
fn plain_text(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_control()
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

impl PlatformSettings {
    /// Checks and normalizes: names trimmed, scopes ordered with `openid`, no repeats.
    pub fn validated(mut self) -> Result<Self, PlatformError> {
        self.name = self.name.trim().to_string();
        self.sector = self.sector.trim().to_lowercase();
        if self.name.is_empty() || self.name.chars().count() > 64 || !plain_text(&self.name) {
            return Err(PlatformError::Invalid("name"));
        }
        if self.redirect_uris.is_empty()
            || !self.redirect_uris.iter().all(|u| valid_redirect_uri(u))
        {
            return Err(PlatformError::Invalid("redirect_uri"));
        }
        if self.sector.is_empty() || self.sector.len() > 128 || !plain_text(&self.sector) {
            return Err(PlatformError::Invalid("sector"));
        }
        if !self
            .post_logout_redirect_uris
            .iter()
            .all(|u| valid_redirect_uri(u))
        {
            return Err(PlatformError::Invalid("post_logout_redirect_uri"));
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            if !valid_redirect_uri(uri) {
                return Err(PlatformError::Invalid("backchannel_logout_uri"));
            }
        }
        if self.scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
            return Err(PlatformError::Invalid("scope"));
        }
        self.scopes = SCOPES
            .iter()
            .filter(|s| **s == "openid" || self.scopes.iter().any(|given| given == *s))
            .map(|s| s.to_string())
            .collect();
        dedup(&mut self.redirect_uris);
        dedup(&mut self.post_logout_redirect_uris);
        Ok(self)
    }
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    client_id: Option<String>,
    settings: Option<PlatformSettings>,
    secret_digest: Option<String>,
    disabled: bool,
}

impl Platform {
    pub fn exists(&self) -> bool {
        self.client_id.is_some()
    }

    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    pub fn settings(&self) -> Option<&PlatformSettings> {
        self.settings.as_ref()
    }

    pub fn secret_digest(&self) -> Option<&str> {
        self.secret_digest.as_deref()
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }
}

impl Aggregate for Platform {
    const TYPE: &'static str = "Platform";
    type Command = PlatformCommand;
    type Event = PlatformEvent;
    type Error = PlatformError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            PlatformCommand::Register {
                client_id,
                settings,
                secret_digest,
            } => {
                if self.exists() {
                    return Err(PlatformError::Exists);
                }
                if !valid_client_id(&client_id) {
                    return Err(PlatformError::Invalid("client_id"));
                }
                let settings = settings.validated()?;
                match (settings.kind, &secret_digest) {
                    (ClientKind::Confidential, Some(_)) | (ClientKind::Public, None) => {}
                    (ClientKind::Confidential, None) => {
                        return Err(PlatformError::Invalid("secret"))
                    }
                    (ClientKind::Public, Some(_)) => return Err(PlatformError::NoSecret),
                }
                sink.write(
                    PlatformEvent::PlatformRegistered {
                        client_id,
                        settings,
                        secret_digest,
                    },
                    self,
                )
                .await;
            }
            PlatformCommand::RotateSecret { secret_digest } => {
                let settings = self.settings.as_ref().ok_or(PlatformError::Unknown)?;
                if self.disabled {
                    return Err(PlatformError::Disabled);
                }
                if settings.kind == ClientKind::Public {
                    return Err(PlatformError::NoSecret);
                }
                sink.write(PlatformEvent::PlatformSecretRotated { secret_digest }, self)
                    .await;
            }
            PlatformCommand::Disable => {
                if !self.exists() {
                    return Err(PlatformError::Unknown);
                }
                if !self.disabled {
                    sink.write(PlatformEvent::PlatformDisabled, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PlatformEvent::PlatformRegistered {
                client_id,
                settings,
                secret_digest,
            } => {
                self.client_id = Some(client_id);
                self.settings = Some(settings);
                self.secret_digest = secret_digest;
            }
            PlatformEvent::PlatformSecretRotated { secret_digest } => {
                self.secret_digest = Some(secret_digest);
            }
            PlatformEvent::PlatformDisabled => self.disabled = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn settings(kind: ClientKind) -> PlatformSettings {
        PlatformSettings {
            name: " 研究生招生信息网 ".into(),
            kind,
            redirect_uris: vec!["https://yz.example.cn/callback".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: Some("https://yz.example.cn/backchannel".into()),
            scopes: vec!["records".into(), "profile".into(), "profile".into()],
            sector: "yz.example.cn".into(),
        }
    }

    #[test]
    fn a_platform_is_registered_once_with_its_settings_normalized() {
        let mut expected = settings(ClientKind::Confidential);
        expected.name = "研究生招生信息网".into();
        expected.scopes = vec!["openid".into(), "profile".into(), "records".into()];
        let registered = PlatformEvent::PlatformRegistered {
            client_id: "yz".into(),
            settings: expected,
            secret_digest: Some("digest".into()),
        };
        TestFramework::<Platform>::with(())
            .given_no_previous_events()
            .when(PlatformCommand::Register {
                client_id: "yz".into(),
                settings: settings(ClientKind::Confidential),
                secret_digest: Some("digest".into()),
            })
            .then_expect_events(vec![registered.clone()]);
        TestFramework::<Platform>::with(())
            .given(vec![registered])
            .when(PlatformCommand::Register {
                client_id: "yz".into(),
                settings: settings(ClientKind::Confidential),
                secret_digest: Some("other".into()),
            })
            .then_expect_error(PlatformError::Exists);
    }

    #[test]
    fn bad_settings_are_refused_naming_the_setting() {
        let refuse = |change: fn(&mut PlatformSettings), what: &'static str| {
            let mut bad = settings(ClientKind::Public);
            change(&mut bad);
            TestFramework::<Platform>::with(())
                .given_no_previous_events()
                .when(PlatformCommand::Register {
                    client_id: "app".into(),
                    settings: bad,
                    secret_digest: None,
                })
                .then_expect_error(PlatformError::Invalid(what));
        };
        refuse(|s| s.redirect_uris = vec![], "redirect_uri");
        refuse(
            |s| s.redirect_uris = vec!["http://yz.example.cn/cb".into()],
            "redirect_uri",
        );
        refuse(
            |s| s.redirect_uris = vec!["https://yz.example.cn/cb#frag".into()],
            "redirect_uri",
        );
        refuse(
            |s| s.redirect_uris = vec!["https://*.example.cn/cb".into()],
            "redirect_uri",
        );
        refuse(
            |s| s.redirect_uris = vec!["https://evil@yz.example.cn/cb".into()],
            "redirect_uri",
        );
        refuse(|s| s.scopes = vec!["admin".into()], "scope");
        refuse(|s| s.name = "  ".into(), "name");
        refuse(
            |s| s.backchannel_logout_uri = Some("ftp://x".into()),
            "backchannel_logout_uri",
        );
        refuse(|s| s.name = "平台\u{202E}moc.live".into(), "name");
        refuse(|s| s.redirect_uris = vec![], "redirect_uri");
        for bad in [
            "https://evil.com\\good.com/cb",
            "http://127.0.0.1:80.evil.com/",
            "https://:443/cb",
            "https://yz.example.cn./cb",
            "https://例子.cn/cb",
            "https://yz.example.cn:99999/cb",
            "HTTPS://yz.example.cn/cb",
            "https:///cb",
        ] {
            assert!(!valid_redirect_uri(bad), "{bad}");
        }
        assert!(valid_redirect_uri("https://yz.example.cn:8443/cb?x=1"));
        assert!(valid_redirect_uri("http://[::1]:8080/cb"));
        assert!(!valid_client_id(".."));
        assert!(!valid_client_id("-x"));
        assert!(valid_redirect_uri("http://127.0.0.1:8000/cb"));
        assert!(valid_redirect_uri("http://localhost/cb"));
        assert!(!valid_redirect_uri("http://localhost.evil.cn/cb"));
        assert!(!valid_client_id("Has Space"));
    }

    #[test]
    fn a_public_platform_has_no_secret_and_a_confidential_one_needs_one() {
        TestFramework::<Platform>::with(())
            .given_no_previous_events()
            .when(PlatformCommand::Register {
                client_id: "app".into(),
                settings: settings(ClientKind::Public),
                secret_digest: Some("digest".into()),
            })
            .then_expect_error(PlatformError::NoSecret);
        TestFramework::<Platform>::with(())
            .given_no_previous_events()
            .when(PlatformCommand::Register {
                client_id: "web".into(),
                settings: settings(ClientKind::Confidential),
                secret_digest: None,
            })
            .then_expect_error(PlatformError::Invalid("secret"));
    }

    #[test]
    fn a_disabled_platform_keeps_its_secret_and_is_disabled_once() {
        let registered = PlatformEvent::PlatformRegistered {
            client_id: "yz".into(),
            settings: settings(ClientKind::Confidential).validated().unwrap(),
            secret_digest: Some("d1".into()),
        };
        TestFramework::<Platform>::with(())
            .given(vec![registered.clone()])
            .when(PlatformCommand::RotateSecret {
                secret_digest: "d2".into(),
            })
            .then_expect_events(vec![PlatformEvent::PlatformSecretRotated {
                secret_digest: "d2".into(),
            }]);
        TestFramework::<Platform>::with(())
            .given(vec![registered.clone(), PlatformEvent::PlatformDisabled])
            .when(PlatformCommand::Disable)
            .then_expect_events(vec![]);
        TestFramework::<Platform>::with(())
            .given(vec![registered, PlatformEvent::PlatformDisabled])
            .when(PlatformCommand::RotateSecret {
                secret_digest: "d3".into(),
            })
            .then_expect_error(PlatformError::Disabled);
        TestFramework::<Platform>::with(())
            .given_no_previous_events()
            .when(PlatformCommand::Disable)
            .then_expect_error(PlatformError::Unknown);
    }
}
