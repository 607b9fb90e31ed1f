//! oidc-auth decisions, table-driven, with HS256 tokens and a fake clock.

use super::answer::Denial;
use super::decide::{KeyLookup, KeyState, RequestFacts, Verdict};
use super::token_cache::TokenCache;
use super::{load, OidcPolicy};
use crate::env::Now;
use crate::jwt::{InVm, KeySet, LargeCurveKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";
const NOW: u64 = 1_800_000_000;

fn env(name: &str) -> Option<String> {
    (name == "HS_SECRET").then(|| SECRET.to_string())
}

fn policy_from(v: Value) -> OidcPolicy {
    load(v.to_string().as_bytes(), &env).unwrap()
}

fn policy() -> OidcPolicy {
    policy_from(json!({
        "providers": [{
            "name": "corp", "issuer": "https://idp.corp", "audiences": ["api"],
            "algorithms": ["HS256"], "hmac_secret_env": "HS_SECRET",
            "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}],
            "claims_to_headers": [{"header": "x-user", "claim": "sub"}, {"header": "X-Roles", "claim": "realm_access.roles"}]
        }],
        "rules": [
            {"match": {"path": {"prefix": "/public"}}, "public": true},
            {"match": {"path": {"prefix": "/admin"}}, "claims": {"claim": "realm_access.roles", "contains": "admin"}},
            {"match": {"path": {"prefix": "/orders"}, "methods": ["POST"]}, "claims": {"claim": "scope", "contains": "orders:write"}},
            {"match": {"path": {"prefix": "/api"}}}
        ],
        "publish_claims": ["email"]
    }))
}

fn sign(claims: Value) -> String {
    let header = B64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let payload = B64.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// Signs a payload given as raw text (e.g. with a member twice).
fn sign_raw_payload(payload: &str) -> String {
    let header = B64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let input = format!("{header}.{}", B64.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": "https://idp.corp", "aud": "api", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10,
        "scope": "openid orders:read", "email": "alice@corp", "realm_access": {"roles": ["user"]}});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// Keys as the filter would hand them in: inline providers are always usable.
struct Keys<'a>(&'a OidcPolicy, Option<&'static str>);

impl KeyLookup for Keys<'_> {
    fn keys(&self, provider: usize) -> KeyState<'_> {
        if let Some(reason) = self.1 {
            return KeyState::Unavailable(reason);
        }
        match self
            .0
            .providers
            .get(provider)
            .and_then(|p| super::fetch_plan::inline_keys(p))
        {
            Some(set) => KeyState::Usable(set),
            None => KeyState::Unavailable("keys_not_loaded"),
        }
    }
}

fn headers<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs.to_vec()
}

/// `GET /api/x` with these headers.
fn get_api_x<'a>(h: &'a [(&'a str, &'a str)]) -> RequestFacts<'a> {
    RequestFacts {
        method: "GET",
        path: "/api/x",
        headers: h,
    }
}

fn decide_at(p: &OidcPolicy, method: &str, path: &str, hs: &[(&str, &str)], now: u64) -> Verdict {
    let h = headers(hs);
    let mut cache = TokenCache::new(16);
    p.decide(
        &RequestFacts {
            method,
            path,
            headers: &h,
        },
        &Keys(p, None),
        &mut cache,
        &InVm,
        Now::from_unix_secs(now),
        true,
    )
}

fn outcome(v: &Verdict) -> (u32, String) {
    match v {
        Verdict::Allow(_) => (200, "allowed".into()),
        Verdict::Deny { denial, .. } => (denial.status(), denial.reason().into()),
        Verdict::FetchKeys { reason, .. } => (0, format!("fetch:{reason}")),
    }
}

#[test]
fn decisions_follow_rules_and_token_checks() {
    let p = policy();
    let ok = sign(claims(json!({})));
    let bearer = |t: &str| format!("Bearer {t}");
    let query_path = format!("/api/x?access_token={ok}");
    // Swap one character in the middle of the signature (the last one may be non-canonical base64).
    let mut tampered = ok.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, String)>,
        u64,
        (u32, &'a str),
    );
    let cases: Vec<Case> = vec![
        (
            "valid token on /api",
            "GET",
            "/api/x",
            vec![("authorization", bearer(&ok))],
            NOW,
            (200, "allowed"),
        ),
        (
            "no token",
            "GET",
            "/api/x",
            vec![],
            NOW,
            (401, "missing_token"),
        ),
        (
            "basic auth is not a bearer token",
            "GET",
            "/api/x",
            vec![("authorization", "Basic YTpi".into())],
            NOW,
            (401, "missing_token"),
        ),
        (
            "public route needs nothing",
            "GET",
            "/public/a",
            vec![],
            NOW,
            (200, "allowed"),
        ),
        (
            "no rule matches: deny",
            "GET",
            "/other",
            vec![("authorization", bearer(&ok))],
            NOW,
            (403, "no_matching_rule"),
        ),
        (
            "claim rule fails",
            "GET",
            "/admin",
            vec![("authorization", bearer(&ok))],
            NOW,
            (403, "insufficient_claims"),
        ),
        (
            "claim rule passes",
            "GET",
            "/admin",
            vec![(
                "authorization",
                bearer(&sign(claims(json!({"realm_access": {"roles": ["admin"]}})))),
            )],
            NOW,
            (200, "allowed"),
        ),
        (
            "method-specific rule",
            "POST",
            "/orders",
            vec![("authorization", bearer(&ok))],
            NOW,
            (403, "insufficient_claims"),
        ),
        (
            "expired beyond skew",
            "GET",
            "/api/x",
            vec![("authorization", bearer(&ok))],
            NOW + 300 + 61,
            (401, "token_expired"),
        ),
        (
            "expired within skew",
            "GET",
            "/api/x",
            vec![("authorization", bearer(&ok))],
            NOW + 300 + 59,
            (200, "allowed"),
        ),
        (
            "wrong audience",
            "GET",
            "/api/x",
            vec![(
                "authorization",
                bearer(&sign(claims(json!({"aud": ["other"]})))),
            )],
            NOW,
            (401, "bad_audience"),
        ),
        (
            "unknown issuer",
            "GET",
            "/api/x",
            vec![(
                "authorization",
                bearer(&sign(claims(json!({"iss": "https://evil"})))),
            )],
            NOW,
            (401, "unknown_issuer"),
        ),
        (
            "issuer with trailing slash",
            "GET",
            "/api/x",
            vec![(
                "authorization",
                bearer(&sign(claims(json!({"iss": "https://idp.corp/"})))),
            )],
            NOW,
            (401, "unknown_issuer"),
        ),
        (
            "string exp",
            "GET",
            "/api/x",
            vec![(
                "authorization",
                bearer(&sign(claims(json!({"exp": "9999999999"})))),
            )],
            NOW,
            (401, "bad_claim_type"),
        ),
        (
            "no exp",
            "GET",
            "/api/x",
            vec![("authorization", bearer(&sign(claims(json!({"exp": null})))))],
            NOW,
            (401, "missing_claim"),
        ),
        (
            "tampered signature",
            "GET",
            "/api/x",
            vec![("authorization", bearer(&tampered))],
            NOW,
            (401, "bad_signature"),
        ),
        (
            "two authorization headers",
            "GET",
            "/api/x",
            vec![
                ("authorization", bearer(&ok)),
                ("authorization", bearer(&ok)),
            ],
            NOW,
            (401, "ambiguous_token"),
        ),
        (
            "token in header and query",
            "GET",
            &query_path,
            vec![("authorization", bearer(&ok))],
            NOW,
            (401, "ambiguous_token"),
        ),
        (
            "token in query only",
            "GET",
            &query_path,
            vec![],
            NOW,
            (200, "allowed"),
        ),
        (
            "dot-dot path",
            "GET",
            "/api/../admin",
            vec![("authorization", bearer(&ok))],
            NOW,
            (400, "suspicious_path"),
        ),
        (
            "cors preflight passes",
            "OPTIONS",
            "/admin",
            vec![
                ("origin", "https://app".into()),
                ("access-control-request-method", "GET".into()),
            ],
            NOW,
            (200, "allowed"),
        ),
        (
            "plain OPTIONS needs a token",
            "OPTIONS",
            "/api/x",
            vec![],
            NOW,
            (401, "missing_token"),
        ),
    ];
    for (name, method, path, hs, now, want) in cases {
        let hs: Vec<(&str, &str)> = hs.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let got = outcome(&decide_at(&p, method, path, &hs, now));
        assert_eq!((got.0, got.1.as_str()), want, "{name}");
    }
}

#[test]
fn a_validly_signed_token_with_a_claim_twice_is_refused() {
    // RFC 7519 §4 lets a parser refuse duplicate claim names; whether a
    // backend sees the first or the last `sub` must not matter.
    let p = policy();
    let good = claims(json!({})).to_string();
    let twice = good.replacen(
        "\"sub\":\"alice\"",
        "\"sub\":\"alice\",\"sub\":\"admin\"",
        1,
    );
    assert_ne!(good, twice);
    for (payload, expected) in [(good.as_str(), 200), (twice.as_str(), 401)] {
        let auth = format!("Bearer {}", sign_raw_payload(payload));
        let v = decide_at(&p, "GET", "/api/x", &[("authorization", &auth)], NOW);
        assert_eq!(outcome(&v).0, expected, "{payload}");
    }
    let auth = format!("Bearer {}", sign_raw_payload(&twice));
    let v = decide_at(&p, "GET", "/api/x", &[("authorization", &auth)], NOW);
    assert_eq!(outcome(&v), (401, "malformed_token".to_string()));
}

#[test]
fn each_provider_keeps_its_own_token_size_limit() {
    // The token is parsed once under the largest limit (to find its
    // provider); the provider's own limit still applies.
    let p = policy_from(json!({
        "providers": [
            {"name": "corp", "issuer": "https://idp.corp", "audiences": ["api"],
             "algorithms": ["HS256"], "hmac_secret_env": "HS_SECRET"},
            {"name": "small", "issuer": "https://small", "audiences": ["api"],
             "algorithms": ["HS256"], "hmac_secret_env": "HS_SECRET", "max_token_bytes": 400}
        ],
        "rules": [{"match": {"path": {"prefix": "/api"}}}]
    }));
    let padding = "x".repeat(200);
    for (iss, expected) in [("https://idp.corp", 200), ("https://small", 401)] {
        let token = sign(claims(json!({"iss": iss, "note": padding})));
        assert!(token.len() > 400);
        let auth = format!("Bearer {token}");
        let v = decide_at(&p, "GET", "/api/x", &[("authorization", &auth)], NOW);
        let (status, reason) = outcome(&v);
        assert_eq!(status, expected, "{iss}: {reason}");
        if expected == 401 {
            assert_eq!(reason, "token_too_large");
        }
    }
    let token = sign(claims(json!({"iss": "https://small"})));
    assert!(token.len() <= 400, "{}", token.len());
    let auth = format!("Bearer {token}");
    let v = decide_at(&p, "GET", "/api/x", &[("authorization", &auth)], NOW);
    assert_eq!(outcome(&v).0, 200);
}

#[test]
fn allowed_requests_get_claim_headers_identity_and_lose_spoofed_copies() {
    let p = policy();
    let token = sign(claims(json!({"realm_access": {"roles": ["user", "dev"]}})));
    let auth = format!("Bearer {token}");
    let Verdict::Allow(a) = decide_at(
        &p,
        "GET",
        "/api/x",
        &[("authorization", &auth), ("x-user", "mallory")],
        NOW,
    ) else {
        panic!("expected allow")
    };
    assert!(
        a.remove_headers.contains(&"x-user".to_string())
            && a.remove_headers.contains(&"x-roles".to_string())
    );
    assert!(a.set_headers.contains(&("x-user".into(), "alice".into())));
    assert!(a
        .set_headers
        .contains(&("x-roles".into(), "user,dev".into())));
    let id = crate::identity::VerifiedIdentity::from_bytes(&a.identity.unwrap()).unwrap();
    assert_eq!(
        (id.provider.as_str(), id.subject.as_str(), id.expires_at),
        ("corp", "alice", NOW + 300)
    );
    assert_eq!(id.claims.get("email"), Some(&json!("alice@corp")));
    assert!(
        !id.claims.contains_key("scope"),
        "only publish_claims are published"
    );
    // Public routes also strip client-supplied claim headers.
    let Verdict::Allow(a) = decide_at(&p, "GET", "/public", &[("x-user", "mallory")], NOW) else {
        panic!()
    };
    assert!(
        a.remove_headers.contains(&"x-user".to_string())
            && a.set_headers.is_empty()
            && a.identity.is_none()
    );
}

#[test]
fn denials_carry_rfc6750_challenges_and_never_the_token() {
    let p = policy();
    let token = sign(claims(json!({"exp": NOW - 3600})));
    let auth = format!("Bearer {token}");
    let Verdict::Deny { denial, headers } =
        decide_at(&p, "GET", "/api/x", &[("authorization", &auth)], NOW)
    else {
        panic!()
    };
    let challenge = &headers
        .iter()
        .find(|(n, _)| n == "www-authenticate")
        .unwrap()
        .1;
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let all = format!("{denial:?} {headers:?} {}", denial.message());
    assert!(!all.contains(&token[10..40]));
    let scope_token = format!("Bearer {}", sign(claims(json!({}))));
    let Verdict::Deny { headers, .. } = decide_at(
        &p,
        "POST",
        "/orders",
        &[("authorization", &scope_token)],
        NOW,
    ) else {
        panic!()
    };
    assert!(headers
        .iter()
        .any(|(_, v)| v.contains("insufficient_scope")));
}

#[test]
fn missing_keys_ask_for_a_fetch_once_then_fail_closed_with_503() {
    let p = policy();
    let auth = format!("Bearer {}", sign(claims(json!({}))));
    let h = headers(&[("authorization", &auth)]);
    let facts = get_api_x(&h);
    let mut cache = TokenCache::new(4);
    let now = Now::from_unix_secs(NOW);
    let v = p.decide(
        &facts,
        &Keys(&p, Some("keys_not_loaded")),
        &mut cache,
        &InVm,
        now,
        true,
    );
    assert!(matches!(
        v,
        Verdict::FetchKeys {
            provider: 0,
            reason: "keys_not_loaded"
        }
    ));
    let v = p.decide(
        &facts,
        &Keys(&p, Some("keys_too_stale")),
        &mut cache,
        &InVm,
        now,
        false,
    );
    assert!(matches!(
        v,
        Verdict::Deny {
            denial: Denial::KeysUnavailable {
                code: "keys_too_stale"
            },
            ..
        }
    ));
}

#[test]
fn verified_tokens_are_cached_until_exp_and_not_past_it() {
    let p = policy();
    let auth = format!("Bearer {}", sign(claims(json!({}))));
    let h = headers(&[("authorization", &auth)]);
    let facts = get_api_x(&h);
    let mut cache = TokenCache::new(4);
    let keys = Keys(&p, None);
    let at = |s| Now::from_unix_secs(s);
    let allowed = |v: Verdict| match v {
        Verdict::Allow(a) => a,
        other => panic!("{other:?}"),
    };
    let cache_use = |v: Verdict| allowed(v).cache;
    let miss = allowed(p.decide(&facts, &keys, &mut cache, &InVm, at(NOW), true));
    let hit = allowed(p.decide(&facts, &keys, &mut cache, &InVm, at(NOW + 1), true));
    assert_eq!(
        (miss.cache, hit.cache),
        (super::CacheUse::Miss, super::CacheUse::Hit)
    );
    // A hit publishes the identity the verification published.
    let id = crate::identity::VerifiedIdentity::from_bytes(&hit.identity.unwrap()).unwrap();
    assert_eq!(
        Some(&id),
        crate::identity::VerifiedIdentity::from_bytes(&miss.identity.unwrap()).as_ref()
    );
    assert_eq!((id.subject.as_str(), id.expires_at), ("alice", NOW + 300));
    // Another token (one character changed) is not a hit, and is checked in full.
    let mut tampered = auth.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let h2 = headers(&[("authorization", &tampered)]);
    let facts2 = RequestFacts {
        method: "GET",
        path: "/api/x",
        headers: &h2,
    };
    assert_eq!(
        outcome(&p.decide(&facts2, &keys, &mut cache, &InVm, at(NOW + 1), true)),
        (401, "bad_signature".into())
    );
    // At exp the cache no longer answers; the full check (with skew) does.
    assert_eq!(
        cache_use(p.decide(&facts, &keys, &mut cache, &InVm, at(NOW + 300), true)),
        super::CacheUse::Miss
    );
    // A cached token does not outlive its provider's keys.
    let v = p.decide(
        &facts,
        &Keys(&p, Some("keys_too_stale")),
        &mut cache,
        &InVm,
        at(NOW + 2),
        false,
    );
    assert_eq!(outcome(&v).0, 503);
}

/// A provider's keys as the filter holds them after fetching its JWKS: Ed25519
/// keys from `(seed, kid)`.
struct Fetched(KeySet);

impl Fetched {
    fn jwks(p: &OidcPolicy, keys: &[(u8, &str)]) -> Self {
        let entries: Vec<Value> = keys
            .iter()
            .map(|(seed, kid)| {
                let pk =
                    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([*seed; 32])).pk;
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": B64.encode(pk.as_ref())})
            })
            .collect();
        let doc = json!({ "keys": entries }).to_string();
        Self(
            super::fetch_plan::keys_from_document(&p.providers[0], doc.as_bytes())
                .unwrap()
                .0,
        )
    }
}

impl KeyLookup for Fetched {
    fn keys(&self, _: usize) -> KeyState<'_> {
        KeyState::Usable(&self.0)
    }
}

fn sign_ed(seed: u8, kid: &str, claims: Value) -> String {
    let header = B64.encode(json!({"alg": "EdDSA", "kid": kid}).to_string());
    let input = format!("{header}.{}", B64.encode(claims.to_string()));
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]));
    format!(
        "{input}.{}",
        B64.encode(pair.sk.sign(input.as_bytes(), None).as_ref())
    )
}

/// Envoy's jwt_authn keeps a cached token valid whatever its JWKS becomes. Here a
/// verification is reused only while the provider serves the same keys: a key the
/// issuer withdrew (after a compromise, say) stops vouching for cached tokens at
/// once, as it already did for the VMs that had not cached them.
#[test]
fn a_cached_token_stops_being_accepted_once_its_key_is_withdrawn() {
    let p = policy_from(
        json!({"providers": [{"name": "idp", "issuer": "https://idp.corp",
        "cluster": "idp", "audiences": ["api"], "algorithms": ["EdDSA"]}],
        "default_action": "authenticated"}),
    );
    let auth = format!("Bearer {}", sign_ed(1, "old", claims(json!({}))));
    let h = headers(&[("authorization", &auth)]);
    let facts = get_api_x(&h);
    let mut cache = TokenCache::new(4);
    let now = Now::from_unix_secs(NOW);
    let mut decide = |keys: &Fetched, may_fetch: bool| match p
        .decide(&facts, keys, &mut cache, &InVm, now, may_fetch)
    {
        Verdict::Allow(a) => format!("{:?}", a.cache),
        other => format!("{:?}", outcome(&other)),
    };
    let old = Fetched::jwks(&p, &[(1, "old")]);
    assert_eq!(decide(&old, true), "Miss");
    assert_eq!(decide(&old, true), "Hit");
    // Refetched unchanged, or with its keys in another order: still the same keys.
    assert_eq!(decide(&Fetched::jwks(&p, &[(1, "old")]), true), "Hit");
    let rotated = Fetched::jwks(&p, &[(2, "new"), (1, "old")]);
    assert_eq!(
        decide(&rotated, true),
        "Miss",
        "a new key: checked once more"
    );
    assert_eq!(
        decide(&Fetched::jwks(&p, &[(1, "old"), (2, "new")]), true),
        "Hit"
    );
    // The old key is withdrawn: the cached verification no longer counts.
    let withdrawn = Fetched::jwks(&p, &[(2, "new")]);
    assert_eq!(decide(&withdrawn, true), "(0, \"fetch:unknown_kid\")");
    assert_eq!(decide(&withdrawn, false), "(401, \"unknown_kid\")");
}

#[test]
fn tokens_are_stripped_upstream_when_forwarding_is_off() {
    let p = policy_from(
        json!({"providers": [{"name": "corp", "issuer": "https://idp.corp", "algorithms": ["HS256"],
        "hmac_secret_env": "HS_SECRET", "forward_token": false,
        "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}, {"cookie": "at"}]}],
        "default_action": "authenticated"}),
    );
    let token = sign(claims(json!({"aud": null})));
    let Verdict::Allow(a) = decide_at(
        &p,
        "GET",
        &format!("/x?a=1&access_token={token}"),
        &[("cookie", "theme=dark")],
        NOW,
    ) else {
        panic!()
    };
    assert_eq!(a.new_path.as_deref(), Some("/x?a=1"));
    assert!(a.remove_headers.contains(&"authorization".to_string()));
    let Verdict::Allow(a) = decide_at(
        &p,
        "GET",
        "/x",
        &[("cookie", &format!("theme=dark; at={token}"))],
        NOW,
    ) else {
        panic!()
    };
    assert_eq!(a.new_cookie, Some(Some("theme=dark".to_string())));
}

#[test]
fn configuration_errors_name_the_field() {
    let base = || json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "idp"}]});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"providers": []}), "providers"),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a"}]}),
            "providers[0].cluster",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "algorithms": ["none"]}]}),
            "providers[0].algorithms",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "algorithms": ["HS256"]}]}),
            "providers[0].algorithms",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "algorithms": ["HS256"], "hmac_secret_env": "NOPE"}]}),
            "providers[0].hmac_secret_env",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c"}, {"name": "b", "issuer": "https://a", "cluster": "c"}]}),
            "providers[1].issuer",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "clock_skew": "soon"}]}),
            "providers[0].clock_skew",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "isuser": "x"}]}),
            "providers[0].isuser",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "jwks_uri": "ftp://x"}]}),
            "providers[0].jwks_uri",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "max_jwks_bytes": 100}]}),
            "providers[0].max_jwks_bytes",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "max_jwks_bytes": 2_000_000}]}),
            "providers[0].max_jwks_bytes",
        ),
        (
            json!({"providers": [{"name": "a", "issuer": "https://a", "cluster": "c", "fetch_backoff_max": "500ms"}]}),
            "providers[0].fetch_backoff_max",
        ),
        (
            {
                let mut b = base();
                b["rules"] = json!([{"match": {"path": {"prefix": "/"}}, "providers": ["zzz"]}]);
                b
            },
            "rules[0].providers[0]",
        ),
        (
            {
                let mut b = base();
                b["rules"] = json!([{"match": {"path": {"prefix": "/"}}, "public": true, "providers": ["a"]}]);
                b
            },
            "rules[0].public",
        ),
        (
            {
                let mut b = base();
                b["rules"] =
                    json!([{"match": {"path": {"prefix": "/"}}, "claims": {"claim": "x"}}]);
                b
            },
            "rules[0].claims",
        ),
        (
            {
                let mut b = base();
                b["default_action"] = json!("maybe");
                b
            },
            "default_action",
        ),
    ];
    for (config, path) in cases {
        let err = load(config.to_string().as_bytes(), &env).unwrap_err();
        assert!(err.path.starts_with(path), "want {path}, got {err}");
        assert!(!err.to_string().contains(SECRET));
    }
    let ok = load(base().to_string().as_bytes(), &env).unwrap();
    assert!(matches!(KeySet::default().len(), 0) && ok.providers.len() == 1);
}

/// ES384/ES512 listed on purpose while no verifier could accept them (host verification off in a
/// build without in-VM P-384/P-521): refused at configure time, naming the field.
#[test]
fn es384_listed_without_any_verifier_for_it_is_a_configuration_error() {
    let config = |host: bool, algorithms: Option<Value>| {
        let mut p = json!({"name": "a", "issuer": "https://a", "cluster": "c"});
        if let Some(a) = algorithms {
            p["algorithms"] = a;
        }
        json!({"host_signature_verification": host, "providers": [p]}).to_string()
    };
    let listed = load(
        config(false, Some(json!(["RS256", "ES512"]))).as_bytes(),
        &env,
    );
    if LargeCurveKey::IN_VM {
        assert!(listed.is_ok());
    } else {
        let err = listed.unwrap_err();
        assert_eq!(err.path, "providers[0].algorithms");
        assert!(err.to_string().contains("ES512"), "{err}");
    }
    // The default list, a list without them, and host verification on all load in every build.
    for ok in [
        config(false, None),
        config(false, Some(json!(["RS256", "ES256", "EdDSA"]))),
        config(true, Some(json!(["ES384", "ES512"]))),
    ] {
        load(ok.as_bytes(), &env).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

/// Regression: a token without `exp` was denied `missing_claim`, a reason missing from
/// [`super::REASONS`], so the filter had no `denied.missing_claim` counter and did not count it.
#[test]
fn every_token_denial_reason_has_a_metric() {
    use crate::jwt::JwtError;
    let p = policy();
    let no_exp = sign(claims(json!({"exp": null})));
    let bearer = format!("Bearer {no_exp}");
    let v = decide_at(&p, "GET", "/api/x", &[("authorization", &bearer)], NOW);
    assert_eq!(outcome(&v), (401, "missing_claim".into()));
    let token_errors = [
        JwtError::MalformedToken("x"),
        JwtError::TokenTooLarge { limit: 1 },
        JwtError::EncryptedTokenUnsupported,
        JwtError::UnsupportedAlg,
        JwtError::AlgNotAllowed,
        JwtError::UnsupportedCrit,
        JwtError::UnknownKid,
        JwtError::NoMatchingKey,
        JwtError::AlgNeedsHostCrypto,
        JwtError::BadSignature,
        JwtError::TokenExpired,
        JwtError::TokenNotYetValid,
        JwtError::TokenTooOld,
        JwtError::BadIssuer,
        JwtError::BadAudience,
        JwtError::BadClaimType("exp"),
        JwtError::MissingClaim("exp"),
    ];
    for e in token_errors {
        assert!(
            super::REASONS.contains(&e.reason()),
            "{} has no counter",
            e.reason()
        );
    }
}

/// Regression: a cache entry lived until `exp`, so a token older than
/// `max_token_age` was still allowed from the cache while the full check
/// refused it. An entry now ends where the age limit (plus skew) ends.
#[test]
fn cached_token_is_refused_once_older_than_max_token_age() {
    let p = policy_from(json!({
        "providers": [{"name": "corp", "issuer": "https://idp.corp", "audiences": ["api"],
            "algorithms": ["HS256"], "hmac_secret_env": "HS_SECRET", "max_token_age": "5m"}],
        "default_action": "authenticated"
    }));
    // Issued just now, valid for an hour; may be used for 5 minutes (+60 s skew).
    let token = sign(claims(json!({"iat": NOW, "exp": NOW + 3600})));
    let auth = format!("Bearer {token}");
    let h = headers(&[("authorization", &auth)]);
    let facts = get_api_x(&h);
    let keys = Keys(&p, None);
    let at = Now::from_unix_secs;
    // Without a cache the token is too old 10 minutes later.
    let mut no_cache = TokenCache::new(0);
    assert_eq!(
        outcome(&p.decide(&facts, &keys, &mut no_cache, &InVm, at(NOW + 600), true)),
        (401, "token_too_old".into())
    );
    // With the cache warmed at NOW: hits while the age limit holds, the full
    // check (and its refusal) from the second it ends.
    let mut cache = TokenCache::new(4);
    let mut decide = |secs: u64| match p.decide(&facts, &keys, &mut cache, &InVm, at(secs), true) {
        Verdict::Allow(a) => format!("{:?}", a.cache),
        other => format!("{:?}", outcome(&other)),
    };
    assert_eq!(decide(NOW), "Miss");
    assert_eq!(decide(NOW + 359), "Hit");
    assert_eq!(
        decide(NOW + 360),
        "Miss",
        "the limit's last second is checked in full"
    );
    assert_eq!(
        decide(NOW + 600),
        "(401, \"token_too_old\")",
        "a cached token outlived max_token_age"
    );
}

/// A two-provider configuration: `a` (HS256, `forward_token: false`) reads the
/// `Authorization` header and whatever `a_extra` adds, `b` reads cookie `session`.
fn forward_off_policy(a_extra: Value) -> OidcPolicy {
    let mut sources = vec![json!({"header": "authorization", "prefix": "Bearer "})];
    sources.extend(a_extra.as_array().cloned().unwrap_or_default());
    policy_from(json!({
        "providers": [
            {"name": "a", "issuer": "https://idp.corp", "algorithms": ["HS256"],
             "hmac_secret_env": "HS_SECRET", "forward_token": false, "token_sources": sources},
            {"name": "b", "issuer": "https://idp.other", "cluster": "idp",
             "token_sources": [{"cookie": "session"}, {"query": "session"}]}
        ],
        "default_action": "authenticated"
    }))
}

/// Regression: sources are pooled across providers, and only the verified
/// provider's own were stripped, so provider `a`'s token, sent in a cookie
/// only `b` reads, was accepted and reached the upstream although `a` has
/// `forward_token: false`. Now such a token is refused, and an accepted one
/// is stripped from the place it was found (here one `b` lists too).
#[test]
fn forward_token_false_strips_the_token_wherever_it_was_found() {
    let token = sign(claims(json!({"aud": null})));
    let cookie = format!("theme=dark; session={token}");
    // The place only `b` reads: refused, never forwarded.
    let only_b = forward_off_policy(json!([]));
    let v = decide_at(&only_b, "GET", "/x", &[("cookie", &cookie)], NOW);
    assert_eq!(outcome(&v), (401, "token_source_not_allowed".into()));
    // `a` reads that cookie too: allowed, and the cookie is stripped.
    let shared = forward_off_policy(json!([{"cookie": "session"}]));
    let v = decide_at(&shared, "GET", "/x", &[("cookie", &cookie)], NOW);
    let Verdict::Allow(a) = v else {
        panic!("{:?}", outcome(&v))
    };
    let cookie_after = match &a.new_cookie {
        None => Some(cookie.clone()),
        Some(c) => c.clone(),
    };
    assert_eq!(cookie_after.as_deref(), Some("theme=dark"));
    assert!(
        !cookie_after.unwrap_or_default().contains(&token),
        "provider a's token reaches the upstream in the cookie although forward_token is false"
    );
    assert!(a.new_path.is_none());
    // Likewise from a query parameter both read.
    let shared = forward_off_policy(json!([{"query": "session"}]));
    let v = decide_at(&shared, "GET", &format!("/x?session={token}&b=2"), &[], NOW);
    let Verdict::Allow(a) = v else {
        panic!("{:?}", outcome(&v))
    };
    assert_eq!(a.new_path.as_deref(), Some("/x?b=2"));
}

/// With two cookie (or query) sources, stripping one kept the other's token:
/// each strip started again from the request's own `cookie` header.
#[test]
fn forward_token_false_strips_every_cookie_and_query_source_of_the_provider() {
    let p = policy_from(json!({
        "providers": [{"name": "a", "issuer": "https://idp.corp", "algorithms": ["HS256"],
            "hmac_secret_env": "HS_SECRET", "forward_token": false,
            "token_sources": [{"cookie": "at"}, {"cookie": "id"}, {"query": "t"}, {"query": "u"}]}],
        "default_action": "authenticated"
    }));
    let token = sign(claims(json!({"aud": null})));
    for cookie in [format!("at={token}; k=1"), format!("k=1; id={token}")] {
        let v = decide_at(&p, "GET", "/x", &[("cookie", &cookie)], NOW);
        let Verdict::Allow(a) = v else {
            panic!("{:?}", outcome(&v))
        };
        assert_eq!(a.new_cookie, Some(Some("k=1".to_string())), "{cookie}");
    }
    for path in [format!("/x?t={token}&v=2"), format!("/x?v=2&u={token}")] {
        let v = decide_at(&p, "GET", &path, &[], NOW);
        let Verdict::Allow(a) = v else {
            panic!("{:?}", outcome(&v))
        };
        assert_eq!(a.new_path.as_deref(), Some("/x?v=2"), "{path}");
    }
}

/// A provider's token is taken only from a place that provider reads tokens
/// from, whichever other providers read: else 401 `token_source_not_allowed`
/// (an `invalid_request` challenge, the token never echoed), cached or not,
/// and without asking for a key fetch.
#[test]
fn a_token_from_a_place_only_another_provider_reads_is_refused() {
    let p = forward_off_policy(json!([]));
    let token = sign(claims(json!({"aud": null})));
    let auth = format!("Bearer {token}");
    let cookie = format!("session={token}");
    let query = format!("/x?session={token}");
    let refused = (401, "token_source_not_allowed".to_string());
    let mut cache = TokenCache::new(4);
    let mut decide = |path: &str, hs: &[(&str, &str)], keys: &Keys<'_>| {
        let h = headers(hs);
        p.decide(
            &RequestFacts {
                method: "GET",
                path,
                headers: &h,
            },
            keys,
            &mut cache,
            &InVm,
            Now::from_unix_secs(NOW),
            true,
        )
    };
    // From `a`'s own header: allowed, and cached.
    let ok = decide("/x", &[("authorization", &auth)], &Keys(&p, None));
    assert_eq!(outcome(&ok), (200, "allowed".into()));
    // The same (now cached) token from `b`'s cookie or query parameter.
    for (path, hs) in [
        ("/x", vec![("cookie", cookie.as_str())]),
        (query.as_str(), vec![]),
    ] {
        let v = decide(path, &hs, &Keys(&p, None));
        assert_eq!(outcome(&v), refused, "{path} {hs:?}");
        let Verdict::Deny {
            headers: answer, ..
        } = v
        else {
            panic!()
        };
        let challenge = &answer[0].1;
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{challenge}"
        );
        assert!(!challenge.contains(&token));
        // Not cached, and no keys: refused before any key fetch is asked for.
        let mut fresh = TokenCache::new(4);
        let h = headers(&hs);
        let v = p.decide(
            &RequestFacts {
                method: "GET",
                path,
                headers: &h,
            },
            &Keys(&p, Some("keys_not_loaded")),
            &mut fresh,
            &InVm,
            Now::from_unix_secs(NOW),
            true,
        );
        assert_eq!(outcome(&v), refused, "uncached {path} {hs:?}");
    }
    assert!(super::REASONS.contains(&"token_source_not_allowed"));
}

/// Regression: a configured HMAC secret (`hmac_secret_env`) has no kid, and
/// a token naming a kid was tried only against keys with that kid, so an
/// HS256 token carrying any `kid` (as many issuers set) never verified. As in
/// Envoy's `jwt_authn`, a key without a kid is a candidate for any token.
#[test]
fn hs256_token_with_a_kid_verifies_with_the_configured_secret() {
    let p = policy_from(json!({
        "providers": [{"name": "corp", "issuer": "https://idp.corp", "audiences": ["api"],
            "algorithms": ["HS256"], "hmac_secret_env": "HS_SECRET"}],
        "default_action": "authenticated"
    }));
    let signed_with = |secret: &[u8]| {
        let header = B64.encode(json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}).to_string());
        let input = format!("{header}.{}", B64.encode(claims(json!({})).to_string()));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("Bearer {input}.{}", B64.encode(mac.finalize().into_bytes()))
    };
    let decide = |auth: &str| {
        let h = headers(&[("authorization", auth)]);
        let mut cache = TokenCache::new(4);
        let v = p.decide(
            &get_api_x(&h),
            &Keys(&p, None),
            &mut cache,
            &InVm,
            Now::from_unix_secs(NOW),
            false,
        );
        outcome(&v)
    };
    assert_eq!(
        decide(&signed_with(SECRET.as_bytes())),
        (200, "allowed".into())
    );
    // Another secret: the kid names no key and the untagged one does not verify it.
    let other = signed_with(b"another-secret-of-enough-length-for-hs256!");
    assert_eq!(decide(&other), (401, "unknown_kid".into()));
}

/// Regression: header prefixes are compared case-insensitively, but the
/// sources of two providers were merged only when equal byte for byte, so
/// `Bearer ` / `bearer ` / `Bearer` on the same header made every bearer
/// request `ambiguous_token` (the one token found twice).
#[test]
fn same_header_source_listed_by_two_providers_is_not_ambiguous() {
    for prefix in ["bearer ", "Bearer", " BEARER  "] {
        let p = policy_from(json!({
            "providers": [
                {"name": "a", "issuer": "https://idp.corp", "algorithms": ["HS256"],
                 "hmac_secret_env": "HS_SECRET"},
                {"name": "b", "issuer": "https://idp.other", "cluster": "idp",
                 "token_sources": [{"header": "Authorization", "prefix": prefix}]}
            ],
            "default_action": "authenticated"
        }));
        assert_eq!(p.token_sources.len(), 1, "{prefix:?}");
        let token = sign(claims(json!({"aud": null})));
        let auth = format!("Bearer {token}");
        let v = decide_at(&p, "GET", "/x", &[("authorization", &auth)], NOW);
        assert_eq!(outcome(&v), (200, "allowed".into()), "{prefix:?}");
    }
}

/// Regression: keys in `inline_jwks` are configuration, not an IdP's answer,
/// yet one that could not be used (a typo in `x`, a 1024-bit modulus, `use:
/// enc`) was dropped silently and its tokens got 401 `unknown_kid`. Refused
/// at configure time, naming the entry and why.
#[test]
fn an_unusable_inline_jwks_key_is_a_configuration_error() {
    let good = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([1; 32])).pk;
    let good =
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "good", "x": B64.encode(good.as_ref())});
    let with = |bad: Value| {
        let config = json!({
            "providers": [{"name": "a", "issuer": "https://a", "algorithms": ["EdDSA"],
                "inline_jwks": {"keys": [good.clone(), bad]}}]
        });
        load(config.to_string().as_bytes(), &env)
    };
    let mut enc = good.clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    for (bad, code) in [
        // The `x` of a key copied with its last characters cut off.
        (
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "typo", "x": "AAAA"}),
            "bad_key_material",
        ),
        (enc, "not_for_signatures"),
        (
            json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"}),
            "symmetric_key_in_jwks",
        ),
    ] {
        let err = with(bad).expect_err("a configuration with an unusable inline key was accepted");
        assert_eq!(err.path, "providers[0].inline_jwks.keys[1]", "{err}");
        assert!(err.to_string().contains(code), "{err}");
    }
    // Two keys of one type with one kid: both entries are unusable.
    let err = with(good.clone()).expect_err("a duplicate kid was accepted");
    assert_eq!(err.path, "providers[0].inline_jwks.keys[0]", "{err}");
    assert!(err.to_string().contains("duplicate_kid"), "{err}");
    let config = json!({"providers": [{"name": "a", "issuer": "https://a", "algorithms": ["EdDSA"],
        "inline_jwks": {"keys": [good]}}]});
    assert!(load(config.to_string().as_bytes(), &env).is_ok());
}

/// Regression: documented ranges are `max_untagged_keys` 1 – 8 and
/// `fetch_timeout` 100 ms – 60 s, like `max_token_bytes` 256 – 65536 (refused
/// when out of range), but these two were silently clamped: they loaded and
/// ran with another value than configured.
#[test]
fn out_of_range_untagged_keys_and_fetch_timeout_are_refused() {
    let with = |field: &str, value: &Value| {
        let mut p = json!({"name": "a", "issuer": "https://a", "cluster": "c"});
        p[field] = value.clone();
        load(json!({"providers": [p]}).to_string().as_bytes(), &env)
    };
    for (field, value, range) in [
        ("max_untagged_keys", json!(0), "between 1 and 8"),
        ("max_untagged_keys", json!(50), "between 1 and 8"),
        ("fetch_timeout", json!("10m"), "between 100ms and 60s"),
        ("fetch_timeout", json!("1ms"), "between 100ms and 60s"),
    ] {
        match with(field, &value) {
            Ok(_) => panic!("{field}: {value} was accepted (silently clamped)"),
            Err(e) => {
                assert_eq!(e.path, format!("providers[0].{field}"));
                assert!(e.to_string().contains(range), "{e}");
            }
        }
    }
    // The bounds themselves are accepted, and used as configured.
    for (field, value) in [
        ("max_untagged_keys", json!(1)),
        ("max_untagged_keys", json!(8)),
        ("fetch_timeout", json!("100ms")),
        ("fetch_timeout", json!("60s")),
    ] {
        let p = with(field, &value).unwrap_or_else(|e| panic!("{field}: {value}: {e}"));
        let provider = &p.providers[0];
        match field {
            "max_untagged_keys" => assert_eq!(json!(provider.token.max_untagged_keys), value),
            _ => assert!([100, 60_000].contains(&provider.refresh.fetch_timeout_ms)),
        }
    }
}
