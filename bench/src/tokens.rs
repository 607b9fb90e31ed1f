//! Fixed test keys (RSA-2048, P-256, Ed25519), the JWKS both JWT filters get inline, and token pools
//! signed here in Rust (10,000 RS256 signatures take seconds, not the minutes an IdP would need).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wasm_tests::{Error, Result};

pub const ISSUER: &str = "https://idp.bench.local";
pub const AUDIENCE: &str = "https://api.bench.local";

/// The token algorithms benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::Rs256, Alg::Es256, Alg::EdDsa];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn kid(self) -> &'static str {
        match self {
            Alg::Rs256 => "bench-rsa",
            Alg::Es256 => "bench-p256",
            Alg::EdDsa => "bench-ed25519",
        }
    }
}

/// The signing keys. Test-only: the RSA key is the one the policies unit tests use.
pub struct Keys {
    rsa: RsaPrivateKey,
    p256: p256::ecdsa::SigningKey,
    ed: ed25519_compact::KeyPair,
}

impl Keys {
    pub fn fixed() -> Result<Keys> {
        let rsa =
            RsaPrivateKey::from_pkcs8_pem(include_str!("../../policies/tests/data/rsa2048.pem"))
                .map_err(|e| Error(format!("test RSA key: {e}")))?;
        let p256 = p256::ecdsa::SigningKey::from_slice(&[0x11; 32])
            .map_err(|e| Error(format!("test P-256 key: {e}")))?;
        let ed = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        Ok(Keys { rsa, p256, ed })
    }

    /// One JWKS with the three public keys (`alg` and `kid` set), as both filters get it.
    pub fn jwks(&self) -> Value {
        let point = self.p256.verifying_key().to_encoded_point(false);
        let coord = |c: Option<&p256::FieldBytes>| c.map(|b| B64.encode(b)).unwrap_or_default();
        json!({"keys": [
            {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": Alg::Rs256.kid(),
             "n": B64.encode(self.rsa.n().to_bytes_be()), "e": B64.encode(self.rsa.e().to_bytes_be())},
            {"kty": "EC", "alg": "ES256", "use": "sig", "kid": Alg::Es256.kid(), "crv": "P-256",
             "x": coord(point.x()), "y": coord(point.y())},
            {"kty": "OKP", "alg": "EdDSA", "use": "sig", "kid": Alg::EdDsa.kid(), "crv": "Ed25519",
             "x": B64.encode(self.ed.pk.as_ref())}
        ]})
    }

    /// A signed token for subject `user-<n>`, valid for a day (distinct `n` = distinct token).
    pub fn mint(&self, alg: Alg, n: usize, now_s: u64) -> Result<String> {
        let header = json!({"alg": alg.name(), "typ": "JWT", "kid": alg.kid()});
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": format!("user-{n}"),
            "iat": now_s, "exp": now_s + 86_400, "scope": "api:read"
        });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match alg {
            Alg::Rs256 => self
                .rsa
                .sign(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(input.as_bytes()),
                )
                .map_err(|e| Error(format!("RS256 sign: {e}")))?,
            Alg::Es256 => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = self.p256.sign(input.as_bytes());
                sig.to_bytes().to_vec()
            }
            Alg::EdDsa => self.ed.sk.sign(input.as_bytes(), None).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", B64.encode(signature)))
    }

    /// `count` distinct tokens.
    pub fn pool(&self, alg: Alg, count: usize, now_s: u64) -> Result<Vec<String>> {
        (0..count).map(|n| self.mint(alg, n, now_s)).collect()
    }
}
