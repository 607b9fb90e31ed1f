//! The plugin's own Vault token: login, renew-self at ~2/3 of the TTL,
//! log in again when renewal stops helping. The old token keeps serving until
//! the new one arrives or it expires.

use super::error::VaultError;
use super::response::{AuthInfo, Renewal, TokenInfo};
use super::retry::retry_delay_ms;
use super::{before_expiry, RENEW_FRACTION, REPLACE_FRACTION, RETRY_BACKOFF};
use crate::backoff::Backoff;
use crate::env::{Now, Random};
use crate::secret::Secret;

/// What the token needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAction {
    Login,
    Renew,
    Lookup,
}

#[derive(Clone, Debug)]
struct LiveToken {
    token: Secret,
    /// `None`: never expires (root/periodic without TTL).
    expires_at: Option<Now>,
    /// The TTL asked for on renewal (the login TTL), seconds.
    ttl_s: u64,
    renew_at: Option<Now>,
    relogin_at: Option<Now>,
    lookup_at: Option<Now>,
    renew_failures: u32,
}

/// Token lifecycle. `generation` increases with every new token, so secrets
/// can tell whether their lease belongs to the current token.
#[derive(Clone, Debug)]
pub struct TokenState {
    live: Option<LiveToken>,
    can_login: bool,
    next_login_at: Now,
    login_failures: u32,
    generation: u64,
    last_error: Option<&'static str>,
    backoff: Backoff,
}

impl TokenState {
    /// A state that obtains its token by logging in.
    pub fn for_login() -> Self {
        Self {
            live: None,
            can_login: true,
            next_login_at: Now::from_unix_ms(0),
            login_failures: 0,
            generation: 0,
            last_error: None,
            backoff: RETRY_BACKOFF,
        }
    }

    /// Uses `backoff` for failed calls instead of [`RETRY_BACKOFF`].
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A fixed token (dev): usable at once, looked up to learn its TTL.
    pub fn with_static_token(token: Secret) -> Self {
        let live = LiveToken {
            token,
            expires_at: None,
            ttl_s: 0,
            renew_at: None,
            relogin_at: None,
            lookup_at: Some(Now::from_unix_ms(0)),
            renew_failures: 0,
        };
        Self {
            live: Some(live),
            can_login: false,
            generation: 1,
            ..Self::for_login()
        }
    }

    /// The token to send, if one is valid at `now`.
    pub fn token(&self, now: Now) -> Option<&Secret> {
        self.live
            .as_ref()
            .filter(|l| l.expires_at.is_none_or(|e| now < e))
            .map(|l| &l.token)
    }

    pub fn expires_at(&self) -> Option<Now> {
        self.live.as_ref().and_then(|l| l.expires_at)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The TTL to request on renew-self, seconds.
    pub fn renew_increment_s(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.ttl_s)
    }

    /// Reason code of the last failure, cleared by the next success.
    pub fn last_error(&self) -> Option<&'static str> {
        self.last_error
    }

    /// The next call due at `now`, if any.
    pub fn due(&self, now: Now) -> Option<TokenAction> {
        let login_allowed = self.can_login && now >= self.next_login_at;
        let Some(live) = self.live.as_ref().filter(|_| self.token(now).is_some()) else {
            return login_allowed.then_some(TokenAction::Login);
        };
        if live.relogin_at.is_some_and(|t| now >= t) && login_allowed {
            return Some(TokenAction::Login);
        }
        if live.renew_at.is_some_and(|t| now >= t) {
            return Some(TokenAction::Renew);
        }
        if live.lookup_at.is_some_and(|t| now >= t) {
            return Some(TokenAction::Lookup);
        }
        None
    }

    /// A login succeeded; `started` is when it was sent (the TTL counts from there).
    pub fn on_login(&mut self, auth: AuthInfo, started: Now, now: Now, rng: &mut dyn Random) {
        let mut live = LiveToken {
            token: auth.client_token,
            expires_at: None,
            ttl_s: auth.lease_duration_s,
            renew_at: None,
            relogin_at: None,
            lookup_at: None,
            renew_failures: 0,
        };
        schedule(
            &mut live,
            auth.lease_duration_s,
            auth.renewable,
            false,
            started,
            now,
            rng,
        );
        self.live = Some(live);
        self.generation = self.generation.wrapping_add(1);
        self.login_failures = 0;
        self.last_error = None;
    }

    /// A login (or the unwrap before it) failed: back off, keep any old token.
    pub fn on_login_failed(&mut self, err: &VaultError, now: Now, rng: &mut dyn Random) {
        self.login_failures = self.login_failures.saturating_add(1);
        self.next_login_at =
            now.plus_ms(retry_delay_ms(&self.backoff, self.login_failures, err, rng));
        self.last_error = Some(err.reason());
    }

    /// renew-self succeeded.
    pub fn on_renewed(&mut self, r: Renewal, started: Now, now: Now, rng: &mut dyn Random) {
        if let Some(live) = self.live.as_mut() {
            live.renew_failures = 0;
            schedule(
                live,
                r.lease_duration_s,
                r.renewable,
                r.truncated,
                started,
                now,
                rng,
            );
        }
        self.last_error = None;
    }

    /// renew-self failed: a 403 kills the token (log in now); otherwise retry
    /// with backoff, and log in instead when retries would run past ~90 % of the TTL.
    pub fn on_renew_failed(&mut self, err: &VaultError, now: Now, rng: &mut dyn Random) {
        self.last_error = Some(err.reason());
        if err.needs_relogin() {
            self.invalidate(now);
            return;
        }
        let can_login = self.can_login;
        let backoff = self.backoff;
        if let Some(live) = self.live.as_mut() {
            live.renew_failures = live.renew_failures.saturating_add(1);
            let retry = now.plus_ms(retry_delay_ms(&backoff, live.renew_failures, err, rng));
            let margin = live.ttl_s.saturating_mul(100).max(1_000);
            let too_late = live.expires_at.is_some_and(|e| retry.plus_ms(margin) >= e);
            if too_late && can_login {
                live.renew_at = None;
                live.relogin_at = Some(now);
            } else {
                live.renew_at = Some(retry);
            }
        }
    }

    /// lookup-self answered (static tokens): learn expiry and renewability.
    pub fn on_lookup(&mut self, info: TokenInfo, started: Now, now: Now, rng: &mut dyn Random) {
        if let Some(live) = self.live.as_mut() {
            live.lookup_at = None;
            live.ttl_s = info.ttl_s;
            schedule(live, info.ttl_s, info.renewable, false, started, now, rng);
        }
        self.last_error = None;
    }

    pub fn on_lookup_failed(&mut self, err: &VaultError, now: Now, rng: &mut dyn Random) {
        self.last_error = Some(err.reason());
        if err.needs_relogin() {
            self.invalidate(now);
            return;
        }
        self.login_failures = self.login_failures.saturating_add(1);
        let retry = now.plus_ms(retry_delay_ms(&self.backoff, self.login_failures, err, rng));
        if let Some(live) = self.live.as_mut() {
            live.lookup_at = Some(retry);
        }
    }

    /// A call with this token was denied: log in again soon, keeping the
    /// token until the new one arrives.
    pub fn request_relogin(&mut self, now: Now) {
        if let Some(live) = self.live.as_mut().filter(|_| self.can_login) {
            live.relogin_at = Some(live.relogin_at.map_or(now, |t| t.min(now)));
        }
    }

    /// Vault rejected the token (403): drop it and log in as soon as allowed.
    pub fn invalidate(&mut self, now: Now) {
        self.live = None;
        if self.can_login {
            self.next_login_at = self.next_login_at.min(now);
        } else {
            self.last_error = Some(VaultError::CannotRelogin.reason());
        }
    }
}

/// Sets expiry and the next renew or re-login point after a grant of `ttl_s`.
fn schedule(
    live: &mut LiveToken,
    ttl_s: u64,
    renewable: bool,
    truncated: bool,
    started: Now,
    now: Now,
    rng: &mut dyn Random,
) {
    live.renew_at = None;
    live.relogin_at = None;
    if ttl_s == 0 {
        live.expires_at = None;
        return;
    }
    let ttl_ms = ttl_s.saturating_mul(1000);
    let expires = started.plus_ms(ttl_ms);
    live.expires_at = Some(expires);
    if renewable && !truncated {
        live.renew_at = Some(started.plus_ms(before_expiry(ttl_ms, RENEW_FRACTION, rng)));
    } else {
        // Renewal cannot extend it further: a fresh login before it expires.
        let remaining = expires.unix_ms.saturating_sub(now.unix_ms);
        live.relogin_at = Some(now.plus_ms(before_expiry(remaining, REPLACE_FRACTION, rng)));
    }
}

#[cfg(test)]
mod tests;
