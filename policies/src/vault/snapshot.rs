//! What the host stores in proxy shared data so every worker VM serves the
//! same secret and only one VM (the owner) talks to Vault.
//!
//! The serialized form contains secret values in clear: the host keeps it in
//! proxy memory only (shared data), never in logs, files or metrics.
//! `Debug` stays redacted.

use super::error::VaultError;
use super::secret_state::Loaded;
use super::value::SecretValue;
use crate::config::ConfigError;
use crate::env::Now;
use crate::json::{from_json, read_untrusted, FromJson, Node};
use crate::secret::Secret;
use crate::vec_map::VecMap;
use serde::Serialize;

/// One secret as last loaded by the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretSnapshot {
    pub name: String,
    /// KV v2 version; `None` for dynamic secrets.
    pub version: Option<u64>,
    /// KV v2 version's `created_time` (Unix ms), so a VM that takes over as
    /// owner still orders a re-created secret after the purged one.
    pub created_ms: Option<u64>,
    pub fetched_at_ms: u64,
    /// The value must not be served at or after this instant.
    pub expires_at_ms: Option<u64>,
    #[serde(serialize_with = "exposed::serialize")]
    pub values: SecretValue,
}

impl FromJson for SecretSnapshot {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        let object = node.object_ignoring_unknown()?;
        let values: VecMap<String, Secret> = object.required("values")?;
        Ok(Self {
            name: object.required("name")?,
            version: object.optional("version")?,
            // Absent in records of older builds.
            created_ms: object.optional("created_ms")?,
            fetched_at_ms: object.required("fetched_at_ms")?,
            expires_at_ms: object.optional("expires_at_ms")?,
            values: SecretValue::new(values),
        })
    }
}

impl SecretSnapshot {
    /// Whether this snapshot should replace `held`: a later fetch, or the
    /// same fetch whose expiry moved later (renewed lease or token).
    pub(crate) fn supersedes(&self, held: &Loaded) -> bool {
        let held_fetched = held.fetched_at.unix_ms;
        if self.fetched_at_ms != held_fetched {
            return self.fetched_at_ms > held_fetched;
        }
        match (self.expires_at_ms, held.expiry()) {
            (Some(new), Some(old)) => new > old.unix_ms,
            // Same fetch, but the expiry went away: not a renewal we can order.
            _ => false,
        }
    }
}

/// Which VM may call Vault, until when. Claimed with a CAS write; a VM that
/// stops refreshing it (crashed, reloaded) loses it after `until_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerLease {
    pub owner: String,
    pub until_ms: u64,
}

from_json!(
    #[ignore_unknown]
    OwnerLease { owner, until_ms }
);

impl OwnerLease {
    /// `me` may fetch when it owns the lease or the lease has lapsed.
    pub fn may_fetch(&self, me: &str, now: Now) -> bool {
        self.owner == me || now.unix_ms >= self.until_ms
    }

    /// The lease `me` writes (CAS) to claim or extend ownership for `ttl_ms`.
    pub fn claim(me: &str, now: Now, ttl_ms: u64) -> Self {
        Self {
            owner: me.to_string(),
            until_ms: now.unix_ms.saturating_add(ttl_ms),
        }
    }
}

/// Why the owner cannot serve a secret right now (the reason code of its
/// last failed call), so that every VM's 503 names the same cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretFailure {
    pub name: String,
    pub last_error: String,
}

from_json!(
    #[ignore_unknown]
    SecretFailure { name, last_error }
);

/// The whole shared-data record: owner plus every loaded secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SharedState {
    pub owner: Option<OwnerLease>,
    pub secrets: Vec<SecretSnapshot>,
    /// Secrets the owner's last calls failed for (absent in older records).
    pub failures: Vec<SecretFailure>,
}

from_json!(
    #[ignore_unknown]
    SharedState {
        owner: optional,
        secrets,
        failures: default,
    }
);

impl SharedState {
    pub fn to_bytes(&self) -> Result<Vec<u8>, VaultError> {
        serde_json::to_vec(self)
            .map_err(|_| VaultError::Malformed("cannot serialize shared state".into()))
    }

    /// Parses shared data written by another VM (same plugin build).
    pub fn from_bytes(raw: &[u8]) -> Result<Self, VaultError> {
        read_untrusted(raw).map_err(|_| VaultError::Malformed("unreadable shared state".into()))
    }
}

/// Serializes field values in clear; only used for the shared-data record.
mod exposed {
    use super::*;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &SecretValue, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(v.fields().map(|(k, v)| (k, v.expose())))
    }
}
