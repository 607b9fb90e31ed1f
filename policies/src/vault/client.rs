//! The pure orchestrator: decides which Vault calls are due, builds them,
//! applies their answers, and answers "current value of secret X, or why not".

use super::config::{AuthMethod, SecretKind, VaultConfig};
use super::error::known_reason;
use super::error::{Unavailable, UnavailableReason, VaultError};
use super::request::{Endpoint, VaultRequest};
use super::response::{
    parse_dynamic, parse_empty, parse_identity_token, parse_kv2, parse_lease_renew, parse_login,
    parse_lookup_self, parse_token_renew, parse_unwrap_secret_id, Reply,
};
use super::retry::{parse_retry_after, ServerGate};
use super::secret_state::{Fetched, Loaded, SecretAction, SecretState};
use super::snapshot::{SecretFailure, SecretSnapshot};
use super::token_state::{TokenAction, TokenState};
use super::value::SecretValue;
use super::{before_expiry, REPLACE_FRACTION};
use crate::env::{Now, Random};
use crate::secret::Secret;

/// An in-flight call is considered lost this long after the callout timeout.
const LOST_CALL_GRACE_MS: u64 = 5_000;

/// One Vault call to make. Secrets are referred to by their index in
/// [`VaultConfig::secrets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Unwrap the response-wrapped AppRole secret-id before the first login.
    Unwrap,
    Login,
    RenewToken,
    LookupToken,
    Fetch(usize),
    RenewLease(usize),
    /// Revoke a lease that was replaced (best effort, never retried).
    RevokeLease(usize),
}

/// A call sent and not yet answered.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    action: Action,
    sent_at: Now,
    /// Generation and expiry of the token the call carried. Its answer
    /// belongs to that token even when a login replaced it meanwhile:
    /// Vault ties a lease to the token that read it.
    token: (u64, Option<Now>),
}

/// Vault client state for one plugin instance (the owner VM drives it).
#[derive(Clone, Debug)]
pub struct VaultClient {
    config: VaultConfig,
    endpoint: Endpoint,
    token: TokenState,
    /// The unwrapped AppRole secret-id, kept for later logins.
    unwrapped_secret_id: Option<Secret>,
    secrets: Vec<SecretState>,
    in_flight: Vec<InFlight>,
    /// Calls sent since the last [`Self::next_actions`] (tick): follow-ups
    /// never repeat one of them.
    sent_since_tick: Vec<Action>,
    gate: ServerGate,
    /// The owner VM's last error per secret (index), adopted from shared
    /// data: names the cause in this VM's 503 when it has none of its own.
    shared_failures: Vec<(usize, &'static str)>,
}

impl VaultClient {
    pub fn new(config: VaultConfig) -> Self {
        let retry = config.retry;
        let token = match &config.auth {
            Some(AuthMethod::Token { token }) => TokenState::with_static_token(token.clone()),
            _ => TokenState::for_login(),
        }
        .with_backoff(config.retry);
        let secrets = config
            .secrets
            .iter()
            .map(|_| SecretState::new(config.kv_refresh_interval_ms).with_backoff(config.retry))
            .collect();
        Self {
            endpoint: Endpoint::new(&config.connection),
            config,
            token,
            unwrapped_secret_id: None,
            secrets,
            in_flight: Vec::new(),
            sent_since_tick: Vec::new(),
            gate: ServerGate::new(retry),
            shared_failures: Vec::new(),
        }
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    pub fn token_state(&self) -> &TokenState {
        &self.token
    }

    /// The client-wide backoff after server faults (sealed, 429, down, slow).
    pub fn server_gate(&self) -> &ServerGate {
        &self.gate
    }

    /// Request builders for this connection (e.g. per-user logins).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The login call for a request's verified user JWT (`per_user_jwt`);
    /// `None` when not configured. Cache the answer in a [`super::UserTokenCache`].
    pub fn per_user_login(&self, user_jwt: &Secret) -> Option<VaultRequest> {
        let p = self.config.per_user_jwt.as_ref()?;
        Some(
            self.endpoint
                .jwt_login(&p.mount, p.role.as_deref(), user_jwt),
        )
    }

    /// Calls due at `now`, on the host's tick. Each returned action is marked
    /// in flight until [`Self::on_response`] or [`Self::on_dispatch_failed`]
    /// is called for it; calls unanswered past the timeout are failed here as
    /// timeouts.
    pub fn next_actions(&mut self, now: Now, rng: &mut dyn Random) -> Vec<Action> {
        self.sent_since_tick.clear();
        self.due_actions(now, rng)
    }

    /// Calls a successful answer just made due (a login makes the reads due),
    /// to send at once instead of on the next tick. A call already sent since
    /// the last tick waits for the next one: an answer that makes its own call
    /// due again (a lease shorter than the renewal margin, a replacement that
    /// comes back as short) then repeats once per tick, never in a tight loop.
    pub fn follow_up_actions(&mut self, now: Now, rng: &mut dyn Random) -> Vec<Action> {
        self.due_actions(now, rng)
    }

    fn due_actions(&mut self, now: Now, rng: &mut dyn Random) -> Vec<Action> {
        let lost_after = self
            .config
            .connection
            .timeout_ms
            .saturating_add(LOST_CALL_GRACE_MS);
        let lost: Vec<Action> = self
            .in_flight
            .iter()
            .filter(|f| now.unix_ms.saturating_sub(f.sent_at.unix_ms) > lost_after)
            .map(|f| f.action)
            .collect();
        for action in lost {
            self.on_dispatch_failed(action, &VaultError::Timeout, now, rng);
        }

        // The server is sealed, rate limiting, down or slow: nothing goes
        // out until the backoff (or its Retry-After) has passed.
        if !self.gate.is_open(now) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let token_busy = self.in_flight.iter().any(|f| is_token_action(f.action));
        if !token_busy {
            let action = match self.token.due(now) {
                Some(TokenAction::Login) if self.needs_unwrap() => Some(Action::Unwrap),
                Some(TokenAction::Login) => Some(Action::Login),
                Some(TokenAction::Renew) => Some(Action::RenewToken),
                Some(TokenAction::Lookup) => Some(Action::LookupToken),
                None => None,
            };
            out.extend(action.filter(|a| !self.sent_since_tick.contains(a)));
        }
        // While a (re)login is under way, calls would go out with the token
        // being replaced, which was likely just refused: wait for the new one.
        let logging_in = out
            .iter()
            .chain(self.in_flight.iter().map(|f| &f.action))
            .any(|a| matches!(a, Action::Login | Action::Unwrap));
        if !logging_in && self.token.token(now).is_some() {
            for (i, s) in self.secrets.iter().enumerate() {
                if self
                    .in_flight
                    .iter()
                    .any(|f| secret_index(f.action) == Some(i))
                {
                    continue;
                }
                let action = match s.due(now) {
                    Some(SecretAction::Fetch) => Action::Fetch(i),
                    Some(SecretAction::Renew) => Action::RenewLease(i),
                    None => continue,
                };
                if !self.sent_since_tick.contains(&action) {
                    out.push(action);
                }
            }
            // Revocations are best effort and start state (`revoking`) that a
            // dropped action would leave stuck: none while probing.
            let probing = self.gate.probing();
            for (i, s) in self.secrets.iter_mut().enumerate() {
                let sent = self.sent_since_tick.contains(&Action::RevokeLease(i));
                if !probing && !sent && s.start_revocation(now) {
                    out.push(Action::RevokeLease(i));
                }
            }
        }
        // After a server fault one call probes; the others follow its success.
        if self.gate.probing() {
            out.truncate(1);
            if self
                .in_flight
                .iter()
                .any(|f| !matches!(f.action, Action::RevokeLease(_)))
            {
                out.clear();
            }
        }
        let token = (self.token.generation(), self.token.expires_at());
        self.in_flight.extend(out.iter().map(|&action| InFlight {
            action,
            sent_at: now,
            token,
        }));
        self.sent_since_tick.extend_from_slice(&out);
        out
    }

    /// The HTTP call for `action`; `None` when it cannot be built now (no
    /// valid token, unknown secret): report that with [`Self::on_dispatch_failed`].
    pub fn request_for(&self, action: Action, now: Now) -> Option<VaultRequest> {
        let ep = &self.endpoint;
        match action {
            Action::Unwrap => match self.config.auth.as_ref()? {
                AuthMethod::AppRole { secret_id, .. } => Some(ep.unwrap(secret_id)),
                _ => None,
            },
            // Without `auth` there is nothing to log in with: the login fails
            // (`dispatch_failed`) and no secret is read; hosts only run a
            // client for configurations with `secrets`, which require `auth`.
            Action::Login => match self.config.auth.as_ref()? {
                AuthMethod::Kubernetes { mount, role, jwt } => {
                    Some(ep.kubernetes_login(mount, role, jwt))
                }
                AuthMethod::Jwt { mount, role, jwt } => {
                    Some(ep.jwt_login(mount, role.as_deref(), jwt))
                }
                AuthMethod::AppRole {
                    mount,
                    role_id,
                    secret_id,
                    secret_id_wrapped,
                } => {
                    let sid = if *secret_id_wrapped {
                        self.unwrapped_secret_id.as_ref()?
                    } else {
                        secret_id
                    };
                    Some(ep.approle_login(mount, role_id, sid))
                }
                AuthMethod::Token { .. } => None,
            },
            Action::RenewToken => {
                Some(ep.token_renew_self(self.token.token(now)?, self.token.renew_increment_s()))
            }
            Action::LookupToken => Some(ep.token_lookup_self(self.token.token(now)?)),
            Action::Fetch(i) => {
                let token = self.token.token(now)?;
                Some(match &self.config.secrets.get(i)?.kind {
                    SecretKind::Kv2 {
                        mount,
                        path,
                        version,
                    } => ep.kv2_read(token, mount, path, *version),
                    SecretKind::Dynamic { path } | SecretKind::IdentityToken { path } => {
                        ep.dynamic_read(token, path)
                    }
                })
            }
            Action::RenewLease(i) => {
                let (lease_id, increment) = self.secrets.get(i)?.lease()?;
                Some(ep.lease_renew(self.token.token(now)?, lease_id, increment))
            }
            Action::RevokeLease(i) => {
                let lease_id = self.secrets.get(i)?.revoking()?;
                ep.lease_revoke(self.token.token(now)?, lease_id)
            }
        }
    }

    /// [`Self::on_reply`] for an answer without a `Retry-After` header.
    pub fn on_response(
        &mut self,
        action: Action,
        status: u16,
        body: &[u8],
        now: Now,
        rng: &mut dyn Random,
    ) -> Result<(), VaultError> {
        let reply = Reply {
            status,
            retry_after: None,
            body,
        };
        self.on_reply(action, &reply, now, rng)
    }

    /// Applies Vault's answer (`status` from `:status`, `body` capped by the
    /// host, `Retry-After` honoured on a 429). Returns the classified error
    /// for logging/metrics. Answers for calls no longer in flight (given up
    /// as lost) are ignored.
    pub fn on_reply(
        &mut self,
        action: Action,
        reply: &Reply<'_>,
        now: Now,
        rng: &mut dyn Random,
    ) -> Result<(), VaultError> {
        let Some(sent) = self.take_in_flight(action) else {
            return Ok(());
        };
        let retry_after = reply
            .retry_after
            .and_then(|value| parse_retry_after(value, now));
        let result = self.apply(sent, reply, retry_after, now, rng);
        self.gate.on_outcome(result.as_ref().err(), now, rng);
        result
    }

    /// The answer to the in-flight call `sent`.
    fn apply(
        &mut self,
        sent: InFlight,
        reply: &Reply<'_>,
        retry_after: Option<u64>,
        now: Now,
        rng: &mut dyn Random,
    ) -> Result<(), VaultError> {
        let (action, started) = (sent.action, sent.sent_at);
        let (status, body) = (reply.status, reply.body);
        let tag = |e: VaultError| e.with_retry_after(retry_after);
        match action {
            Action::Unwrap => match parse_unwrap_secret_id(status, body) {
                Ok(sid) => {
                    self.unwrapped_secret_id = Some(sid);
                    Ok(())
                }
                Err(e) => Err(self.fail_token(action, tag(e), now, rng)),
            },
            Action::Login => match parse_login(status, body) {
                Ok(auth) => {
                    self.token.on_login(auth, started, now, rng);
                    // Vault answers again (after an outage, or a 403 that
                    // asked for this login): failed secrets need not wait
                    // out their backoff.
                    for s in &mut self.secrets {
                        s.retry_now(now);
                    }
                    self.sync_secrets_with_token(now, rng);
                    Ok(())
                }
                Err(e) => Err(self.fail_token(action, tag(e), now, rng)),
            },
            Action::RenewToken => {
                match parse_token_renew(status, body, self.token.renew_increment_s()) {
                    Ok(r) => {
                        self.token.on_renewed(r, started, now, rng);
                        self.sync_secrets_with_token(now, rng);
                        Ok(())
                    }
                    Err(e) => Err(self.fail_token(action, tag(e), now, rng)),
                }
            }
            Action::LookupToken => match parse_lookup_self(status, body) {
                Ok(info) => {
                    self.token.on_lookup(info, started, now, rng);
                    self.sync_secrets_with_token(now, rng);
                    Ok(())
                }
                Err(e) => Err(self.fail_token(action, tag(e), now, rng)),
            },
            Action::Fetch(i) => {
                let Some(spec) = self.config.secrets.get(i) else {
                    return Ok(());
                };
                let parsed = match spec.kind {
                    SecretKind::Kv2 { .. } => {
                        parse_kv2(status, body, &spec.fields).map(Fetched::Kv2)
                    }
                    SecretKind::Dynamic { .. } => {
                        parse_dynamic(status, body, &spec.fields).map(Fetched::Dynamic)
                    }
                    SecretKind::IdentityToken { .. } => {
                        parse_identity_token(status, body).map(Fetched::Dynamic)
                    }
                };
                match parsed {
                    Ok(f) => {
                        let current = (self.token.generation(), self.token.expires_at());
                        if let Some(s) = self.secrets.get_mut(i) {
                            // Read with the token the call carried; if a login
                            // replaced it meanwhile, the lease dies with the
                            // old token and is replaced before its end.
                            s.on_fetched(f, sent.token, started, now, rng);
                            s.sync_token(current.0, current.1, now, rng);
                        }
                        Ok(())
                    }
                    Err(e) => Err(self.fail_secret(sent, tag(e), now, rng)),
                }
            }
            Action::RenewLease(i) => {
                let requested = self
                    .secrets
                    .get(i)
                    .and_then(|s| s.lease())
                    .map_or(0, |(_, inc)| inc);
                match parse_lease_renew(status, body, requested) {
                    Ok(r) => {
                        if let Some(s) = self.secrets.get_mut(i) {
                            s.on_renewed(r, started, now, rng);
                        }
                        Ok(())
                    }
                    Err(e) => Err(self.fail_secret(sent, tag(e), now, rng)),
                }
            }
            Action::RevokeLease(i) => {
                // Best effort: a failure (e.g. no revoke policy) neither backs
                // off the secret nor forces a login; the lease expires anyway.
                if let Some(s) = self.secrets.get_mut(i) {
                    s.end_revocation();
                }
                parse_empty(status, body).map_err(tag)
            }
        }
    }

    /// The call could not be sent (`dispatch_http_call` failed, or
    /// [`Self::request_for`] returned `None`): treated as a failed call.
    pub fn on_dispatch_failed(
        &mut self,
        action: Action,
        err: &VaultError,
        now: Now,
        rng: &mut dyn Random,
    ) {
        let Some(sent) = self.take_in_flight(action) else {
            return;
        };
        self.gate.on_outcome(Some(err), now, rng);
        let e = err.clone();
        if let Action::RevokeLease(i) = action {
            if let Some(s) = self.secrets.get_mut(i) {
                s.end_revocation();
            }
        } else if is_token_action(action) {
            self.fail_token(action, e, now, rng);
        } else {
            self.fail_secret(sent, e, now, rng);
        }
    }

    /// The current value of secret `name`, or why there is none.
    pub fn secret(&self, name: &str, now: Now) -> Result<&SecretValue, Unavailable> {
        let Some(i) = self.index_of(name) else {
            return Err(Unavailable {
                reason: UnavailableReason::NotConfigured,
                last_error: None,
            });
        };
        let Some(state) = self.secrets.get(i) else {
            return Err(Unavailable {
                reason: UnavailableReason::NotConfigured,
                last_error: None,
            });
        };
        state.current(now).map_err(|mut u| {
            // Never fetched because login keeps failing: say so.
            if u.reason == UnavailableReason::NotLoaded && self.token.last_error().is_some() {
                u.reason = UnavailableReason::VaultUnavailable;
                u.last_error = self.token.last_error();
            }
            // Vault as a whole is failing (sealed, rate limiting, down, slow):
            // this secret's own call may not have gone out, the fault explains it.
            // Another VM calls Vault: its last error explains the gap here.
            if u.last_error.is_none() {
                let own = self.gate.last_fault().map(|code| (i, code));
                let shared =
                    own.or_else(|| self.shared_failures.iter().find(|(j, _)| *j == i).copied());
                if let Some((_, code)) = shared {
                    u.last_error = Some(code);
                    if u.reason == UnavailableReason::NotLoaded {
                        u.reason = UnavailableReason::VaultUnavailable;
                    }
                }
            }
            u
        })
    }

    /// Seconds until secret `name` expires, for a gauge (see [`SecretState::expires_in_s`]).
    pub fn expires_in_s(&self, name: &str, now: Now) -> Option<i64> {
        self.secrets.get(self.index_of(name)?)?.expires_in_s(now)
    }

    /// The secret's lifecycle state (failures, version, lease).
    pub fn secret_state(&self, name: &str) -> Option<&SecretState> {
        self.secrets.get(self.index_of(name)?)
    }

    /// Snapshots of every loaded secret, for the shared-data record.
    pub fn snapshots(&self) -> Vec<SecretSnapshot> {
        self.config
            .secrets
            .iter()
            .zip(&self.secrets)
            .filter_map(|(spec, s)| {
                let l = s.loaded.as_ref()?;
                Some(SecretSnapshot {
                    name: spec.name.clone(),
                    version: l.version,
                    created_ms: l.created_ms,
                    fetched_at_ms: l.fetched_at.unix_ms,
                    expires_at_ms: l.expiry().map(|e| e.unix_ms),
                    values: l.value.clone(),
                })
            })
            .collect()
    }

    /// Why each secret that cannot be served right now is failing, for the
    /// shared-data record (secrets without an error are left out).
    pub fn failures(&self, now: Now) -> Vec<SecretFailure> {
        self.config
            .secrets
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let state = self.secrets.get(i)?;
                let code = match self.secret(&spec.name, now) {
                    Err(u) => u.last_error?,
                    // Still serving, but its last call failed or Vault is in
                    // trouble: another VM may see it expire before the next record.
                    Ok(_) => state.last_error().or(self.gate.last_fault())?,
                };
                Some(SecretFailure {
                    name: spec.name.clone(),
                    last_error: code.to_string(),
                })
            })
            .collect()
    }

    /// Takes the owner VM's failures (see [`Self::failures`]) as this VM's
    /// explanation for secrets it cannot serve; unknown codes are ignored.
    pub fn adopt_failures(&mut self, failures: &[SecretFailure]) {
        self.shared_failures = failures
            .iter()
            .filter_map(|f| Some((self.index_of(&f.name)?, known_reason(&f.last_error)?)))
            .collect();
    }

    /// Installs snapshots written by the owner VM when they are newer than
    /// what this VM holds: fetched later, or the same fetch with a later
    /// expiry (a lease or token renewal). Adopted values have no lease of
    /// ours: should this VM become the owner, it fetches replacements before
    /// they expire.
    pub fn adopt(&mut self, snapshots: &[SecretSnapshot], now: Now, rng: &mut dyn Random) {
        for snap in snapshots {
            let Some(i) = self.index_of(&snap.name) else {
                continue;
            };
            let refresh_ms = self.config.kv_refresh_interval_ms;
            let Some(state) = self.secrets.get_mut(i) else {
                continue;
            };
            if state.loaded.as_ref().is_some_and(|l| !snap.supersedes(l)) {
                continue;
            }
            let expires_at = snap.expires_at_ms.map(Now::from_unix_ms);
            let replace_at = expires_at.map(|e| {
                let remaining = e.unix_ms.saturating_sub(now.unix_ms);
                now.plus_ms(before_expiry(remaining, REPLACE_FRACTION, rng))
            });
            let fetched_at = Now::from_unix_ms(snap.fetched_at_ms);
            state.loaded = Some(Loaded {
                value: snap.values.clone(),
                version: snap.version,
                created_ms: snap.created_ms,
                fetched_at,
                lease: None,
                expires_at,
                refresh_at: Some(replace_at.unwrap_or_else(|| fetched_at.plus_ms(refresh_ms))),
                token_generation: 0,
                token_deadline: None,
            });
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.config.secrets.iter().position(|s| s.name == name)
    }

    fn needs_unwrap(&self) -> bool {
        matches!(
            self.config.auth,
            Some(AuthMethod::AppRole {
                secret_id_wrapped: true,
                ..
            })
        ) && self.unwrapped_secret_id.is_none()
    }

    fn take_in_flight(&mut self, action: Action) -> Option<InFlight> {
        let pos = self.in_flight.iter().position(|f| f.action == action)?;
        Some(self.in_flight.swap_remove(pos))
    }

    fn fail_token(
        &mut self,
        action: Action,
        e: VaultError,
        now: Now,
        rng: &mut dyn Random,
    ) -> VaultError {
        match action {
            Action::RenewToken => self.token.on_renew_failed(&e, now, rng),
            Action::LookupToken => self.token.on_lookup_failed(&e, now, rng),
            _ => self.token.on_login_failed(&e, now, rng),
        }
        e
    }

    fn fail_secret(
        &mut self,
        sent: InFlight,
        e: VaultError,
        now: Now,
        rng: &mut dyn Random,
    ) -> VaultError {
        let (i, kind) = match sent.action {
            Action::Fetch(i) => (i, SecretAction::Fetch),
            Action::RenewLease(i) => (i, SecretAction::Renew),
            _ => return e,
        };
        let generation = self.token.generation();
        let Some(s) = self.secrets.get_mut(i) else {
            return e;
        };
        s.on_failed(kind, &e, now, rng);
        if e.needs_relogin() {
            if sent.token.0 != generation {
                // Refused with a token a login has replaced since: try the
                // new one now instead of logging in again.
                s.retry_now(now);
            } else if s.wants_relogin(generation) {
                // The token may still be valid for other paths: keep it
                // serving and log in again (it may have been revoked).
                self.token.request_relogin(now);
            }
        }
        e
    }

    fn sync_secrets_with_token(&mut self, now: Now, rng: &mut dyn Random) {
        let (generation, expires) = (self.token.generation(), self.token.expires_at());
        for s in &mut self.secrets {
            s.sync_token(generation, expires, now, rng);
        }
    }
}

fn is_token_action(a: Action) -> bool {
    matches!(
        a,
        Action::Unwrap | Action::Login | Action::RenewToken | Action::LookupToken
    )
}

fn secret_index(a: Action) -> Option<usize> {
    match a {
        Action::Fetch(i) | Action::RenewLease(i) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
