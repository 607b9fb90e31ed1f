//! The steps of fetching one provider's keys: discovery (when configured)
//! then the JWKS, as callouts the filter dispatches and feeds back.

use super::discovery::{parse_discovery, UrlParts, MAX_IDP_RESPONSE_BYTES};
use super::policy::{JwksSource, Provider};
use crate::jwt::{JwksLimits, KeySet};

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

/// Feeds a callout answer (status 0 = no answer / dispatch failure).
pub fn on_response(provider: &Provider, step: &FetchStep, status: u16, body: &[u8]) -> FetchNext {
    let JwksSource::Remote {
        cluster,
        extra_keys,
        ..
    } = &provider.keys
    else {
        return FetchNext::Failed("not_fetchable");
    };
    if !(200..300).contains(&status) {
        return FetchNext::Failed(match status {
            0 => "idp_unreachable",
            503 => "idp_unavailable",
            504 => "idp_timeout",
            _ => "idp_error_status",
        });
    }
    if body.len() > MAX_IDP_RESPONSE_BYTES {
        return FetchNext::Failed("idp_response_too_large");
    }
    match step {
        FetchStep::Discovery => match parse_discovery(body, &provider.issuer) {
            Ok(url) => {
                let c = call(cluster, &url, provider.refresh.fetch_timeout_ms);
                FetchNext::Call(FetchStep::Jwks { url }, c)
            }
            Err(e) => FetchNext::Failed(e.reason()),
        },
        FetchStep::Jwks { url } => match keys_from_document(body, extra_keys) {
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

/// Compiles a JWKS document (fetched here or by another VM) plus the
/// provider's configured keys. A document with no usable key is a failure:
/// the last good set keeps serving instead.
pub fn keys_from_document(
    document: &[u8],
    extra: &[crate::jwt::Jwk],
) -> Result<(KeySet, usize), &'static str> {
    let (set, skipped) =
        KeySet::from_jwks(document, JwksLimits::default()).map_err(|e| e.reason())?;
    if set.is_empty() {
        return Err("jwks_no_usable_key");
    }
    let mut keys = set.keys().to_vec();
    keys.extend(extra.iter().cloned());
    let set = KeySet::from_keys(keys).map_err(|e| e.reason())?;
    Ok((set, skipped.len()))
}

/// The provider's keys when it needs no fetching.
pub fn inline_keys(provider: &Provider) -> Option<&KeySet> {
    match &provider.keys {
        JwksSource::Inline(set) => Some(set),
        JwksSource::Remote { .. } => None,
    }
}
