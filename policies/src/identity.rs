//! The verified identity oidc-auth publishes for later plugins on the same
//! request (Envoy filter state `wasm.oidc_identity`). Only oidc-auth writes
//! it, after verifying the token; a client cannot set filter state, so later
//! plugins trust it without verifying again.

use crate::json::{from_json, read_untrusted};
use serde::Serialize;
use serde_json::{Map, Value};

/// Filter-state name (Envoy stores it as `wasm.oidc_identity`).
pub const IDENTITY_PROPERTY: &str = "oidc_identity";

/// Largest identity document a reader accepts.
pub const MAX_IDENTITY_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifiedIdentity {
    /// Provider name from the oidc-auth configuration.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    /// Token expiry (unix seconds): later plugins must not outlive it.
    pub expires_at: u64,
    /// The claims the operator chose to publish (`publish_claims`).
    pub claims: Map<String, Value>,
}

from_json!(
    #[ignore_unknown]
    VerifiedIdentity {
        provider,
        issuer,
        subject,
        expires_at,
        claims: default,
    }
);

impl VerifiedIdentity {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// None for absent, oversized or malformed data: readers then treat the
    /// request as unauthenticated (fail closed).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > MAX_IDENTITY_BYTES {
            return None;
        }
        read_untrusted(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn identity_round_trips_and_garbage_is_unauthenticated() {
        let mut claims = Map::new();
        claims.insert("roles".into(), serde_json::json!(["admin"]));
        let id = VerifiedIdentity {
            provider: "local".into(),
            issuer: "http://idp".into(),
            subject: "alice".into(),
            expires_at: 42,
            claims,
        };
        assert_eq!(VerifiedIdentity::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(VerifiedIdentity::from_bytes(b""), None);
        assert_eq!(VerifiedIdentity::from_bytes(b"{\"subject\":1}"), None);
        assert_eq!(
            VerifiedIdentity::from_bytes(&vec![b' '; MAX_IDENTITY_BYTES + 1]),
            None
        );
    }
}
