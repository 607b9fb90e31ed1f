//! What the pure core needs from its environment, passed in explicitly.

/// Wall-clock time in whole seconds and in milliseconds since the Unix epoch.
/// The filters read the proxy's clock once per event and pass it down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Now {
    pub unix_ms: u64,
}

impl Now {
    pub fn from_unix_ms(unix_ms: u64) -> Self {
        Self { unix_ms }
    }

    pub fn from_unix_secs(secs: u64) -> Self {
        Self {
            unix_ms: secs.saturating_mul(1000),
        }
    }

    pub fn unix_secs(self) -> u64 {
        self.unix_ms / 1000
    }

    pub fn plus_ms(self, ms: u64) -> Self {
        Self {
            unix_ms: self.unix_ms.saturating_add(ms),
        }
    }
}

/// A source of randomness (jitter, nonces). The filters back it with the
/// host's `getrandom`; tests use a fixed sequence.
pub trait Random {
    fn fill(&mut self, buf: &mut [u8]);

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    /// A uniformly distributed fraction in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Deterministic randomness for tests (SplitMix64).
#[derive(Clone, Debug)]
pub struct SeededRandom(pub u64);

impl Random for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes.iter()) {
                *dst = *src;
            }
        }
    }
}
