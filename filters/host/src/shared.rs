//! Process-wide shared data (all VMs of one vm_id see the same entries).
//!
//! Used for two things: a value every worker reads (key sets, secrets) and a
//! lease that lets exactly one VM run a background fetch, since `on_tick`
//! runs in every VM.

use crate::raw::{self, HostStatus};

/// An entry as read: its bytes and the CAS token to write it back.
#[derive(Debug)]
pub struct Versioned {
    pub bytes: Option<Vec<u8>>,
    pub cas: u32,
}

pub fn read(key: &str) -> Result<Versioned, HostStatus> {
    raw::get_shared_data(key).map(|(bytes, cas)| Versioned { bytes, cas })
}

/// Writes unconditionally.
pub fn write(key: &str, value: &[u8]) -> Result<(), HostStatus> {
    raw::set_shared_data(key, value, 0)
}

/// Writes only if nobody wrote since `cas` was read.
pub fn write_if_unchanged(key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus> {
    raw::set_shared_data(key, value, cas)
}

/// Creates `key` unless it exists; `CasMismatch` when another VM created it
/// first. Envoy checks a non-zero CAS only against an existing entry (an
/// absent key is created whatever the CAS), so a CAS no entry carries turns
/// the write into an atomic create-if-absent. Envoy numbers writes from 1 per
/// process: reaching this value would take 4 billion writes.
pub fn create_if_absent(key: &str, value: &[u8]) -> Result<(), HostStatus> {
    raw::set_shared_data(key, value, CAS_NO_ENTRY_HAS)
}

const CAS_NO_ENTRY_HAS: u32 = u32::MAX;

/// Tries to take a time-bounded lease on `key` for `owner`: succeeds when the
/// lease is free, expired, or already ours. Every claim is atomic: the first
/// one creates the entry only if absent, later ones are compare-and-swaps, so
/// exactly one VM wins, even when several start in the same instant.
pub fn try_acquire_lease(key: &str, owner: u64, now_ms: u64, lease_ms: u64) -> bool {
    let Ok(entry) = read(key) else {
        return false;
    };
    let claim = encode_lease(owner, now_ms.saturating_add(lease_ms));
    if entry.bytes.is_none() {
        return create_if_absent(key, &claim).is_ok();
    }
    if let Some((holder, until)) = entry.bytes.as_deref().and_then(decode_lease) {
        if holder != owner && until > now_ms {
            return false;
        }
    }
    write_if_unchanged(key, &claim, entry.cas).is_ok()
}

/// Gives the lease up early (after a fetch finished) so the next one is not delayed.
pub fn release_lease(key: &str, owner: u64) {
    if let Ok(entry) = read(key) {
        if let Some((holder, _)) = entry.bytes.as_deref().and_then(decode_lease) {
            if holder == owner {
                let _ = write_if_unchanged(key, &encode_lease(owner, 0), entry.cas);
            }
        }
    }
}

fn encode_lease(owner: u64, until_ms: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&owner.to_le_bytes());
    v.extend_from_slice(&until_ms.to_le_bytes());
    v
}

fn decode_lease(bytes: &[u8]) -> Option<(u64, u64)> {
    let owner = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let until = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((owner, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_encoding_round_trips_and_rejects_short_input() {
        assert_eq!(decode_lease(&encode_lease(7, 99)), Some((7, 99)));
        assert_eq!(decode_lease(&[1, 2, 3]), None);
    }
}
