//! The compiled oidc-auth policy: providers with their key sources, and the
//! ordered rule table. Built once by [`super::config`].

use super::discovery::UrlParts;
use super::token_source::TokenSource;
use crate::claims::{ClaimExtractor, Condition};
use crate::cors::CorsPolicy;
use crate::json::from_json_names;
use crate::jwt::{Jwk, JwksLimits, KeySet, TokenPolicy};
use crate::refresh::RefreshPolicy;
use crate::routes::RouteTable;

#[derive(Debug)]
pub struct OidcPolicy {
    pub providers: Vec<Provider>,
    pub rules: RouteTable<Rule>,
    pub default_action: DefaultAction,
    pub realm: String,
    pub allow_cors_preflight: bool,
    pub cors: Option<CorsPolicy>,
    pub publish_claims: Vec<String>,
    pub token_cache_entries: usize,
    pub host_signature_verification: bool,
    /// [`claim_header_names`] and [`all_token_sources`] of `providers`, computed once.
    pub claim_header_names: Vec<String>,
    pub token_sources: Vec<TokenSource>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultAction {
    /// 403 `no_matching_rule` (the safe default).
    #[default]
    Deny,
    /// Any valid token from any provider.
    Authenticated,
    /// Let the request through unauthenticated.
    Allow,
}

from_json_names!(DefaultAction { "deny" => Deny, "authenticated" => Authenticated, "allow" => Allow });

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub keys: JwksSource,
    pub token: TokenPolicy,
    pub token_sources: Vec<TokenSource>,
    pub forward_token: bool,
    /// (lower-case header name, renderer)
    pub claim_headers: Vec<(String, ClaimExtractor)>,
    /// Key refresh timing; `min_forced_refetch_interval_ms` limits unknown-`kid` refetches.
    pub refresh: RefreshPolicy,
}

impl Provider {
    /// Whether this provider's tokens may come from `source`.
    pub fn reads_tokens_from(&self, source: &TokenSource) -> bool {
        self.token_sources.contains(source)
    }
}

#[derive(Debug)]
pub enum JwksSource {
    /// Keys from the configuration only (inline JWKS and/or an HMAC secret).
    Inline(KeySet),
    /// Keys fetched through `cluster`: from `url` directly, or from the
    /// `jwks_uri` of the discovery document at `url`. `extra_keys` (a
    /// configured HMAC secret) are added to every fetched set.
    Remote {
        cluster: String,
        discovery: bool,
        url: UrlParts,
        extra_keys: Vec<Jwk>,
        /// `max_jwks_bytes` (a larger answer is refused unread) and the key count cap.
        limits: JwksLimits,
    },
}

#[derive(Debug)]
pub struct Rule {
    /// Position in the configuration, for logs.
    pub index: usize,
    pub requirement: Requirement,
}

#[derive(Debug)]
pub enum Requirement {
    Public,
    Token {
        /// Indexes into `providers`; None = any provider.
        providers: Option<Vec<usize>>,
        claims: Option<Condition>,
    },
}

/// Every header the plugin may set from claims: removed from every incoming
/// request first, so a client can never supply them.
pub fn claim_header_names(providers: &[Provider]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (name, _) in providers.iter().flat_map(|p| p.claim_headers.iter()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Every place any provider reads tokens from, in configuration order, each
/// once (sources are compiled to one canonical form per place). A token found
/// in one is accepted only when its own provider reads from there
/// ([`Provider::reads_tokens_from`]).
pub fn all_token_sources(providers: &[Provider]) -> Vec<TokenSource> {
    let mut out: Vec<TokenSource> = Vec::new();
    for s in providers.iter().flat_map(|p| p.token_sources.iter()) {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}
