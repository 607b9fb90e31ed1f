//! The user's own JWT, for Vault's JWT login. It must be the token oidc-auth
//! verified: a Vault token obtained with another user's JWT would otherwise
//! be cached under this user's subject.

use super::error::UserVaultError;
use crate::identity::VerifiedIdentity;
use crate::json::{from_json, read_untrusted};
use crate::jwt::b64;
use crate::jwt::token::DEFAULT_MAX_TOKEN_BYTES;
use crate::oidc::token_source::{extract, ExtractError, RequestTokens, TokenSource};
use crate::secret::Secret;

struct Binding {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
}

from_json!(
    #[ignore_unknown]
    Binding {
        iss: optional,
        sub: optional,
        exp: optional,
    }
);

/// The user's token, taken from the configured `sources` (one token in one
/// place, as oidc-auth requires), when it is a JWT whose `iss`, `sub` and
/// `exp` are those of the verified `identity`. Signatures are not checked
/// again: oidc-auth did, and Vault does at login.
pub fn user_token(
    sources: &[TokenSource],
    request: &RequestTokens<'_>,
    identity: &VerifiedIdentity,
) -> Result<Secret, UserVaultError> {
    let token = match extract(sources, request) {
        Ok(Some(token)) => token,
        // None, a header with another scheme, or two tokens (which of them
        // oidc-auth verified cannot be told): no usable token.
        Ok(None) | Err(ExtractError::WrongScheme | ExtractError::Ambiguous) => {
            return Err(UserVaultError::TokenMissing)
        }
    };
    let payload = compact_jws_payload(token.expose()).ok_or(UserVaultError::TokenMissing)?;
    let claims: Binding = read_untrusted(&payload).map_err(|_| UserVaultError::TokenMismatch)?;
    let same = claims.iss.as_deref() == Some(identity.issuer.as_str())
        && claims.sub.as_deref() == Some(identity.subject.as_str())
        && claims.exp == Some(identity.expires_at);
    if same {
        Ok(token)
    } else {
        Err(UserVaultError::TokenMismatch)
    }
}

/// The decoded payload of a compact JWS (`header.payload.signature`, all
/// base64url). Only the shape is checked: the claims are compared with the
/// verified identity, which is what binds the token.
fn compact_jws_payload(token: &str) -> Option<Vec<u8>> {
    if token.len() > DEFAULT_MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if header.is_empty() || sig.is_empty() {
        return None;
    }
    b64::decode(header)?;
    b64::decode(sig)?;
    b64::decode(payload)
}
