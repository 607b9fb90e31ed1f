//! The per-user state machine: cached value → cached Vault token → login.
//!
//! ```text
//! start ──value cached──▶ Ready
//!   │ token cached                    │ no token
//!   ▼                                 ▼
//! Read{fresh:false} ◀──ok── Login ──400──▶ LoginRejected
//!   │ 403: drop token, log in once ──▶ Login
//! Read{fresh:true} ──403──▶ Denied, 404 ──▶ SecretMissing, ok ──▶ Ready
//! ```
//!
//! Tokens are cached per user ([`UserTokenCache`], until shortly before
//! Vault expires them and never past the user JWT), values per backend and
//! user for the backend's `cache_ttl`. Both caches are bounded and per VM.
//!
//! Two guards keep Vault calls down, both per VM: one call chain per user
//! and backend at a time (later requests wait for its outcome, see
//! [`super::flights`]), and after a server fault the [`ServerGate`]: no new
//! chain until the backoff has passed, then one at a time until Vault
//! answers again. Cached values are served whatever the gate says.

use super::config::PerUserSecret;
use super::error::UserVaultError;
use super::flights::{FlightKey, Flights, Joined, RequestId};
use crate::backoff::Backoff;
use crate::env::{Now, Random};
use crate::secret::Secret;
use crate::vault::{
    parse_kv2, parse_login, Connection, Endpoint, PerUserJwt, SecretValue, ServerGate,
    UserTokenCache, VaultError, VaultRequest,
};
use crate::vec_map::VecMap;

/// What one request needs from [`UserVault`]; built by `Injector::decide`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSecretRequest {
    /// Backend index (values are cached per backend and user).
    pub backend: usize,
    /// Issuer and subject: the cache key of the user.
    pub user: String,
    /// The verified user JWT, for Vault's JWT login.
    pub user_jwt: Secret,
    /// The user JWT's expiry: nothing obtained with it is kept longer.
    pub not_after: Now,
    pub mount: String,
    /// The KV path with the subject already encoded.
    pub path: String,
    pub fields: Vec<String>,
    pub cache_ttl_ms: u64,
}

impl UserSecretRequest {
    /// Builds the request for `spec`; `SubjectNotUsable` when the subject
    /// cannot go into the path.
    pub fn new(
        backend: usize,
        spec: &PerUserSecret,
        issuer: &str,
        subject: &str,
        user_jwt: Secret,
        not_after: Now,
    ) -> Result<Self, UserVaultError> {
        let path = spec
            .path
            .render(subject)
            .ok_or(UserVaultError::SubjectNotUsable)?;
        Ok(Self {
            backend,
            user: format!("{issuer}\u{0}{subject}"),
            user_jwt,
            not_after,
            mount: spec.mount.clone(),
            path,
            fields: spec.fields.clone(),
            cache_ttl_ms: spec.cache_ttl_ms,
        })
    }
}

/// Which answer a call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStage {
    /// JWT login sent at `started`.
    Login { started: Now },
    /// KV read; `fresh` when the token comes from a login for this request.
    Read { fresh: bool },
}

/// A Vault call to dispatch for one request.
#[derive(Clone, Debug)]
pub struct UserCall {
    pub stage: UserStage,
    pub request: VaultRequest,
}

/// The next step of one request.
#[derive(Clone, Debug)]
pub enum UserStep {
    /// The credential's fields (from the cache or just read).
    Ready(SecretValue),
    /// Dispatch this and feed the answer to [`UserVault::on_answer`].
    Call(UserCall),
    /// Answer the request with this error.
    Fail(UserVaultError),
    /// Another request of the same user and backend is asking Vault: keep
    /// the request paused; it gets that request's final step
    /// ([`Landed::waiters`]).
    Wait,
}

/// Vault's answer to one call.
#[derive(Clone, Copy, Debug)]
pub struct UserAnswer<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// The parsed `Retry-After` of a 429, if any.
    pub retry_after_ms: Option<u64>,
}

/// The leader's next step; when it is final, the waiters of its flight,
/// which get the same step.
#[derive(Clone, Debug)]
pub struct Landed {
    pub step: UserStep,
    pub waiters: Vec<RequestId>,
}

impl Landed {
    fn alone(step: UserStep) -> Self {
        Self {
            step,
            waiters: Vec::new(),
        }
    }
}

/// Calls one flight may make: a read with a cached token, a login after
/// Vault refused that token, and the read with the new one.
const MAX_CALLS_PER_FLIGHT: u64 = 3;
/// Slack over the calls' timeouts before a flight counts as overdue.
const FLIGHT_SLACK_MS: u64 = 1_000;

#[derive(Clone, Debug)]
struct CachedValue {
    /// The value, or Vault's final refusal: a user Vault denies would
    /// otherwise cost a login and a read on every request.
    outcome: Result<SecretValue, UserVaultError>,
    expires_at: Now,
}

/// Per-user Vault logins and reads of one plugin in one VM.
/// `Debug` shows user keys, never tokens or values.
#[derive(Clone, Debug)]
pub struct UserVault {
    endpoint: Endpoint,
    connection: Connection,
    login: PerUserJwt,
    tokens: UserTokenCache,
    values: VecMap<FlightKey, CachedValue>,
    flights: Flights,
    gate: ServerGate,
    /// How long a flight may take before its waiters are released.
    flight_ms: u64,
}

impl UserVault {
    /// `retry` is the backoff of the gate (`vault.retry`).
    pub fn new(connection: &Connection, login: &PerUserJwt, retry: Backoff) -> Self {
        Self {
            endpoint: Endpoint::new(connection),
            connection: connection.clone(),
            login: login.clone(),
            tokens: UserTokenCache::new(login.max_users),
            values: VecMap::new(),
            flights: Flights::new(login.max_waiting),
            gate: ServerGate::new(retry),
            flight_ms: connection
                .timeout_ms
                .saturating_mul(MAX_CALLS_PER_FLIGHT)
                .saturating_add(FLIGHT_SLACK_MS),
        }
    }

    /// The per-user fault gate (state for logs and tests).
    pub fn gate(&self) -> &ServerGate {
        &self.gate
    }

    /// Where the calls go (cluster, authority, timeout).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Number of users with a cached Vault token.
    pub fn cached_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// First step for request `id`: the cached value or refusal; waiting
    /// for the same user's call in flight; a refusal while the gate is
    /// closed; or the first call of a new flight led by `id`.
    pub fn start(&mut self, req: &UserSecretRequest, id: RequestId, now: Now) -> UserStep {
        let key = (req.backend, req.user.clone());
        if let Some(v) = self.values.get(&key).filter(|v| now < v.expires_at) {
            return match &v.outcome {
                Ok(value) => UserStep::Ready(value.clone()),
                Err(e) => UserStep::Fail(*e),
            };
        }
        if !self.flights.is_flying(&key, now) {
            if let Some(refusal) = self.gate_refusal(now) {
                return UserStep::Fail(refusal);
            }
        }
        match self
            .flights
            .join(&key, id, now, now.plus_ms(self.flight_ms))
        {
            Joined::Wait => return UserStep::Wait,
            Joined::Full => return UserStep::Fail(UserVaultError::Busy),
            Joined::Lead => {}
        }
        match self.tokens.get(&req.user, now) {
            Some(token) => self.read(req, token.clone(), false),
            None => self.login_call(req, now),
        }
    }

    /// Why no new flight may start at `now`: the gate is closed after a
    /// server fault, or it lets one probe through and one is in flight.
    fn gate_refusal(&self, now: Now) -> Option<UserVaultError> {
        let last = self.gate.last_fault().unwrap_or("vault_unavailable");
        let closed = !self.gate.is_open(now);
        let probe_out = self.gate.probing() && self.flights.any_flying(now);
        (closed || probe_out).then_some(UserVaultError::BackingOff(last))
    }

    /// Applies Vault's answer to the call request `id` made at `stage`.
    pub fn on_answer(
        &mut self,
        req: &UserSecretRequest,
        id: RequestId,
        stage: UserStage,
        answer: UserAnswer<'_>,
        now: Now,
        rng: &mut dyn Random,
    ) -> Landed {
        let retry_after = |e: VaultError| e.with_retry_after(answer.retry_after_ms);
        let step = match stage {
            UserStage::Login { started } => {
                let login = parse_login(answer.status, answer.body).map_err(retry_after);
                self.gate.on_outcome(login.as_ref().err(), now, rng);
                match login {
                    Ok(auth) => {
                        self.tokens.insert_until(
                            &req.user,
                            &auth,
                            started,
                            now,
                            Some(req.not_after),
                        );
                        // A token too short-lived to cache still serves this read.
                        return Landed::alone(self.read(req, auth.client_token, true));
                    }
                    Err(e) => self.fail(req, login_error(&e), now),
                }
            }
            UserStage::Read { fresh } => {
                let read = parse_kv2(answer.status, answer.body, &req.fields).map_err(retry_after);
                self.gate.on_outcome(read.as_ref().err(), now, rng);
                match read {
                    Ok(kv) => {
                        self.remember(req, Ok(kv.value.clone()), now);
                        UserStep::Ready(kv.value)
                    }
                    Err(VaultError::PermissionDenied(_)) => {
                        // Revoked token or changed policy: a cached token gets
                        // one fresh login; a fresh one is Vault's final word.
                        self.tokens.remove(&req.user);
                        if fresh {
                            self.fail(req, UserVaultError::Denied, now)
                        } else {
                            return Landed::alone(self.login_call(req, now));
                        }
                    }
                    Err(e) => self.fail(req, read_error(&e), now),
                }
            }
        };
        self.land(req, id, step)
    }

    /// Ends the flight led by `id` with its final `step`.
    fn land(&mut self, req: &UserSecretRequest, id: RequestId, step: UserStep) -> Landed {
        let key = (req.backend, req.user.clone());
        Landed {
            waiters: self.flights.land(&key, id),
            step,
        }
    }

    /// Fails the request; Vault's final word on this user (login rejected,
    /// denied, nothing there) is remembered like a value, outages are not.
    fn fail(&mut self, req: &UserSecretRequest, err: UserVaultError, now: Now) -> UserStep {
        if matches!(
            err,
            UserVaultError::LoginRejected | UserVaultError::Denied | UserVaultError::SecretMissing
        ) {
            self.remember(req, Err(err), now);
        }
        UserStep::Fail(err)
    }

    /// Caches an outcome for `cache_ttl`, never past the user JWT's `exp`.
    fn remember(
        &mut self,
        req: &UserSecretRequest,
        outcome: Result<SecretValue, UserVaultError>,
        now: Now,
    ) {
        let expires_at = now.plus_ms(req.cache_ttl_ms).min(req.not_after);
        if now < expires_at {
            self.cache_value(req, outcome, expires_at, now);
        }
    }

    /// The call of request `id` could not be sent, or its answer is
    /// unusable (too large): a server fault for the gate when it is one.
    pub fn on_failed(
        &mut self,
        req: &UserSecretRequest,
        id: RequestId,
        err: &VaultError,
        now: Now,
        rng: &mut dyn Random,
    ) -> Landed {
        self.gate.on_outcome(Some(err), now, rng);
        self.land(
            req,
            id,
            UserStep::Fail(UserVaultError::Unavailable(err.reason())),
        )
    }

    /// Request `id` went away (client gone). If it led a flight, nobody
    /// will answer its waiters: they fail now rather than hang.
    pub fn leave(&mut self, id: RequestId) -> Landed {
        Landed {
            waiters: self.flights.leave(id),
            step: UserStep::Fail(UserVaultError::Unavailable("vault_call_abandoned")),
        }
    }

    /// Releases the waiters of flights whose answer is overdue at `now`
    /// (a safety net: Envoy's callout timeout normally answers first).
    pub fn expire_flights(&mut self, now: Now) -> Landed {
        Landed {
            waiters: self.flights.expire(now),
            step: UserStep::Fail(UserVaultError::Unavailable("vault_timeout")),
        }
    }

    fn login_call(&self, req: &UserSecretRequest, now: Now) -> UserStep {
        UserStep::Call(UserCall {
            stage: UserStage::Login { started: now },
            request: self.endpoint.jwt_login(
                &self.login.mount,
                self.login.role.as_deref(),
                &req.user_jwt,
            ),
        })
    }

    fn read(&self, req: &UserSecretRequest, token: Secret, fresh: bool) -> UserStep {
        UserStep::Call(UserCall {
            stage: UserStage::Read { fresh },
            request: self.endpoint.kv2_read(&token, &req.mount, &req.path, None),
        })
    }

    /// Bounded like the token cache: expired entries go first, then the
    /// one expiring soonest.
    fn cache_value(
        &mut self,
        req: &UserSecretRequest,
        outcome: Result<SecretValue, UserVaultError>,
        expires_at: Now,
        now: Now,
    ) {
        let key: FlightKey = (req.backend, req.user.clone());
        if !self.values.contains_key(&key) && self.values.len() >= self.login.max_users {
            self.values.retain(|_, v| now < v.expires_at);
            if self.values.len() >= self.login.max_users {
                let soonest = self
                    .values
                    .iter()
                    .min_by_key(|(_, v)| v.expires_at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.values.remove(&k);
                }
            }
        }
        self.values.insert(
            key,
            CachedValue {
                outcome,
                expires_at,
            },
        );
    }
}

fn login_error(e: &VaultError) -> UserVaultError {
    match e {
        VaultError::BadRequest(_) => UserVaultError::LoginRejected,
        VaultError::PermissionDenied(_) => UserVaultError::Denied,
        other => UserVaultError::Unavailable(other.reason()),
    }
}

fn read_error(e: &VaultError) -> UserVaultError {
    match e {
        VaultError::PermissionDenied(_) => UserVaultError::Denied,
        VaultError::NotFound => UserVaultError::SecretMissing,
        VaultError::FieldMissing(_) | VaultError::FieldNotText(_) => {
            UserVaultError::Invalid(e.reason())
        }
        other => UserVaultError::Unavailable(other.reason()),
    }
}
