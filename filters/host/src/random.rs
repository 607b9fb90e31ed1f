//! Randomness from the host (WASI `random_get`, which Envoy provides).

use policies::env::Random;

#[derive(Debug, Default, Clone, Copy)]
pub struct HostRandom;

impl Random for HostRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if getrandom::getrandom(buf).is_err() {
            // Never trap: fall back to the clock, which is still fine for
            // jitter. Callers that need secrecy (nonces) use `fill_secure`.
            let t = crate::clock::now().unix_ms;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (t >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
            }
        }
    }
}

/// Fills `buf` with secure random bytes, or fails.
pub fn fill_secure(buf: &mut [u8]) -> bool {
    getrandom::getrandom(buf).is_ok()
}
