//! A JWKS document as fetched from an IdP (attacker-reachable when the IdP
//! or the path to it is compromised): compile it, then select keys for every
//! algorithm, with and without a `kid`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::jwt::{Algorithm, JwksLimits, KeySet};

fuzz_target!(|data: &[u8]| {
    let Ok((set, skipped)) = KeySet::from_jwks(data, JwksLimits::default()) else {
        return;
    };
    assert!(set.len() <= JwksLimits::default().max_keys);
    let _ = skipped.len();
    for key in set.keys() {
        let _ = key.spki_der();
        for alg in Algorithm::ALL {
            let _ = key.accepts(alg);
            let _ = set.candidates(key.kid(), alg, 2);
            let _ = set.candidates(None, alg, 2);
        }
    }
});
