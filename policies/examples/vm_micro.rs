//! In-VM cost of the policy calls the plugins make on every request, without Envoy.
//!
//! `make bench-vm` builds this for wasm32-wasip1 with the plugins' profile and runs it in Node's
//! WASI, i.e. in V8, the engine Envoy embeds. It isolates the policy code from the hostcalls and
//! from the machine's noise in `make bench` (one thread, no I/O, the best of several batches), so a
//! lever of a few µs shows up. Each case mirrors `make bench`'s configuration of that plugin.
//! Natively (`cargo run --release -p policies --example vm_micro`) it prints the same table.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use policies::config::parse_json;
use policies::env::{Now, SeededRandom};
use policies::inject::{
    CredentialSource, CredentialUnavailable, Decision, InjectorConfigDto, RequestInput,
};
use policies::jwt::InVm;
use policies::oidc::decide::{CacheUse, KeyLookup, KeyState, RequestFacts, Verdict};
use policies::oidc::fetch_plan::inline_keys;
use policies::oidc::policy::OidcPolicy;
use policies::oidc::token_cache::TokenCache;
use policies::secret::Secret;
use policies::sticky::{self, ResponseEvent, ResponseInput};
use policies::vault::SecretValue;
use std::hint::black_box;
use std::time::Instant;

const NOW_S: u64 = 1_800_000_000;
const BATCHES: usize = 15;
const CALLS_PER_BATCH: u32 = 10_000;

/// Runs `call` in batches and returns the best batch's ns per call (least disturbed by the rest
/// of the machine).
fn best_ns(mut call: impl FnMut()) -> f64 {
    for _ in 0..CALLS_PER_BATCH {
        call(); // warm-up: lets V8 tier the code up
    }
    (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS_PER_BATCH {
                call();
            }
            start.elapsed().as_nanos() as f64 / f64::from(CALLS_PER_BATCH)
        })
        .fold(f64::INFINITY, f64::min)
}

fn sticky_env(name: &str) -> Option<String> {
    (name == "STICKY_KEY").then(|| STANDARD.encode((0u8..32).collect::<Vec<_>>()))
}

/// sticky-session as in `make bench`: a returning client whose cookie pins the serving endpoint.
fn sticky_kept() -> Result<f64, String> {
    let config = br#"{"mode":"stateful-session","pin_header":"x-sticky-pin",
        "cookie":{"name":"__Host-sticky","max_age":"8h","idle_timeout":"30m"},
        "keys":[{"id":"k1","env":"STICKY_KEY"}]}"#;
    let policy = sticky::load(config, &sticky_env).map_err(|e| e.to_string())?;
    let upstream = "127.0.0.1:8081";
    let now = Now::from_unix_secs(NOW_S);
    let mut rng = SeededRandom(7);
    // The first response of a session sets the cookie the returning client sends.
    let first = policy.on_request(&sticky::RequestInput {
        cookie_headers: &[],
        path: "/",
        subject: &sticky::Subject::known(None),
        now,
    });
    let issued = policy.on_response(ResponseInput {
        upstream_address: Some(upstream),
        served_by_upstream: &|| true,
        request: &first,
        subject: &sticky::Subject::known(None),
        now,
        rng: &mut rng,
    });
    let set_cookie = issued.set_cookie.ok_or("no cookie issued")?;
    let pair = set_cookie
        .expose()
        .split(';')
        .next()
        .ok_or("empty Set-Cookie")?
        .to_string();
    let cookie_header = format!("theme=dark; {pair}; lang=en");
    let mut kept = true;
    let ns = best_ns(|| {
        let decision = policy.on_request(&sticky::RequestInput {
            cookie_headers: &[cookie_header.as_str()],
            path: black_box("/"),
            subject: &sticky::Subject::known(None),
            now,
        });
        let outcome = policy.on_response(ResponseInput {
            upstream_address: Some(upstream),
            served_by_upstream: &|| true,
            request: &decision,
            subject: &sticky::Subject::known(None),
            now,
            rng: &mut rng,
        });
        kept &= outcome.event == ResponseEvent::Kept;
        black_box(outcome);
    });
    if kept {
        Ok(ns)
    } else {
        Err("the returning client was not kept on its endpoint".into())
    }
}

/// The Vault secret as the filter's source hands it out: the secret's current value.
struct VaultSnapshot(SecretValue);

impl CredentialSource for VaultSnapshot {
    fn vault_secret(&self, _name: &str, _now: Now) -> Result<SecretValue, CredentialUnavailable> {
        Ok(self.0.clone())
    }

    fn oauth2_token(&self, _index: usize, _now: Now) -> Result<Secret, CredentialUnavailable> {
        Err(CredentialUnavailable::new("token_not_loaded"))
    }
}

/// credential-injector as in `make bench`: a Vault-sourced key on an allowed GET.
fn injector_allow() -> Result<f64, String> {
    let config = br#"{"backends":[{"name":"payments",
        "routes":[{"methods":["GET"],"path":{"prefix":"/"}}],
        "credential":{"vault":{"secret":"payments","field":"api_key"}},
        "injection":{"header":"x-api-key"},"require_user":false}],
        "cors":{"allowed_origins":["https://app.bench.local"],"allow_credentials":true},
        "vault":{"connection":{"cluster":"vault","authority":"127.0.0.1:8200","timeout":"2s"},
          "auth":{"token":{"token_env":"VAULT_TOKEN"}},"kv_refresh_interval":"1h",
          "secrets":[{"name":"payments","kind":{"kv2":{"path":"payments","fields":["api_key"]}}}]}}"#;
    let env = |name: &str| (name == "VAULT_TOKEN").then(|| "bench-token".to_string());
    let injector = parse_json::<InjectorConfigDto>(config)
        .and_then(|dto| dto.compile(&env))
        .map_err(|e| e.to_string())?;
    let fields = [("api_key".to_string(), Secret::new("bench-api-key-1"))];
    let source = VaultSnapshot(SecretValue::new(fields.into_iter().collect()));
    let headers = [
        ("host", "bench.local"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("x-request-id", "6f1c2d3e-0000-4000-8000-000000000001"),
    ];
    let mut allowed = true;
    let ns = best_ns(|| {
        let decision = injector.decide(
            &RequestInput {
                method: "GET",
                path: black_box("/"),
                query: None,
                headers: &headers,
                identity: None,
                now: Now::from_unix_secs(NOW_S),
            },
            &source,
        );
        allowed &= matches!(decision, Decision::Allow(_));
        black_box(decision);
    });
    if allowed {
        Ok(ns)
    } else {
        Err("the request was not allowed".into())
    }
}

/// Inline keys are always usable, as in the filter.
struct InlineKeys<'a>(&'a OidcPolicy);

impl KeyLookup for InlineKeys<'_> {
    fn keys(&self, provider: usize) -> KeyState<'_> {
        match self.0.providers.get(provider).and_then(inline_keys) {
            Some(set) => KeyState::Usable(set),
            None => KeyState::Unavailable("keys_not_loaded"),
        }
    }
}

/// oidc-auth as in `make bench` (repeated token): an ES256 token the cache verified before.
fn oidc_cached_token() -> Result<f64, String> {
    use p256::ecdsa::signature::Signer;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signer = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).map_err(|e| e.to_string())?;
    let point = signer.verifying_key().to_encoded_point(false);
    let (x, y) = point.x().zip(point.y()).ok_or("no point")?;
    let config = format!(
        r#"{{"providers":[{{"name":"bench","issuer":"https://idp.bench.local",
        "audiences":["https://api.bench.local"],"algorithms":["ES256"],
        "inline_jwks":{{"keys":[{{"kty":"EC","alg":"ES256","use":"sig","kid":"bench-p256",
          "crv":"P-256","x":"{}","y":"{}"}}]}}}}],
        "rules":[{{"match":{{"path":{{"prefix":"/"}}}}}}]}}"#,
        b64.encode(x),
        b64.encode(y)
    );
    let policy = policies::oidc::config::load(config.as_bytes(), &|_: &str| None)
        .map_err(|e| e.to_string())?;
    let header = r#"{"alg":"ES256","typ":"JWT","kid":"bench-p256"}"#;
    let claims = format!(
        r#"{{"iss":"https://idp.bench.local","aud":"https://api.bench.local","sub":"user-1","iat":{NOW_S},"exp":{},"scope":"api:read"}}"#,
        NOW_S + 86_400
    );
    let input = format!("{}.{}", b64.encode(header), b64.encode(claims));
    let signature: p256::ecdsa::Signature = signer.sign(input.as_bytes());
    let token = format!("{input}.{}", b64.encode(signature.to_bytes()));
    let bearer = format!("Bearer {token}");
    let headers = [
        ("host", "bench.local"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("authorization", bearer.as_str()),
    ];
    let keys = InlineKeys(&policy);
    let mut cache = TokenCache::new(1024);
    let now = Now::from_unix_secs(NOW_S);
    let mut hits = true;
    let decide = |cache: &mut TokenCache| {
        let facts = RequestFacts {
            method: "GET",
            path: black_box("/"),
            headers: &headers,
        };
        policy.decide(&facts, &keys, cache, &InVm, now, false)
    };
    if !matches!(decide(&mut cache), Verdict::Allow(_)) {
        return Err("the token was not accepted".into());
    }
    let ns = best_ns(|| {
        let verdict = decide(&mut cache);
        hits &= matches!(&verdict, Verdict::Allow(a) if a.cache == CacheUse::Hit);
        black_box(verdict);
    });
    if hits {
        Ok(ns)
    } else {
        Err("the repeated token missed the cache".into())
    }
}

/// One case: the plugin, the call, and the measurement (ns per call).
type Case = (&'static str, &'static str, fn() -> Result<f64, String>);

/// The cases, by the plugin they belong to: `make bench-vm` runs each with its plugin's profile.
const CASES: [Case; 3] = [
    (
        "oidc-auth",
        "decide, repeated ES256 token (cache hit)",
        oidc_cached_token,
    ),
    (
        "sticky-session",
        "on_request + on_response, valid cookie (kept)",
        sticky_kept,
    ),
    (
        "credential-injector",
        "decide, Vault key on an allowed GET",
        injector_allow,
    ),
];

/// Arguments: the plugins whose cases to run (all when none).
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let mut failed = false;
    for (plugin, call, case) in CASES {
        if !only.is_empty() && !only.iter().any(|o| o == plugin) {
            continue;
        }
        match case() {
            Ok(ns) => println!("| {plugin} | {call} | {ns:.0} |"),
            Err(e) => {
                println!("| {plugin} | {call} | failed: {e} |");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
