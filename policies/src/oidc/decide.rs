//! The oidc-auth decision for one request.

use super::answer::Denial;
use super::policy::{DefaultAction, OidcPolicy, Provider, Requirement};
use super::token_cache::TokenCache;
use super::token_source::{
    extract_with_source, strip_cookie, strip_query_param, ExtractError, Found, RequestTokens,
    TokenSource,
};
use crate::claims::ClaimDenied;
use crate::cors::is_preflight;
use crate::env::Now;
use crate::identity::VerifiedIdentity;
use crate::json::parse_untrusted;
use crate::jwt::{
    token, verify_parsed_token, JwtError, KeySet, SignatureBackend, UnverifiedJws, VerifiedToken,
};
use crate::routes::{split_path_and_query, RouteRequest, RouteVerdict};
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::rc::Rc;

/// What the filter read from the request (header names lower-case).
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The `:path` header: path and query.
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
}

impl RequestFacts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// The state of one provider's keys, as the filter holds them.
pub enum KeyState<'a> {
    Usable(&'a KeySet),
    /// Not loaded yet, or older than `max_staleness`: `keys_not_loaded` / `keys_too_stale`.
    Unavailable(&'static str),
}

pub trait KeyLookup {
    fn keys(&self, provider: usize) -> KeyState<'_>;
}

/// Where the verification result came from (for the cache metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    NotNeeded,
    Hit,
    Miss,
}

#[derive(Debug)]
pub struct Allowed {
    /// Removed before `set_headers` are applied.
    pub remove_headers: Vec<String>,
    pub set_headers: Vec<(String, String)>,
    /// A new `:path` when the token was removed from the query string.
    pub new_path: Option<String>,
    /// A new `cookie` header when the token cookie was removed (None: keep).
    pub new_cookie: Option<Option<String>>,
    /// The verified identity to publish, serialized ([`VerifiedIdentity::to_bytes`]);
    /// for a cached token, serialized when it was verified.
    pub identity: Option<Rc<[u8]>>,
    pub cache: CacheUse,
}

/// A token that passed the signature and claim-time checks (from the cache or just now).
struct Checked {
    provider: usize,
    verified: Rc<VerifiedToken>,
    /// The identity to publish, serialized.
    identity: Rc<[u8]>,
    /// [`crate::jwt::KeySet::fingerprint`] of the keys that verified it.
    key_set: u64,
    cache: CacheUse,
}

#[derive(Debug)]
pub enum Verdict {
    Allow(Allowed),
    Deny {
        denial: Denial,
        /// `WWW-Authenticate` and CORS headers for the local reply.
        headers: Vec<(String, String)>,
    },
    /// The token's provider has no usable keys, or the token names a `kid`
    /// the keys lack: the caller may fetch the provider's JWKS (rate-limited)
    /// and decide again with `may_fetch = false`.
    FetchKeys {
        provider: usize,
        reason: &'static str,
    },
}

impl OidcPolicy {
    pub fn decide(
        &self,
        req: &RequestFacts<'_>,
        keys: &dyn KeyLookup,
        cache: &mut TokenCache,
        backend: &dyn SignatureBackend,
        now: Now,
        may_fetch: bool,
    ) -> Verdict {
        let claim_headers = self.claim_header_names.clone();
        let allow_plain = |claim_headers: Vec<String>| {
            Verdict::Allow(Allowed {
                remove_headers: claim_headers,
                set_headers: Vec::new(),
                new_path: None,
                new_cookie: None,
                identity: None,
                cache: CacheUse::NotNeeded,
            })
        };
        if self.allow_cors_preflight
            && is_preflight(
                req.method,
                req.header("origin"),
                req.header("access-control-request-method"),
            )
        {
            return allow_plain(claim_headers);
        }
        let route = RouteRequest::from_target(req.method, req.path);
        let (allowed_providers, condition) = match self.rules.find(&route) {
            RouteVerdict::Rejected(_) => return self.deny(req, Denial::SuspiciousPath),
            RouteVerdict::NoMatch => match self.default_action {
                DefaultAction::Deny => return self.deny(req, Denial::NoMatchingRule),
                DefaultAction::Allow => return allow_plain(claim_headers),
                DefaultAction::Authenticated => (None, None),
            },
            RouteVerdict::Matched { value, .. } => match &value.requirement {
                Requirement::Public => return allow_plain(claim_headers),
                Requirement::Token { providers, claims } => (providers.as_deref(), claims.as_ref()),
            },
        };

        let (_, query) = split_path_and_query(req.path);
        let found = match extract_with_source(
            &self.token_sources,
            &RequestTokens {
                headers: req.headers,
                query,
            },
        ) {
            Ok(Some(found)) => found,
            Ok(None) => return self.deny(req, Denial::MissingToken),
            Err(ExtractError::Ambiguous) => return self.deny(req, Denial::AmbiguousToken),
            Err(ExtractError::WrongScheme) => return self.deny(req, Denial::MissingToken),
        };

        let token = &found.token;
        let hit = cache.get(token.expose(), now.unix_secs()).and_then(|hit| {
            if !self.reads_tokens_from(hit.provider, found.source) {
                return Some(Err(Denial::TokenSourceNotAllowed));
            }
            match keys.keys(hit.provider) {
                // Verified with the keys the provider still serves.
                KeyState::Usable(set) if set.fingerprint() == hit.key_set => Some(Ok(Checked {
                    provider: hit.provider,
                    verified: Rc::clone(&hit.token),
                    identity: Rc::clone(&hit.identity),
                    key_set: hit.key_set,
                    cache: CacheUse::Hit,
                })),
                // The keys changed since (rotation, or a key withdrawn after a
                // compromise): checked again in full, as any other VM would.
                KeyState::Usable(_) => None,
                // Past `max_staleness` every token fails closed, cached or not.
                KeyState::Unavailable(code) => Some(Err(Denial::KeysUnavailable { code })),
            }
        });
        let checked = match hit {
            Some(Ok(checked)) => checked,
            Some(Err(denial)) => return self.deny(req, denial),
            None => match self.verify_uncached(req, &found, keys, backend, now, may_fetch) {
                Ok(checked) => {
                    cache.insert(
                        token.expose(),
                        checked.provider,
                        Rc::clone(&checked.verified),
                        Rc::clone(&checked.identity),
                        checked.key_set,
                        now.unix_secs(),
                    );
                    checked
                }
                Err(verdict) => return verdict,
            },
        };
        let Checked {
            provider: provider_idx,
            verified,
            identity,
            cache: cache_use,
            ..
        } = checked;
        let Some(provider) = self.providers.get(provider_idx) else {
            return self.deny(req, Denial::UnknownIssuer);
        };
        if let Some(list) = allowed_providers {
            if !list.contains(&provider_idx) {
                return self.deny(req, Denial::ProviderNotAllowed);
            }
        }
        if let Some(condition) = condition {
            if let Err(denied) = condition.evaluate(&verified.claims) {
                return self.deny(
                    req,
                    Denial::InsufficientClaims {
                        scope_related: mentions_scope(&denied),
                    },
                );
            }
        }
        Verdict::Allow(self.allowed(
            req,
            (provider, found.source),
            &verified,
            claim_headers,
            (identity, cache_use),
        ))
    }

    /// Whether the provider at `provider` reads tokens from `source`: tokens
    /// are looked for in every provider's places, but a provider's token is
    /// taken only from its own (never from a place another provider lists,
    /// which its `forward_token` would not cover).
    fn reads_tokens_from(&self, provider: usize, source: &TokenSource) -> bool {
        self.providers
            .get(provider)
            .is_some_and(|p| p.reads_tokens_from(source))
    }

    /// The token parsed once, for both steps: its claims (a name given twice
    /// is refused) and the provider whose issuer is its `iss` (read before
    /// verifying, only to choose the keys; the verified `iss` is checked again).
    fn parse_for_provider<'t>(
        &self,
        token: &'t Secret,
    ) -> Result<(usize, UnverifiedJws<'t>, Map<String, Value>), Denial> {
        let max = self
            .providers
            .iter()
            .map(|p| p.token.max_token_bytes)
            .max()
            .unwrap_or(0);
        let jws = token::parse(token.expose(), max).map_err(|e| invalid_token(&e))?;
        let Ok(Value::Object(claims)) = parse_untrusted(&jws.payload) else {
            return Err(invalid_token(&JwtError::MalformedToken(
                "payload is not a JSON object with unique claim names",
            )));
        };
        let provider = match claims.get("iss") {
            Some(Value::String(iss)) => self
                .providers
                .iter()
                .position(|p| p.issuer == *iss)
                .ok_or(Denial::UnknownIssuer),
            None | Some(Value::Null) => Err(Denial::UnknownIssuer),
            Some(_) => Err(invalid_token(&JwtError::BadClaimType("iss"))),
        }?;
        Ok((provider, jws, claims))
    }

    /// `found`: where the token was read from.
    fn allowed(
        &self,
        req: &RequestFacts<'_>,
        (provider, found): (&Provider, &TokenSource),
        verified: &VerifiedToken,
        claim_headers: Vec<String>,
        (identity, cache): (Rc<[u8]>, CacheUse),
    ) -> Allowed {
        let mut set_headers = Vec::with_capacity(provider.claim_headers.len());
        for (name, extractor) in &provider.claim_headers {
            if let Ok(value) = extractor.render(&verified.claims) {
                set_headers.push((name.clone(), value));
            }
        }
        let mut remove_headers = claim_headers;
        // Rewritten `cookie` header / query string; each strip applies to the
        // result of the previous one, so a provider with two cookie (or query)
        // sources loses both.
        let mut cookie: Option<Option<String>> = None;
        let mut query: Option<String> = None;
        if !provider.forward_token {
            // Where the token was found first (always one of the provider's
            // places: a token from elsewhere is refused), then the others.
            let places =
                std::iter::once(found).chain(provider.token_sources.iter().filter(|s| *s != found));
            for source in places {
                match source {
                    TokenSource::Header { name, .. } => remove_headers.push(name.clone()),
                    TokenSource::Cookie(name) => {
                        let current = match &cookie {
                            Some(rewritten) => rewritten.as_deref(),
                            None => req.header("cookie"),
                        };
                        if let Some(rest) = current.map(|c| strip_cookie(c, name)) {
                            cookie = Some(rest);
                        }
                    }
                    TokenSource::Query(param) => {
                        let current = match &query {
                            Some(rewritten) => Some(rewritten.as_str()),
                            None => split_path_and_query(req.path).1,
                        };
                        if let Some(rest) = current.map(|q| strip_query_param(q, param)) {
                            query = Some(rest);
                        }
                    }
                }
            }
        }
        let new_path = query.map(|rest| {
            let (path, _) = split_path_and_query(req.path);
            if rest.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{rest}")
            }
        });
        Allowed {
            remove_headers,
            set_headers,
            new_path,
            new_cookie: cookie,
            identity: Some(identity),
            cache,
        }
    }

    /// A token not in the cache (or cached under keys its provider no longer
    /// serves): its provider (by `iss`), that provider's keys, the full check.
    /// Err: a key fetch to wait for, or the denial.
    fn verify_uncached(
        &self,
        req: &RequestFacts<'_>,
        found: &Found<'_>,
        keys: &dyn KeyLookup,
        backend: &dyn SignatureBackend,
        now: Now,
        may_fetch: bool,
    ) -> Result<Checked, Verdict> {
        let deny = |denial| self.deny(req, denial);
        let (provider_idx, jws, claims) = self.parse_for_provider(&found.token).map_err(deny)?;
        let provider = self
            .providers
            .get(provider_idx)
            .ok_or_else(|| deny(Denial::UnknownIssuer))?;
        // Before any key lookup: such a token never triggers a key fetch.
        if !provider.reads_tokens_from(found.source) {
            return Err(deny(Denial::TokenSourceNotAllowed));
        }
        let fetch = |reason| Verdict::FetchKeys {
            provider: provider_idx,
            reason,
        };
        let set = match keys.keys(provider_idx) {
            KeyState::Usable(set) => set,
            KeyState::Unavailable(reason) if may_fetch => return Err(fetch(reason)),
            KeyState::Unavailable(code) => return Err(deny(Denial::KeysUnavailable { code })),
        };
        match verify_parsed_token(jws, claims, set, &provider.token, now, backend) {
            Ok(v) => Ok(Checked {
                provider: provider_idx,
                identity: self.identity(provider, &v).to_bytes().into(),
                verified: Rc::new(v),
                key_set: set.fingerprint(),
                cache: CacheUse::Miss,
            }),
            Err(JwtError::UnknownKid) if may_fetch => Err(fetch("unknown_kid")),
            Err(e) => Err(deny(invalid_token(&e))),
        }
    }

    /// What the plugin publishes for a token `provider` verified.
    fn identity(&self, provider: &Provider, verified: &VerifiedToken) -> VerifiedIdentity {
        // Inserted one by one: collecting into the map would link a sort for its bulk build.
        let mut claims = Map::new();
        for name in &self.publish_claims {
            if let Some(value) = verified.claims.get(name) {
                claims.insert(name.clone(), value.clone());
            }
        }
        VerifiedIdentity {
            provider: provider.name.clone(),
            issuer: provider.issuer.clone(),
            subject: verified.subject.clone().unwrap_or_default(),
            expires_at: verified.expires_at.unwrap_or(0),
            claims,
        }
    }

    fn deny(&self, req: &RequestFacts<'_>, denial: Denial) -> Verdict {
        let mut headers = Vec::new();
        if let Some(challenge) = denial.www_authenticate(&self.realm) {
            headers.push(("www-authenticate".to_string(), challenge));
        }
        if let Some(cors) = &self.cors {
            headers.extend(cors.actual_response_headers(req.header("origin")));
        }
        Verdict::Deny { denial, headers }
    }
}

fn mentions_scope(denied: &ClaimDenied) -> bool {
    let text = denied.to_string();
    text.contains("`scope`") || text.contains("`scp`")
}

/// Maps a verification error to its 401 answer; the description is fixed
/// text per reason (never the token, never a claim value).
fn invalid_token(e: &JwtError) -> Denial {
    let description = match e.reason() {
        "token_expired" => "the token has expired",
        "token_not_yet_valid" => "the token is not valid yet",
        "token_too_old" => "the token was issued too long ago",
        "bad_audience" => "the token is not meant for this audience",
        "bad_issuer" => "the token's issuer is not trusted here",
        "bad_signature" => "the token's signature does not verify",
        "unknown_kid" => "the token was signed with an unknown key",
        "alg_not_allowed" | "unsupported_alg" => "the token's algorithm is not accepted",
        "token_too_large" => "the token is too large",
        _ => "the token is malformed or not acceptable",
    };
    Denial::InvalidToken {
        code: e.reason(),
        description,
    }
}
