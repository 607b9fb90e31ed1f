//! OIDC discovery (`<issuer>/.well-known/openid-configuration`) and the URL
//! pieces a callout needs (`:authority`, `:path`).

use crate::json::{from_json, read_untrusted};

/// Largest discovery document accepted from an IdP (attacker-reachable); the
/// JWKS has its own, configurable limit (`max_jwks_bytes`).
pub const MAX_IDP_RESPONSE_BYTES: usize = 256 * 1024;

/// An http(s) URL split the way an Envoy callout wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    pub authority: String,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl UrlParts {
    pub fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i)?, rest.get(i..)?),
            None => (rest, "/"),
        };
        let valid_authority = !authority.is_empty()
            && !authority.contains('@')
            && authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
        let valid_path = path.chars().all(|c| c.is_ascii_graphic()) && !path.contains('#');
        (valid_authority && valid_path).then(|| Self {
            scheme,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// The discovery path for an issuer (OIDC Discovery §4: append to the issuer's path).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

from_json!(
    #[ignore_unknown]
    DiscoveryDocument { issuer, jwks_uri }
);

/// Why a discovery document was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not JSON, or `issuer`/`jwks_uri` missing or not strings.
    Malformed,
    /// The document names another issuer (OIDC Discovery §4.3: must be identical).
    IssuerMismatch,
    /// `jwks_uri` is not an http(s) URL.
    BadJwksUri,
    TooLarge,
}

impl DiscoveryError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "discovery_malformed",
            Self::IssuerMismatch => "discovery_issuer_mismatch",
            Self::BadJwksUri => "discovery_bad_jwks_uri",
            Self::TooLarge => "discovery_too_large",
        }
    }
}

/// Reads `jwks_uri` from a discovery document, checking that it is for `issuer`.
pub fn parse_discovery(body: &[u8], issuer: &str) -> Result<UrlParts, DiscoveryError> {
    if body.len() > MAX_IDP_RESPONSE_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let doc: DiscoveryDocument = read_untrusted(body).map_err(|_| DiscoveryError::Malformed)?;
    if doc.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    UrlParts::parse(&doc.jwks_uri).ok_or(DiscoveryError::BadJwksUri)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn urls_split_into_authority_and_path() {
        let u = UrlParts::parse("https://idp.example.com:8443/realms/x/certs?a=1").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.authority.as_str(), u.path.as_str()),
            ("https", "idp.example.com:8443", "/realms/x/certs?a=1")
        );
        assert_eq!(UrlParts::parse("http://127.0.0.1:9000").unwrap().path, "/");
        for bad in [
            "ftp://x/y",
            "http://",
            "http://user@host/",
            "http://a b/",
            "//x/y",
            "http://h/p#frag",
            "http://h/p q",
        ] {
            assert_eq!(UrlParts::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = br#"{"issuer":"http://127.0.0.1:9000","jwks_uri":"http://127.0.0.1:9000/jwks"}"#;
        assert_eq!(
            parse_discovery(doc, "http://127.0.0.1:9000").unwrap().path,
            "/jwks"
        );
        assert_eq!(
            parse_discovery(doc, "http://127.0.0.1:9000/"),
            Err(DiscoveryError::IssuerMismatch)
        );
        assert_eq!(
            parse_discovery(b"<html>", "x"),
            Err(DiscoveryError::Malformed)
        );
        assert_eq!(
            parse_discovery(br#"{"issuer":"x","jwks_uri":5}"#, "x"),
            Err(DiscoveryError::Malformed)
        );
        assert_eq!(
            parse_discovery(br#"{"issuer":"x","jwks_uri":"file:///etc/passwd"}"#, "x"),
            Err(DiscoveryError::BadJwksUri)
        );
        assert_eq!(
            discovery_url("https://a/b/"),
            "https://a/b/.well-known/openid-configuration"
        );
    }
}
