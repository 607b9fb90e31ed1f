//! One configured secret: fetch at start, renew dynamic leases at ~2/3 of
//! their TTL, fetch a replacement before a lease that cannot be renewed
//! expires, re-read KV v2 periodically. The current value serves until its
//! own expiry and never past it.

use super::error::{Unavailable, UnavailableReason, VaultError};
use super::response::{DynamicSecret, Kv2Secret, Renewal};
use super::retry::retry_delay_ms;
use super::value::SecretValue;
use super::{before_expiry, jittered, RENEW_FRACTION, REPLACE_FRACTION, RETRY_BACKOFF};
use crate::backoff::Backoff;
use crate::env::{Now, Random};

/// KV re-reads land in [0.9, 1.0] of the interval so proxies spread out.
const REFRESH_FRACTION: (f64, f64) = (0.9, 1.0);
/// A replaced lease is revoked this long after its replacement arrived (or
/// a third of the way to its end if sooner), so the other VMs (which adopt on their next
/// tick) and requests already sent with the old credential are done with it.
pub const REVOKE_GRACE_MS: u64 = 5_000;
/// At most this many replaced leases wait for revocation (bounded memory);
/// older ones are left to expire on their own.
const MAX_RETIRED: usize = 8;

/// What a secret needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretAction {
    Fetch,
    Renew,
}

/// A fetched secret as answered by Vault.
#[derive(Clone, Debug)]
pub enum Fetched {
    Kv2(Kv2Secret),
    Dynamic(DynamicSecret),
}

#[derive(Clone, Debug)]
pub(crate) struct Lease {
    pub(crate) id: String,
    /// TTL requested on renewal (the original lease duration), seconds.
    pub(crate) increment_s: u64,
    pub(crate) expires_at: Now,
    pub(crate) renew_at: Option<Now>,
    pub(crate) replace_at: Option<Now>,
    /// A newer token exists: this lease dies with its (old) token.
    pub(crate) orphaned: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub(crate) value: SecretValue,
    pub(crate) version: Option<u64>,
    /// KV v2: when this version was written (Vault's `created_time`), Unix ms.
    pub(crate) created_ms: Option<u64>,
    pub(crate) fetched_at: Now,
    pub(crate) lease: Option<Lease>,
    /// Hard expiry when the lease is unknown (adopted snapshot).
    pub(crate) expires_at: Option<Now>,
    /// Re-read point for values without a lease (KV v2).
    pub(crate) refresh_at: Option<Now>,
    /// The token generation that created the lease, and that token's expiry:
    /// Vault revokes the lease when its token expires.
    pub(crate) token_generation: u64,
    pub(crate) token_deadline: Option<Now>,
}

impl Loaded {
    /// Earliest of lease expiry, snapshot expiry and creating-token expiry.
    pub(crate) fn expiry(&self) -> Option<Now> {
        [
            self.lease.as_ref().map(|l| l.expires_at),
            self.expires_at,
            self.token_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the KV version held is newer than a read of `version`
    /// written at `created_ms`: ordered by (created_time, version), so a
    /// secret re-created after `kv metadata delete` (versions restart at 1,
    /// written later) replaces the purged one, while a lagging standby's
    /// older version (written earlier, whatever its number) does not. When
    /// either creation time is unknown, the version alone decides.
    pub(crate) fn is_newer_than(&self, created_ms: Option<u64>, version: u64) -> bool {
        let Some(held) = self.version else {
            return false;
        };
        match (self.created_ms, created_ms) {
            (Some(held_created), Some(created)) => (held_created, held) > (created, version),
            _ => held > version,
        }
    }
}

/// A replaced lease waiting to be revoked (best effort).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Retired {
    pub(crate) lease_id: String,
    pub(crate) revoke_at: Now,
    /// Vault drops it by itself then: no call needed.
    pub(crate) expires_at: Now,
}

/// Lifecycle of one secret.
#[derive(Clone, Debug)]
pub struct SecretState {
    refresh_ms: u64,
    pub(crate) loaded: Option<Loaded>,
    /// Replaced leases, oldest first.
    retired: Vec<Retired>,
    /// The lease whose revocation is in flight.
    revoking: Option<String>,
    failures: u32,
    retry_at: Now,
    last_error: Option<&'static str>,
    backoff: Backoff,
    /// The token generation whose refusal (403) of this secret asked for a
    /// new login; cleared by the secret's next success. Refused again with a
    /// newer token, the policy is the problem: no further login for it.
    relogin_asked_with: Option<u64>,
}

impl SecretState {
    /// `refresh_ms`: how often values without a lease are re-read.
    pub fn new(refresh_ms: u64) -> Self {
        Self {
            refresh_ms,
            loaded: None,
            retired: Vec::new(),
            revoking: None,
            failures: 0,
            retry_at: Now::from_unix_ms(0),
            last_error: None,
            backoff: RETRY_BACKOFF,
            relogin_asked_with: None,
        }
    }

    /// Uses `backoff` for failed calls instead of [`RETRY_BACKOFF`].
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Vault refused this secret's call made with the current token, of
    /// `generation` (403): whether to log in again. Once per streak of
    /// refusals: if a token obtained after this secret's refusal is refused
    /// too, the policy is the problem and another login would not help; the
    /// secret only backs off until it succeeds again. Per secret, so one
    /// secret without a policy does not keep the others from logging in
    /// again when the token is revoked.
    pub fn wants_relogin(&mut self, generation: u64) -> bool {
        match self.relogin_asked_with {
            Some(asked) if asked < generation => false,
            _ => {
                self.relogin_asked_with = Some(generation);
                true
            }
        }
    }

    /// The value to use at `now`, or why there is none (fail closed).
    pub fn current(&self, now: Now) -> Result<&SecretValue, Unavailable> {
        match &self.loaded {
            Some(l) if l.expiry().is_none_or(|e| now < e) => Ok(&l.value),
            Some(_) => Err(Unavailable {
                reason: UnavailableReason::Expired,
                last_error: self.last_error,
            }),
            None if self.failures > 0 => Err(Unavailable {
                reason: UnavailableReason::VaultUnavailable,
                last_error: self.last_error,
            }),
            None => Err(Unavailable {
                reason: UnavailableReason::NotLoaded,
                last_error: None,
            }),
        }
    }

    /// Seconds until the current value expires (negative once expired);
    /// `None` when nothing is loaded or the value has no expiry.
    pub fn expires_in_s(&self, now: Now) -> Option<i64> {
        let e = self.loaded.as_ref()?.expiry()?;
        Some((e.unix_ms as i64).saturating_sub(now.unix_ms as i64) / 1000)
    }

    pub fn version(&self) -> Option<u64> {
        self.loaded.as_ref().and_then(|l| l.version)
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn last_error(&self) -> Option<&'static str> {
        self.last_error
    }

    /// The lease id and renewal increment, when a lease is held.
    pub fn lease(&self) -> Option<(&str, u64)> {
        let l = self.loaded.as_ref()?.lease.as_ref()?;
        Some((l.id.as_str(), l.increment_s))
    }

    /// The next call due at `now`, if any (nothing during backoff).
    pub fn due(&self, now: Now) -> Option<SecretAction> {
        if now < self.retry_at {
            return None;
        }
        let Some(l) = &self.loaded else {
            return Some(SecretAction::Fetch);
        };
        if l.expiry().is_some_and(|e| now >= e) {
            return Some(SecretAction::Fetch);
        }
        if let Some(lease) = &l.lease {
            if lease.replace_at.is_some_and(|t| now >= t) {
                return Some(SecretAction::Fetch);
            }
            if lease.renew_at.is_some_and(|t| now >= t) {
                return Some(SecretAction::Renew);
            }
        }
        l.refresh_at
            .is_some_and(|t| now >= t)
            .then_some(SecretAction::Fetch)
    }

    /// A fetch succeeded. KV: only a version at least as new replaces the
    /// current value (a lagging standby must not roll it back); see
    /// [`Loaded::is_newer_than`] for what "new" means.
    pub fn on_fetched(
        &mut self,
        fetched: Fetched,
        token: (u64, Option<Now>),
        started: Now,
        now: Now,
        rng: &mut dyn Random,
    ) {
        self.failures = 0;
        self.retry_at = now;
        self.last_error = None;
        self.relogin_asked_with = None;
        let refresh_at = Some(now.plus_ms(jittered(self.refresh_ms, REFRESH_FRACTION, rng)));
        let loaded = match fetched {
            Fetched::Kv2(kv) => {
                if let Some(cur) = self
                    .loaded
                    .as_mut()
                    .filter(|c| c.is_newer_than(kv.created_ms, kv.version))
                {
                    cur.refresh_at = refresh_at;
                    return;
                }
                Loaded {
                    value: kv.value,
                    version: Some(kv.version),
                    created_ms: kv.created_ms,
                    fetched_at: now,
                    lease: None,
                    expires_at: None,
                    refresh_at,
                    token_generation: token.0,
                    token_deadline: None,
                }
            }
            Fetched::Dynamic(d) => {
                let lease = match d.lease_id {
                    Some(id) if d.lease_duration_s > 0 => {
                        let ttl_ms = d.lease_duration_s.saturating_mul(1000);
                        let (renew_at, replace_at) = if d.renewable {
                            (
                                Some(started.plus_ms(before_expiry(ttl_ms, RENEW_FRACTION, rng))),
                                None,
                            )
                        } else {
                            (
                                None,
                                Some(started.plus_ms(before_expiry(ttl_ms, REPLACE_FRACTION, rng))),
                            )
                        };
                        Some(Lease {
                            id,
                            increment_s: d.lease_duration_s,
                            expires_at: started.plus_ms(ttl_ms),
                            renew_at,
                            replace_at,
                            orphaned: false,
                        })
                    }
                    _ => None,
                };
                let bound = lease.is_some();
                // A value with its own validity (an identity token) and no
                // lease: re-fetched like a renewal, served until it ends.
                let (expires_at, refresh_at) = match d.valid_for_s.filter(|_| !bound) {
                    Some(ttl_s) => {
                        let ttl_ms = ttl_s.saturating_mul(1000);
                        (
                            Some(started.plus_ms(ttl_ms)),
                            Some(started.plus_ms(before_expiry(ttl_ms, RENEW_FRACTION, rng))),
                        )
                    }
                    None => (None, if bound { None } else { refresh_at }),
                };
                Loaded {
                    value: d.value,
                    version: None,
                    created_ms: None,
                    fetched_at: now,
                    refresh_at,
                    lease,
                    expires_at,
                    token_generation: token.0,
                    token_deadline: if bound { token.1 } else { None },
                }
            }
        };
        let replaced = self
            .loaded
            .replace(loaded)
            .and_then(|old| old.lease.map(|l| (l, old.token_deadline)));
        if let Some((old, deadline)) = replaced {
            self.retire(old, deadline, now);
        }
    }

    /// Queues a replaced lease for revocation unless it is the same lease or
    /// already dead.
    fn retire(&mut self, old: Lease, token_deadline: Option<Now>, now: Now) {
        let current = self
            .loaded
            .as_ref()
            .and_then(|l| l.lease.as_ref())
            .map(|l| l.id.as_str());
        let expires_at = token_deadline.map_or(old.expires_at, |d| d.min(old.expires_at));
        if current == Some(old.id.as_str()) || expires_at <= now {
            return;
        }
        self.retired.retain(|r| r.expires_at > now);
        if self.retired.len() >= MAX_RETIRED {
            return;
        }
        self.retired.push(Retired {
            lease_id: old.id,
            // Short leases: a third of the way to their end, so the call still
            // goes out on one of the next ticks before the lease is gone anyway.
            revoke_at: now
                .plus_ms(REVOKE_GRACE_MS.min(expires_at.unix_ms.saturating_sub(now.unix_ms) / 3)),
            expires_at,
        });
    }

    /// Starts revoking the oldest replaced lease that is due: returns true
    /// when one is now in flight (read it with [`Self::revoking`]).
    pub fn start_revocation(&mut self, now: Now) -> bool {
        if self.revoking.is_some() {
            return false;
        }
        self.retired.retain(|r| r.expires_at > now);
        let Some(pos) = self.retired.iter().position(|r| r.revoke_at <= now) else {
            return false;
        };
        self.revoking = Some(self.retired.remove(pos).lease_id);
        true
    }

    /// The lease id being revoked, if any.
    pub fn revoking(&self) -> Option<&str> {
        self.revoking.as_deref()
    }

    /// The revocation finished (answered or failed): it is not retried.
    pub fn end_revocation(&mut self) {
        self.revoking = None;
    }

    /// Replaced leases still waiting for revocation.
    pub fn pending_revocations(&self) -> usize {
        self.retired.len()
    }

    /// A lease renewal succeeded. Truncated or no longer renewable, or the
    /// lease belongs to a replaced token (orphaned: the renewal extends the
    /// lease, not that token): schedule a replacement at 80-90 % of what is
    /// left.
    pub fn on_renewed(&mut self, r: Renewal, started: Now, now: Now, rng: &mut dyn Random) {
        self.failures = 0;
        self.retry_at = now;
        self.last_error = None;
        self.relogin_asked_with = None;
        let Some(l) = self.loaded.as_mut() else {
            return;
        };
        let deadline = l.token_deadline;
        let Some(lease) = l.lease.as_mut() else {
            return;
        };
        let ttl_ms = r.lease_duration_s.saturating_mul(1000);
        lease.expires_at = started.plus_ms(ttl_ms);
        if r.renewable && !r.truncated && !lease.orphaned {
            lease.renew_at = Some(started.plus_ms(before_expiry(ttl_ms, RENEW_FRACTION, rng)));
            lease.replace_at = None;
        } else {
            let end = deadline.map_or(lease.expires_at, |d| d.min(lease.expires_at));
            stop_renewing(lease, end, now, rng);
        }
    }

    /// A fetch or renewal failed: back off; a failed renewal switches to
    /// fetching a replacement while the old value keeps serving.
    pub fn on_failed(
        &mut self,
        action: SecretAction,
        err: &VaultError,
        now: Now,
        rng: &mut dyn Random,
    ) {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = now.plus_ms(retry_delay_ms(&self.backoff, self.failures, err, rng));
        self.last_error = Some(err.reason());
        if action == SecretAction::Renew {
            if let Some(l) = self.loaded.as_mut() {
                let end = l.expiry();
                if let (Some(lease), Some(end)) = (l.lease.as_mut(), end) {
                    stop_renewing(lease, end, now, rng);
                    // The lease is gone (400 lease not found, 404): replace at once.
                    if matches!(err, VaultError::BadRequest(_) | VaultError::NotFound) {
                        lease.replace_at = Some(now);
                    }
                }
            }
        }
    }

    /// Ends a backoff early (the failure count stays, so a new failure
    /// backs off further).
    pub fn retry_now(&mut self, now: Now) {
        self.retry_at = self.retry_at.min(now);
    }

    /// Keeps the lease's token deadline in step with the token: the current
    /// generation's renewals extend it; once a newer token exists the lease
    /// dies with the old one, so a replacement is scheduled before then.
    pub fn sync_token(
        &mut self,
        generation: u64,
        token_expires: Option<Now>,
        now: Now,
        rng: &mut dyn Random,
    ) {
        let Some(l) = self.loaded.as_mut() else {
            return;
        };
        let Some(lease) = l.lease.as_mut() else {
            return;
        };
        if l.token_generation == generation {
            l.token_deadline = token_expires;
        } else if !lease.orphaned {
            lease.orphaned = true;
            let end = l
                .token_deadline
                .map_or(lease.expires_at, |d| d.min(lease.expires_at));
            stop_renewing(lease, end, now, rng);
        }
    }
}

fn stop_renewing(lease: &mut Lease, end: Now, now: Now, rng: &mut dyn Random) {
    lease.renew_at = None;
    let remaining = end.unix_ms.saturating_sub(now.unix_ms);
    let at = now.plus_ms(before_expiry(remaining, REPLACE_FRACTION, rng));
    lease.replace_at = Some(lease.replace_at.map_or(at, |t| t.min(at)));
}

#[cfg(test)]
mod tests;
