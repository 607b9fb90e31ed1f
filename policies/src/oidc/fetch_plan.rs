//! The steps of fetching one provider's keys: discovery (when configured)
//! then the JWKS, as callouts the filter dispatches and feeds back.

use super::discovery::{parse_discovery, UrlParts, MAX_IDP_RESPONSE_BYTES};
use super::policy::{JwksSource, Provider};
use crate::jwt::KeySet;

/// A callout to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchCall {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

/// Where a fetch stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchStep {
    Discovery,
    Jwks { url: UrlParts },
}

/// The outcome of feeding a response.
#[derive(Debug)]
pub enum FetchNext {
    /// Make this call next (after discovery).
    Call(FetchStep, FetchCall),
    /// Keys ready; `document` is the raw JWKS to share with other VMs,
    /// `jwks_url` what discovery found (so the next fetch can skip it).
    Done {
        keys: KeySet,
        document: Vec<u8>,
        jwks_url: UrlParts,
        skipped: usize,
    },
    Failed(&'static str),
}

/// The first call of a fetch. With discovery, a JWKS URL learned earlier is
/// used directly (discovery is redone only when that fails).
pub fn first_call(
    provider: &Provider,
    known_jwks_url: Option<&UrlParts>,
) -> Option<(FetchStep, FetchCall)> {
    let JwksSource::Remote {
        cluster,
        discovery,
        url,
        ..
    } = &provider.keys
    else {
        return None;
    };
    let (step, target) = match (discovery, known_jwks_url) {
        (true, None) => (FetchStep::Discovery, url),
        (true, Some(known)) => (FetchStep::Jwks { url: known.clone() }, known),
        (false, _) => (FetchStep::Jwks { url: url.clone() }, url),
    };
    Some((
        step,
        call(cluster, target, provider.refresh.fetch_timeout_ms),
    ))
}

fn call(cluster: &str, url: &UrlParts, timeout_ms: u64) -> FetchCall {
    FetchCall {
        cluster: cluster.to_string(),
        authority: url.authority.clone(),
        path: url.path.clone(),
        timeout_ms,
    }
}

/// A callout's answer as the host saw it. `body` is empty when `body_size`
/// exceeds [`body_limit`]: an oversized answer is refused unread.
#[derive(Clone, Copy, Debug)]
pub struct FetchAnswer<'a> {
    /// HTTP status; 0 = no answer / dispatch failure.
    pub status: u16,
    /// Size of the body the IdP sent.
    pub body_size: usize,
    pub body: &'a [u8],
}

/// The largest body worth reading for this step: `max_jwks_bytes` for the
/// JWKS, [`MAX_IDP_RESPONSE_BYTES`] for discovery.
pub fn body_limit(provider: &Provider, step: &FetchStep) -> usize {
    match (step, &provider.keys) {
        (FetchStep::Jwks { .. }, JwksSource::Remote { limits, .. }) => limits.max_bytes,
        _ => MAX_IDP_RESPONSE_BYTES,
    }
}

/// Feeds a callout answer.
pub fn on_response(provider: &Provider, step: &FetchStep, answer: FetchAnswer<'_>) -> FetchNext {
    let JwksSource::Remote { cluster, .. } = &provider.keys else {
        return FetchNext::Failed("not_fetchable");
    };
    let status = answer.status;
    if !(200..300).contains(&status) {
        return FetchNext::Failed(match status {
            0 => "idp_unreachable",
            503 => "idp_unavailable",
            504 => "idp_timeout",
            _ => "idp_error_status",
        });
    }
    let limit = body_limit(provider, step);
    if answer.body_size > limit || answer.body.len() > limit {
        return FetchNext::Failed(match step {
            FetchStep::Discovery => "discovery_too_large",
            FetchStep::Jwks { .. } => "jwks_too_large",
        });
    }
    let body = answer.body;
    match step {
        FetchStep::Discovery => match parse_discovery(body, &provider.issuer) {
            Ok(url) => {
                let c = call(cluster, &url, provider.refresh.fetch_timeout_ms);
                FetchNext::Call(FetchStep::Jwks { url }, c)
            }
            Err(e) => FetchNext::Failed(e.reason()),
        },
        FetchStep::Jwks { url } => match keys_from_document(provider, body) {
            Ok((keys, skipped)) => FetchNext::Done {
                keys,
                document: body.to_vec(),
                jwks_url: url.clone(),
                skipped,
            },
            Err(reason) => FetchNext::Failed(reason),
        },
    }
}

/// Compiles a JWKS document (fetched here or by another VM) within the
/// provider's limits, plus its configured keys. A document with no usable
/// key is a failure: the last good set keeps serving instead.
pub fn keys_from_document(
    provider: &Provider,
    document: &[u8],
) -> Result<(KeySet, usize), &'static str> {
    let JwksSource::Remote {
        extra_keys, limits, ..
    } = &provider.keys
    else {
        return Err("not_fetchable");
    };
    let (set, skipped) = KeySet::from_jwks(document, *limits).map_err(|e| e.reason())?;
    if set.is_empty() {
        return Err("jwks_no_usable_key");
    }
    let set = set.with_extra_keys(extra_keys).map_err(|e| e.reason())?;
    Ok((set, skipped.len()))
}

/// What a fetch failure reason means, for the operator's log line.
pub fn describe_failure(reason: &str) -> &'static str {
    match reason {
        "idp_unreachable" => "no answer from the IdP cluster",
        "idp_unavailable" => "the IdP cluster answered 503 (no healthy endpoint or connection refused)",
        "idp_timeout" => "the IdP did not answer within fetch_timeout",
        "idp_error_status" => "the IdP answered a non-2xx status",
        "discovery_malformed" => "the discovery document is not JSON with string `issuer` and `jwks_uri`",
        "discovery_issuer_mismatch" => {
            "the discovery document names another issuer than the configured one; its keys are not trusted"
        }
        "discovery_bad_jwks_uri" => "the discovery document's `jwks_uri` is not an http(s) URL",
        "discovery_too_large" => "the discovery document exceeds 256 KiB",
        "jwks_too_large" => "the JWKS exceeds max_jwks_bytes",
        "malformed_jwks" => "the JWKS is not a JSON object with a `keys` array",
        "jwks_no_usable_key" => "the JWKS has no key this plugin can use (all entries invalid or unsupported)",
        "dispatch_failed" => "the host refused the callout (unknown cluster?)",
        _ => "the key fetch failed",
    }
}

/// The provider's keys when it needs no fetching.
pub fn inline_keys(provider: &Provider) -> Option<&KeySet> {
    match &provider.keys {
        JwksSource::Inline(set) => Some(set),
        JwksSource::Remote { .. } => None,
    }
}

#[cfg(test)]
mod tests;
