//! Compact JWS parsing (RFC 7515 §7.1), before any key is consulted.

use super::alg::Algorithm;
use super::b64;
use super::error::JwtError;
use crate::json::{from_json, read_untrusted};

/// Default largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The protected header fields we use. Unknown members are ignored, and so are
/// `jwk`, `jku`, `x5u`, `x5c`: keys come only from the configured key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A parsed, not yet verified token.
#[derive(Debug)]
pub struct UnverifiedJws<'a> {
    pub header: Header,
    /// `BASE64URL(header) '.' BASE64URL(payload)`, the bytes that were signed.
    pub signing_input: &'a str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    /// The whole token's length in bytes (each provider has its own limit).
    pub len: usize,
}

// `read_untrusted` rejects duplicate members (a second `alg` or `kid`), which
// RFC 7515 §4 allows us to do and which closes parser-differential tricks.
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

from_json!(
    #[ignore_unknown]
    RawHeader {
        alg: optional,
        kid: optional,
        typ: optional,
        crit: optional,
    }
);

/// Splits and decodes a compact JWS. Checks size, segment count, strict
/// base64url, a JSON-object header, a supported `alg` (never `none`) and no
/// `crit`. Does not check the signature.
pub fn parse(token: &str, max_bytes: usize) -> Result<UnverifiedJws<'_>, JwtError> {
    if token.len() > max_bytes {
        return Err(JwtError::TokenTooLarge { limit: max_bytes });
    }
    let dots = token.bytes().filter(|b| *b == b'.').count();
    let (signing_input, sig_b64) = match dots {
        2 => token
            .rsplit_once('.')
            .ok_or(JwtError::MalformedToken("expected three segments"))?,
        4 => return Err(JwtError::EncryptedTokenUnsupported),
        _ => return Err(JwtError::MalformedToken("expected three segments")),
    };
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(JwtError::MalformedToken("expected three segments"))?;
    if header_b64.is_empty() {
        return Err(JwtError::MalformedToken("empty header"));
    }
    let header_json =
        b64::decode(header_b64).ok_or(JwtError::MalformedToken("header is not base64url"))?;
    let payload =
        b64::decode(payload_b64).ok_or(JwtError::MalformedToken("payload is not base64url"))?;
    let signature =
        b64::decode(sig_b64).ok_or(JwtError::MalformedToken("signature is not base64url"))?;
    let header = parse_header(&header_json)?;
    Ok(UnverifiedJws {
        header,
        signing_input,
        payload,
        signature,
        len: token.len(),
    })
}

fn parse_header(json: &[u8]) -> Result<Header, JwtError> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(JwtError::MalformedToken("header is not a JSON object"));
    }
    let raw: RawHeader =
        read_untrusted(json).map_err(|_| JwtError::MalformedToken("header is not valid JSON"))?;
    let alg_name = raw
        .alg
        .ok_or(JwtError::MalformedToken("header has no alg"))?;
    let alg = Algorithm::from_name(&alg_name).ok_or(JwtError::UnsupportedAlg)?;
    if raw.crit.is_some() {
        return Err(JwtError::UnsupportedCrit);
    }
    Ok(Header {
        alg,
        kid: raw.kid,
        typ: raw.typ,
    })
}
