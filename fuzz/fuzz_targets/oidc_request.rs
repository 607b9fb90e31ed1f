//! The whole oidc-auth decision for a random request: method, `:path` and
//! headers (token sources: Authorization, a cookie, a query parameter) against
//! a fixed policy with the local IdP's public keys. Input: the first line is
//! `METHOD PATH`, each further line a `name: value` header. Beyond "never
//! panics": a request allowed on `/admin` always carries a verified identity
//! (CORS preflights excepted: they pass without a token by design).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::env::Now;
use policies::jwt::{InVm, JwksLimits, KeySet};
use policies::oidc::token_cache::TokenCache;
use policies::oidc::{KeyLookup, KeyState, OidcPolicy, RequestFacts, Verdict};
use std::cell::RefCell;
use std::sync::OnceLock;

const JWKS: &[u8] = include_bytes!("../fixtures/idp-jwks.json");
const SEED_IAT: u64 = 1_795_438_792;
const CONFIG: &str = r#"{
  "providers": [{"name": "local", "issuer": "http://127.0.0.1:19377", "audiences": ["https://api.mesh.local"],
    "cluster": "idp", "algorithms": ["RS256", "ES256", "EdDSA"],
    "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "at"}, {"query": "access_token"}],
    "claims_to_headers": [{"header": "x-user-sub", "claim": "sub"}, {"header": "x-user-groups", "claim": "groups"}]}],
  "rules": [
    {"match": {"path": {"prefix": "/public"}}, "public": true},
    {"match": {"path": {"prefix": "/admin"}}, "claims": {"claim": "groups", "contains": "admins"}},
    {"match": {"path": {"prefix": "/api"}}}
  ],
  "publish_claims": ["groups"]
}"#;

struct Keys(KeySet);

impl KeyLookup for Keys {
    fn keys(&self, _provider: usize) -> KeyState<'_> {
        KeyState::Usable(&self.0)
    }
}

fn setup() -> Option<&'static (OidcPolicy, Keys)> {
    static SETUP: OnceLock<Option<(OidcPolicy, Keys)>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let policy = policies::oidc::load(CONFIG.as_bytes(), &|_| None).ok()?;
            let (set, _) = KeySet::from_jwks(JWKS, JwksLimits::default()).ok()?;
            Some((policy, Keys(set)))
        })
        .as_ref()
}

thread_local! {
    static CACHE: RefCell<TokenCache> = RefCell::new(TokenCache::new(64));
}

fuzz_target!(|data: &[u8]| {
    let Some((policy, keys)) = setup() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim_start().to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = RequestFacts {
        method,
        path,
        headers: &headers,
    };
    let verdict = CACHE.with(|c| {
        policy.decide(
            &req,
            keys,
            &mut c.borrow_mut(),
            &InVm,
            Now::from_unix_secs(SEED_IAT + 10),
            false,
        )
    });
    if let Verdict::Allow(allowed) = verdict {
        let route = path.split('?').next().unwrap_or_default();
        if method != "OPTIONS" && (route == "/admin" || route.starts_with("/admin/")) {
            assert!(
                allowed.identity.is_some(),
                "allowed {path:?} without a verified identity"
            );
        }
    }
});
