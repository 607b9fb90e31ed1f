//! Refresh timing configuration (the DTO) and its compiled form.
//!
//! ```json
//! {"refresh_interval": "5m", "max_staleness": "1h", "min_forced_refetch_interval": "30s",
//!  "fetch_timeout": "10s", "backoff_base": "1s", "backoff_max": "5m"}
//! ```
//! Every field is optional; the defaults suit a JWKS.

use crate::config::{from_json, parse_duration_ms, Compile, ConfigError};

use crate::backoff::Backoff;

#[derive(Clone, Debug, Default)]
pub struct RefreshConfig {
    /// How long a fetched value is fresh; a new fetch is due after it. Default 5m.
    pub refresh_interval: Option<String>,
    /// How long after its fetch a value may still be served while refreshes
    /// fail. After it, callers fail closed. Default 1h.
    pub max_staleness: Option<String>,
    /// Minimum time between two forced refetches (e.g. on an unknown `kid`). Default 30s.
    pub min_forced_refetch_interval: Option<String>,
    /// After this long without an answer a fetch counts as lost and may be retried. Default 10s.
    pub fetch_timeout: Option<String>,
    /// First retry delay after a failure (then doubling, with jitter). Default 1s.
    pub backoff_base: Option<String>,
    /// Longest retry delay. Default 5m.
    pub backoff_max: Option<String>,
}

from_json!(RefreshConfig {
    refresh_interval: optional,
    max_staleness: optional,
    min_forced_refetch_interval: optional,
    fetch_timeout: optional,
    backoff_base: optional,
    backoff_max: optional,
});

/// Compiled refresh timing, all in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub refresh_interval_ms: u64,
    pub max_staleness_ms: u64,
    pub min_forced_refetch_interval_ms: u64,
    pub fetch_timeout_ms: u64,
    pub backoff: Backoff,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            refresh_interval_ms: 300_000,
            max_staleness_ms: 3_600_000,
            min_forced_refetch_interval_ms: 30_000,
            fetch_timeout_ms: 10_000,
            backoff: Backoff::new(1_000, 300_000),
        }
    }
}

impl Compile for RefreshConfig {
    type Compiled = RefreshPolicy;

    fn compile(self) -> Result<RefreshPolicy, ConfigError> {
        let d = RefreshPolicy::default();
        let ms = |field: &str, value: Option<String>, default: u64| match value {
            None => Ok(default),
            Some(text) => parse_duration_ms(field, &text),
        };
        let policy = RefreshPolicy {
            refresh_interval_ms: ms(
                "refresh_interval",
                self.refresh_interval,
                d.refresh_interval_ms,
            )?,
            max_staleness_ms: ms("max_staleness", self.max_staleness, d.max_staleness_ms)?,
            min_forced_refetch_interval_ms: ms(
                "min_forced_refetch_interval",
                self.min_forced_refetch_interval,
                d.min_forced_refetch_interval_ms,
            )?,
            fetch_timeout_ms: ms("fetch_timeout", self.fetch_timeout, d.fetch_timeout_ms)?,
            backoff: Backoff::new(
                ms("backoff_base", self.backoff_base, d.backoff.base_ms)?,
                ms("backoff_max", self.backoff_max, d.backoff.max_ms)?,
            ),
        };
        for (field, value) in [
            ("refresh_interval", policy.refresh_interval_ms),
            ("fetch_timeout", policy.fetch_timeout_ms),
            ("backoff_base", policy.backoff.base_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::new(field, "must be greater than zero"));
            }
        }
        if policy.max_staleness_ms < policy.refresh_interval_ms {
            return Err(
                ConfigError::new("max_staleness", "must be at least `refresh_interval`")
                    .with_hint("a value is stale only after `refresh_interval`"),
            );
        }
        if policy.backoff.max_ms < policy.backoff.base_ms {
            return Err(ConfigError::new(
                "backoff_max",
                "must be at least `backoff_base`",
            ));
        }
        Ok(policy)
    }
}
