//! Backing off from a Vault in trouble: the server's `Retry-After`, the
//! configured backoff, and the client-wide gate that keeps one proxy from
//! hammering a server that is sealed, rate limiting, down or slow.

use super::error::VaultError;
use crate::backoff::Backoff;
use crate::env::{Now, Random};
use crate::http_date::parse_http_date;

/// Longest `Retry-After` text accepted (delta-seconds; 10 digits ≈ 300 years).
const MAX_RETRY_AFTER_DIGITS: usize = 10;

/// Parses a `Retry-After` header value into milliseconds from `now`: either
/// delta-seconds (what Vault and OpenBao send with a 429) or an HTTP-date
/// (what a load balancer in front of Vault may send; a date already past
/// means "now"). An empty, negative or otherwise invalid value yields
/// `None`: the backoff decides.
pub fn parse_retry_after(value: &[u8], now: Now) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only {
        let at_ms = parse_http_date(text)?.checked_mul(1_000)?;
        return Some(at_ms.saturating_sub(now.unix_ms));
    }
    if text.len() > MAX_RETRY_AFTER_DIGITS {
        return None;
    }
    text.parse::<u64>().ok()?.checked_mul(1_000)
}

/// The wait before the next attempt after `failures` consecutive failures
/// (≥ 1) ending in `err`: the jittered backoff, but never earlier than the
/// server's `Retry-After`, itself bounded by the backoff's maximum so that a
/// wrong or hostile header cannot park the proxy for hours.
pub fn retry_delay_ms(
    backoff: &Backoff,
    failures: u32,
    err: &VaultError,
    rng: &mut dyn Random,
) -> u64 {
    let delay = backoff.delay_ms(failures, rng);
    match err.retry_after_ms() {
        Some(asked) => delay.max(asked.min(backoff.max_ms)),
        None => delay,
    }
}

/// Client-wide backoff for server faults ([`VaultError::is_server_fault`]).
/// While closed, no call goes out; once it reopens after a fault, a single
/// call probes the server and the others follow its success. Any answer
/// that shows the server working (a success, or a 4xx about the call
/// itself) resets it.
#[derive(Clone, Debug)]
pub struct ServerGate {
    backoff: Backoff,
    failures: u32,
    open_at: Now,
    last_fault: Option<&'static str>,
}

impl ServerGate {
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            failures: 0,
            open_at: Now::from_unix_ms(0),
            last_fault: None,
        }
    }

    /// Whether calls may go out at `now`.
    pub fn is_open(&self, now: Now) -> bool {
        now >= self.open_at
    }

    /// After a server fault only one call at a time goes out.
    pub fn probing(&self) -> bool {
        self.failures > 0
    }

    /// When calls may go out again.
    pub fn open_at(&self) -> Now {
        self.open_at
    }

    /// Consecutive server faults so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Reason code of the server fault that closed the gate, until a good answer.
    pub fn last_fault(&self) -> Option<&'static str> {
        self.last_fault
    }

    /// Records the outcome of one call: `None` for a success.
    pub fn on_outcome(&mut self, err: Option<&VaultError>, now: Now, rng: &mut dyn Random) {
        match err {
            Some(e) if e.is_server_fault() => {
                // Calls sent before the gate closed fail together: count them
                // as one step, but still honour the longest Retry-After.
                if self.is_open(now) {
                    self.failures = self.failures.saturating_add(1);
                }
                let failures = self.failures.max(1);
                let at = now.plus_ms(retry_delay_ms(&self.backoff, failures, e, rng));
                self.open_at = self.open_at.max(at);
                self.last_fault = Some(e.reason());
            }
            _ => {
                self.failures = 0;
                self.open_at = self.open_at.min(now);
                self.last_fault = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
