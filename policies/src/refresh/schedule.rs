//! The scheduling half of a refreshed resource: plain data, serializable so
//! the host can keep it in proxy shared data next to the value and every
//! worker VM sees the same schedule.

use crate::json::{from_json, read_untrusted};
use serde::Serialize;

use super::config::RefreshPolicy;
use crate::env::{Now, Random};

/// Where a resource stands at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Never fetched successfully.
    Empty,
    /// Fetched less than `refresh_interval` ago (or before 3/4 of its own lifetime).
    Fresh,
    /// Older, but still served until `max_staleness` (or its own expiry).
    Stale,
    /// Too old to serve: callers fail closed.
    Expired,
}

/// Scheduling state in unix milliseconds. `Default` is "never fetched, due now".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// Last successful fetch.
    pub fetched_at_ms: Option<u64>,
    pub fresh_until_ms: u64,
    pub usable_until_ms: u64,
    /// The next fetch is due at this time (0: immediately).
    pub next_fetch_at_ms: u64,
    /// Failures since the last success (drives the backoff).
    pub consecutive_failures: u32,
    /// Last granted forced refetch (rate limit).
    pub last_forced_at_ms: Option<u64>,
    /// A fetch started and is awaited until then; no new one is due meanwhile.
    pub in_flight_until_ms: u64,
}

from_json!(
    #[ignore_unknown]
    Schedule {
        fetched_at_ms: optional,
        fresh_until_ms,
        usable_until_ms,
        next_fetch_at_ms,
        consecutive_failures,
        last_forced_at_ms: optional,
        in_flight_until_ms,
    }
);

impl Schedule {
    pub fn phase(&self, now: Now) -> Phase {
        match self.fetched_at_ms {
            None => Phase::Empty,
            Some(_) if now.unix_ms < self.fresh_until_ms => Phase::Fresh,
            Some(_) if now.unix_ms < self.usable_until_ms => Phase::Stale,
            Some(_) => Phase::Expired,
        }
    }

    /// Time to fetch: at once when never fetched, then every
    /// `refresh_interval`, after failures at the backoff time; never while
    /// a fetch is in flight.
    pub fn due(&self, now: Now) -> bool {
        !self.in_flight(now) && now.unix_ms >= self.next_fetch_at_ms
    }

    pub fn in_flight(&self, now: Now) -> bool {
        now.unix_ms < self.in_flight_until_ms
    }

    /// Marks a fetch as started; it counts as lost after `fetch_timeout`.
    pub fn start_fetch(&mut self, now: Now, policy: &RefreshPolicy) {
        self.in_flight_until_ms = now.unix_ms.saturating_add(policy.fetch_timeout_ms);
    }

    /// A fetch succeeded. `expires_at` is the value's own expiry, if it has
    /// one (an OAuth2 token): it is then refreshed after 3/4 of its
    /// lifetime at the latest and never served past its expiry.
    pub fn record_success(&mut self, now: Now, policy: &RefreshPolicy, expires_at: Option<Now>) {
        let t = now.unix_ms;
        let mut fresh_until = t.saturating_add(policy.refresh_interval_ms);
        let mut usable_until = t.saturating_add(policy.max_staleness_ms);
        if let Some(exp) = expires_at {
            let lifetime = exp.unix_ms.saturating_sub(t);
            fresh_until = fresh_until.min(t.saturating_add(lifetime / 4 * 3));
            usable_until = usable_until.min(exp.unix_ms);
        }
        self.fetched_at_ms = Some(t);
        self.fresh_until_ms = fresh_until;
        self.usable_until_ms = usable_until;
        self.next_fetch_at_ms = fresh_until;
        self.consecutive_failures = 0;
        self.in_flight_until_ms = 0;
    }

    /// A fetch failed: retry after the backoff delay (with jitter). The
    /// current value, if any, keeps its freshness bounds.
    pub fn record_failure(&mut self, now: Now, policy: &RefreshPolicy, rng: &mut dyn Random) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let delay = policy.backoff.delay_ms(self.consecutive_failures, rng);
        self.next_fetch_at_ms = now.unix_ms.saturating_add(delay);
        self.in_flight_until_ms = 0;
    }

    /// Asks for an early fetch (e.g. a token names an unknown `kid`). Granted
    /// — making a fetch due now — at most once per
    /// `min_forced_refetch_interval`, so a flood of unknown kids cannot
    /// hammer the IdP. Refused, and nothing changes, while a fetch is in
    /// flight, while backing off after failures, or when a fetch is already due.
    pub fn request_forced_refetch(&mut self, now: Now, policy: &RefreshPolicy) -> bool {
        let t = now.unix_ms;
        let rate_limited = self
            .last_forced_at_ms
            .is_some_and(|last| t < last.saturating_add(policy.min_forced_refetch_interval_ms));
        let backing_off = self.consecutive_failures > 0 && t < self.next_fetch_at_ms;
        if rate_limited || backing_off || self.in_flight(now) || self.due(now) {
            return false;
        }
        self.last_forced_at_ms = Some(t);
        self.next_fetch_at_ms = t;
        true
    }

    /// Compact JSON for proxy shared data.
    pub fn to_json(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|_| SnapshotError::Encode)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, SnapshotError> {
        read_untrusted(bytes).map_err(|_| SnapshotError::Decode)
    }
}

/// A shared-data snapshot could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Serializing failed (not expected for these plain types).
    #[error("could not encode the snapshot")]
    Encode,
    /// The stored bytes are not a snapshot (corrupt, or another version's format).
    #[error("could not decode the snapshot")]
    Decode,
}

impl SnapshotError {
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Encode => "snapshot_encode_failed",
            Self::Decode => "snapshot_decode_failed",
        }
    }
}
