//! A bearer token against a fixed key set (the local IdP's public RS256,
//! ES256 and EdDSA keys plus an HS256 secret), every algorithm allowed, the
//! clock fixed just after the seed tokens were minted: the whole
//! parse → algorithm → key selection → signature → claims path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::env::Now;
use policies::jwt::{
    verify_token, Algorithm, ClaimsPolicy, InVm, Jwk, JwksLimits, KeySet, TokenPolicy,
};
use std::sync::OnceLock;

const JWKS: &[u8] = include_bytes!("../fixtures/idp-jwks.json");
/// `iat` of the seed tokens in fuzz/corpus/jwt_verify (minted with a 300 s ttl).
const SEED_IAT: u64 = 1_795_438_792;

fn keys() -> &'static (KeySet, TokenPolicy) {
    static KEYS: OnceLock<(KeySet, TokenPolicy)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = KeySet::from_jwks(JWKS, JwksLimits::default())
            .map(|(set, _)| set.keys().to_vec())
            .unwrap_or_default();
        if let Ok(k) = Jwk::hmac_secret(Some("hs".into()), Algorithm::Hs256, &[7u8; 32]) {
            keys.push(k);
        }
        let set = KeySet::from_keys(keys).unwrap_or_default();
        let claims = ClaimsPolicy {
            issuer: Some("http://127.0.0.1:19377".into()),
            audiences: vec!["https://api.mesh.local".into()],
            require_exp: true,
            leeway_secs: 60,
            max_age_secs: Some(3600),
        };
        (set, TokenPolicy::new(Algorithm::ALL.to_vec(), claims))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (set, policy) = keys();
    let _ = verify_token(
        token,
        set,
        policy,
        Now::from_unix_secs(SEED_IAT + 10),
        &InVm,
    );
});
