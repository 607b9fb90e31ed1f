//! Exponential backoff with full jitter, shared by JWKS and Vault fetches.

use crate::env::Random;

/// `base * 2^failures`, capped at `max`, then a random point in
/// [delay/2, delay] so that many proxies retrying together spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    pub const fn new(base_ms: u64, max_ms: u64) -> Self {
        Self { base_ms, max_ms }
    }

    /// The upper bound of the delay after `failures` consecutive failures (≥ 1).
    pub fn ceiling_ms(&self, failures: u32) -> u64 {
        let exp = failures.saturating_sub(1).min(32);
        self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms)
    }

    pub fn delay_ms(&self, failures: u32, rng: &mut dyn Random) -> u64 {
        let ceiling = self.ceiling_ms(failures);
        let half = ceiling / 2;
        half + ((ceiling - half) as f64 * rng.unit()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::SeededRandom;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn delay_doubles_until_the_cap_and_stays_within_jitter_bounds() {
        let b = Backoff::new(1_000, 300_000);
        let mut rng = SeededRandom(7);
        for (failures, ceiling) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (9, 256_000),
            (10, 300_000),
            (60, 300_000),
        ] {
            assert_eq!(b.ceiling_ms(failures), ceiling);
            for _ in 0..200 {
                let d = b.delay_ms(failures, &mut rng);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "{d} outside [{}, {ceiling}]",
                    ceiling / 2
                );
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let b = Backoff::new(1_000, 300_000);
        let mut rng = SeededRandom(1);
        let delays: std::collections::BTreeSet<u64> =
            (0..50).map(|_| b.delay_ms(5, &mut rng)).collect();
        assert!(delays.len() > 40);
    }
}
