//! A pure state machine for a resource fetched in the background and
//! shared across proxy worker VMs (JWKS, OAuth2 tokens).
//!
//! `Empty` → (success) → `Fresh` → (refresh_interval) → `Stale`, still
//! served → (max_staleness) → `Expired`, not served. Fetches are due at
//! once when empty, then every `refresh_interval`, after failures at the
//! backoff time. Forced refetches (unknown `kid`) are rate-limited. The
//! [`Schedule`] and [`Lease`] are serde data for proxy shared data; the
//! host wires them to CAS reads/writes.

mod config;
mod lease;
mod refresher;
mod schedule;

pub use config::{RefreshConfig, RefreshPolicy};
pub use lease::{claim_fetch, Lease};
pub use refresher::{Current, RefreshState, Refresher, Unavailable};
pub use schedule::{Phase, Schedule, SnapshotError};

#[cfg(test)]
mod tests;
