//! A fetch lease in proxy shared data, so that exactly one of the N+1 VMs
//! (every worker's and the main thread's, each with its own `on_tick`)
//! fetches a shared resource.
//!
//! Protocol for the host: read the lease with its CAS token, call
//! [`claim_fetch`], and if it returns a lease write it with that CAS token.
//! Only a successful write means "you fetch"; a CAS mismatch means another
//! VM won the race. A lease expires by itself, so a VM that dies mid-fetch
//! cannot block the others for longer than `lease_ms`.

use crate::json::{from_json, read_untrusted};
use serde::Serialize;

use super::schedule::SnapshotError;
use crate::env::Now;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// A per-VM random id (root context ids repeat across VMs).
    pub owner: String,
    pub until_ms: u64,
}

from_json!(
    #[ignore_unknown]
    Lease { owner, until_ms }
);

impl Lease {
    pub fn is_held_by(&self, owner: &str, now: Now) -> bool {
        self.owner == owner && now.unix_ms < self.until_ms
    }

    pub fn is_expired(&self, now: Now) -> bool {
        now.unix_ms >= self.until_ms
    }

    /// The lease to write when done early; shared data has no delete, so
    /// release means "expired now". `None` when it is not ours.
    pub fn released_by(&self, owner: &str) -> Option<Lease> {
        (self.owner == owner).then(|| Lease {
            owner: self.owner.clone(),
            until_ms: 0,
        })
    }

    pub fn to_json(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|_| SnapshotError::Encode)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, SnapshotError> {
        read_untrusted(bytes).map_err(|_| SnapshotError::Decode)
    }
}

/// Decides whether `owner` may take the fetch lease: yes when there is none,
/// it expired, or it is already ours (renewal). Returns the lease to write
/// (with CAS); `None` while another VM holds it.
pub fn claim_fetch(stored: Option<&Lease>, now: Now, owner: &str, lease_ms: u64) -> Option<Lease> {
    let free = match stored {
        None => true,
        Some(lease) => lease.is_expired(now) || lease.owner == owner,
    };
    free.then(|| Lease {
        owner: owner.to_string(),
        until_ms: now.unix_ms.saturating_add(lease_ms),
    })
}
