//! Rules of the registration saga (a process manager). The saga's state is the new Account's
//! `RegistrationStarted` event: from it alone the service can start, resume after a crash, or
//! compensate, always making the same claims in the same order.

use crate::account::{IdentityClaimMode, PhoneClaimMode, RegistrationChannel, RegistrationDetails};
use crate::ids::{identity_id, login_name_id, LoginNameKind};
use crate::values::DocumentSummary;
use uuid::Uuid;

/// One unique value the new account must hold before it is registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationClaim {
    LoginName {
        kind: LoginNameKind,
        value: String,
    },
    /// 继续注册: the phone is taken from its holder. Always the last claim, so that nothing
    /// after it can fail and have to give the phone back.
    TakeOverPhone {
        value: String,
    },
    Identity {
        document: DocumentSummary,
        /// The conscription office that created the account, if one did.
        protected_by: Option<String>,
    },
    /// 我要重新注册: bind the identity if free, else claim it from its holder.
    IdentityOrDuplicate {
        document: DocumentSummary,
    },
}

impl RegistrationClaim {
    /// The id of the aggregate that guards this value.
    pub fn aggregate_id(&self) -> Uuid {
        match self {
            Self::LoginName { kind, value } => login_name_id(*kind, value),
            Self::TakeOverPhone { value } => login_name_id(LoginNameKind::Phone, value),
            Self::Identity { document, .. } | Self::IdentityOrDuplicate { document } => {
                identity_id(document.kind, &document.number_digest)
            }
        }
    }

    /// The refusal a registration gets when another account holds this value.
    pub fn refusal_code(&self) -> &'static str {
        match self {
            Self::LoginName {
                kind: LoginNameKind::Phone,
                ..
            } => "phone_taken",
            Self::LoginName {
                kind: LoginNameKind::Email,
                ..
            } => "email_taken",
            Self::LoginName { .. } => "login_name_taken",
            Self::TakeOverPhone { .. } => "phone_taken",
            Self::Identity { .. } | Self::IdentityOrDuplicate { .. } => "id_number_taken",
        }
    }
}

/// The claims in the order the saga makes them: the phone (the username), the identity, the
/// e-mail. Releasing happens in the reverse order.
pub fn registration_claims(details: &RegistrationDetails) -> Vec<RegistrationClaim> {
    let protected_by = match &details.channel {
        RegistrationChannel::ConscriptionOffice { office } => Some(office.clone()),
        RegistrationChannel::SelfService => None,
    };
    claims_for(
        details.phone.as_deref(),
        &details.document,
        details.email.as_deref(),
        details.identity_claim,
        details.phone_claim,
        protected_by,
    )
}

/// The claims for these values, in saga order: the phone first (the username; the usual
/// conflict), the identity, the e-mail — except that a phone taken over comes last.
pub fn claims_for(
    phone: Option<&str>,
    document: &DocumentSummary,
    email: Option<&str>,
    identity_mode: IdentityClaimMode,
    phone_mode: PhoneClaimMode,
    protected_by: Option<String>,
) -> Vec<RegistrationClaim> {
    let mut claims = Vec::with_capacity(3);
    if let (Some(phone), PhoneClaimMode::Claim) = (phone, phone_mode) {
        claims.push(RegistrationClaim::LoginName {
            kind: LoginNameKind::Phone,
            value: phone.to_string(),
        });
    }
    claims.push(match identity_mode {
        IdentityClaimMode::Bind => RegistrationClaim::Identity {
            document: document.clone(),
            protected_by,
        },
        IdentityClaimMode::ReRegister => RegistrationClaim::IdentityOrDuplicate {
            document: document.clone(),
        },
    });
    if let Some(email) = email {
        claims.push(RegistrationClaim::LoginName {
            kind: LoginNameKind::Email,
            value: email.to_string(),
        });
    }
    if let (Some(phone), PhoneClaimMode::TakeOver) = (phone, phone_mode) {
        claims.push(RegistrationClaim::TakeOverPhone {
            value: phone.to_string(),
        });
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::DocumentType;

    #[test]
    fn claims_follow_the_form_order_and_skip_what_is_missing() {
        let mut details = RegistrationDetails {
            name: "张三".into(),
            phone: Some("+8613800138000".into()),
            document: DocumentSummary {
                kind: DocumentType::ResidentIdCard,
                number_digest: "d".into(),
                masked: "m".into(),
            },
            email: None,
            password_hash: "h".into(),
            security_questions: vec![],
            channel: RegistrationChannel::SelfService,
            terms_accepted: true,
            identity_claim: IdentityClaimMode::Bind,
            phone_claim: PhoneClaimMode::Claim,
        };
        let codes: Vec<_> = registration_claims(&details)
            .iter()
            .map(RegistrationClaim::refusal_code)
            .collect();
        assert_eq!(codes, ["phone_taken", "id_number_taken"]);
        details.email = Some("a@b.cn".into());
        assert_eq!(registration_claims(&details).len(), 3);
        // A phone taken over is the last claim.
        details.phone_claim = PhoneClaimMode::TakeOver;
        let claims = registration_claims(&details);
        assert!(matches!(
            claims.last(),
            Some(RegistrationClaim::TakeOverPhone { .. })
        ));
    }
}
