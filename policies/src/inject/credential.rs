//! Where a backend's credential comes from, behind a small trait so the
//! filter plugs in Vault, static values and OAuth2 tokens.

use super::config::CredentialSpec;
use crate::env::Now;
use crate::secret::Secret;
use crate::vault::{SecretValue, Unavailable};
use crate::vec_map::VecMap;

/// Why a credential cannot be used now: the request fails closed with 503.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("credential unavailable: {reason}")]
pub struct CredentialUnavailable {
    /// Reason code, e.g. `secret_not_loaded`, `vault_unavailable`, `token_not_loaded`.
    pub reason: &'static str,
    /// The code of the last upstream error that explains it (`vault_unreachable`).
    pub last_error: Option<&'static str>,
}

impl CredentialUnavailable {
    pub fn new(reason: &'static str) -> Self {
        Self {
            reason,
            last_error: None,
        }
    }
}

impl From<Unavailable> for CredentialUnavailable {
    fn from(u: Unavailable) -> Self {
        Self {
            reason: u.code(),
            last_error: u.last_error,
        }
    }
}

/// The dynamic credential sources. Static credentials are resolved at
/// configure time and need no source.
pub trait CredentialSource {
    /// All configured fields of Vault secret `name`.
    fn vault_secret(&self, name: &str, now: Now) -> Result<SecretValue, CredentialUnavailable>;

    /// The current access token of OAuth2 client `index` (backend order).
    fn oauth2_token(&self, index: usize, now: Now) -> Result<Secret, CredentialUnavailable>;

    /// The credential fields for `spec`; `secret` is always the primary value.
    fn current(
        &self,
        spec: &CredentialSpec,
        now: Now,
    ) -> Result<SecretValue, CredentialUnavailable> {
        match spec {
            CredentialSpec::Static(fields) => Ok(fields.clone()),
            CredentialSpec::Vault { secret, field } => {
                let value = self.vault_secret(secret, now)?;
                match field {
                    Some(f) => value
                        .with_primary(f)
                        .ok_or(CredentialUnavailable::new("secret_field_missing")),
                    None => Ok(value),
                }
            }
            // Needs callouts per request: `Injector::decide` never asks a
            // source for it (it answers `Decision::FetchUserCredential`).
            CredentialSpec::VaultPerUser(_) => {
                Err(CredentialUnavailable::new("per_user_credential"))
            }
            CredentialSpec::OAuth2 { index } => {
                let token = self.oauth2_token(*index, now)?;
                let mut fields = VecMap::new();
                fields.insert("secret".to_string(), token.clone());
                fields.insert("access_token".to_string(), token);
                Ok(SecretValue::new(fields))
            }
        }
    }
}
