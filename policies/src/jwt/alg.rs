//! JWS algorithms (RFC 7518 §3) and the key kind each one needs.

use crate::config::ConfigError;

/// A signature algorithm we can verify. `none` is deliberately absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
    Hs256,
    Hs384,
    Hs512,
}

/// The kind of key an algorithm needs: used to select keys for a token
/// and to refuse algorithm confusion (e.g. an RSA key used as HMAC secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
    /// A symmetric secret; only ever built from configuration.
    Oct,
}

/// The SHA-2 function behind an algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Output length in bytes (the minimum HMAC key length, RFC 7518 §3.2).
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The name Envoy's `verify_signature` foreign function expects.
    pub fn host_name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

impl Algorithm {
    pub const ALL: [Algorithm; 13] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::EdDsa,
        Self::Hs256,
        Self::Hs384,
        Self::Hs512,
    ];

    /// Parses a JWS `alg` value. Case-sensitive, as RFC 7515 requires:
    /// `none`, `None`, `NONE` and `rs256` are all unsupported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                KeyKind::Rsa
            }
            Self::Es256 => KeyKind::EcP256,
            Self::Es384 => KeyKind::EcP384,
            Self::Es512 => KeyKind::EcP521,
            Self::EdDsa => KeyKind::Ed25519,
            Self::Hs256 | Self::Hs384 | Self::Hs512 => KeyKind::Oct,
        }
    }

    /// The hash function; `None` for EdDSA (Ed25519 hashes internally).
    pub fn hash(self) -> Option<Hash> {
        match self {
            Self::Rs256 | Self::Ps256 | Self::Es256 | Self::Hs256 => Some(Hash::Sha256),
            Self::Rs384 | Self::Ps384 | Self::Es384 | Self::Hs384 => Some(Hash::Sha384),
            Self::Rs512 | Self::Ps512 | Self::Es512 | Self::Hs512 => Some(Hash::Sha512),
            Self::EdDsa => None,
        }
    }
}

/// Compiles a configured list of algorithm names (e.g. `providers[0].algorithms`).
/// Rejects an empty list, unknown names and duplicates.
pub fn parse_alg_list(path: &str, names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    if names.is_empty() {
        return Err(ConfigError::new(path, "at least one algorithm is required")
            .with_hint("e.g. [\"RS256\", \"ES256\"]"));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let item = format!("{path}[{i}]");
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            ConfigError::new(&item, format!("unknown algorithm `{name}`")).with_hint(
                "one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512",
            )
        })?;
        if out.contains(&alg) {
            return Err(ConfigError::new(item, format!("`{name}` is listed twice")));
        }
        out.push(alg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_names_are_case_sensitive_and_none_is_unknown() {
        for bad in [
            "none", "None", "NONE", "nOnE", "rs256", "Rs256", "EDDSA", "ES256K", "",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn alg_list_errors_name_the_offending_entry() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = parse_alg_list("p.algs", &names(&["RS256", "none"])).unwrap_err();
        assert_eq!(e.path, "p.algs[1]");
        let e = parse_alg_list("p.algs", &names(&["RS256", "RS256"])).unwrap_err();
        assert_eq!(e.path, "p.algs[1]");
        assert_eq!(parse_alg_list("p.algs", &[]).unwrap_err().path, "p.algs");
        assert_eq!(
            parse_alg_list("p", &names(&["ES384", "EdDSA"])).unwrap(),
            vec![Algorithm::Es384, Algorithm::EdDsa]
        );
    }
}
