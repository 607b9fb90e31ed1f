//! The two decisions the filter applies: which headers to strip and set on
//! the request, and which cookie (if any) to set on the response.

use super::codec::{seal, Claims, NonceSource, Pin, RouteChecks, NONCE_LEN};
use super::config::{HashKeyPolicy, StickyPolicy};
use super::cookie_header::cookie_values;
use super::endpoint::Endpoint;
use super::keys::{ct_eq, KeySlot};
use super::opened::CookieToOpen;
use super::rejection::CookieRejection;
use super::routes::{rule_for, SessionSettings};
use super::subject::Subject;
use crate::env::Now;
use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Longest application session cookie value we hash for the ring-hash header.
const MAX_SESSION_COOKIE_LEN: usize = 4096;

/// What the filter read from the request, once.
#[derive(Clone, Copy, Debug)]
pub struct RequestInput<'a> {
    /// Every `Cookie` header value, in order.
    pub cookie_headers: &'a [&'a str],
    /// `:path`, query included or not.
    pub path: &'a str,
    /// The verified subject, read only if a decision needs it.
    pub subject: &'a Subject<'a>,
    pub now: Now,
}

/// The state of the request's sticky cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieStatus {
    /// A valid cookie pins the request.
    Valid,
    /// No cookie with our name.
    Absent,
    /// Cookies with our name were present and none was valid; the reason is
    /// the first one's.
    Rejected(CookieRejection),
    /// Stickiness is disabled for this route; the cookie was not read.
    Skipped,
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestDecision {
    /// Whether stickiness applies to this path.
    pub route_enabled: bool,
    /// Index of the `routes` rule that matched the path, if any: its cookie
    /// settings (or the top level's) apply to the response too.
    pub route: Option<usize>,
    /// Remove these request headers first (always the pin header, and every
    /// configured hash header, whatever the route): a client must not choose
    /// its endpoint.
    pub remove_headers: Vec<String>,
    /// Then set these `(name, value)` request headers.
    pub set_headers: Vec<(String, String)>,
    /// The pin from a valid cookie.
    pub pin: Option<Pin>,
    pub cookie_status: CookieStatus,
}

impl RequestDecision {
    pub fn pinned_endpoint(&self) -> Option<Endpoint> {
        self.pin.map(|p| p.endpoint)
    }
}

/// What the filter read from the response, plus the request's decision.
pub struct ResponseInput<'a> {
    /// Envoy's `upstream.address` property, e.g. `127.0.0.1:8081`.
    pub upstream_address: Option<&'a str>,
    /// Whether an upstream produced this response (not a local reply after
    /// the host failed: pinning to it would send the client back to a broken
    /// endpoint). Asked only when a cookie would be written, so a kept
    /// session skips the property read behind it.
    pub served_by_upstream: &'a dyn Fn() -> bool,
    pub request: &'a RequestDecision,
    /// The request's subject (read now if the request did not need it).
    pub subject: &'a Subject<'a>,
    pub now: Now,
    /// Nonce source (the host's secure randomness in the filter); when it
    /// fails, no cookie is set.
    pub rng: &'a mut dyn NonceSource,
}

/// What happened on the response; also the metric to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseEvent {
    /// Served by the pinned endpoint (or answered locally with it as the
    /// upstream): the pin stands, no new cookie.
    Kept,
    /// No valid pin: a cookie pinning the serving endpoint is set.
    NewSession,
    /// Served elsewhere than the pin (failover): the cookie moves there.
    Repinned,
    /// Same endpoint, cookie re-issued: sliding expiry, key rotation or
    /// subject binding after login.
    Renewed,
    /// Route disabled: nothing to do.
    None,
    /// A cookie was due, but `upstream.address` is absent or not `ip:port`
    /// (pipe, internal listener) or the answer was a local reply (the
    /// endpoint failed): nothing to pin to, no cookie.
    UpstreamUnusable,
    /// Sealing the cookie failed (no secure randomness for the nonce); no
    /// cookie, the response is served unpinned.
    SealFailed,
}

/// What to do with the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseDecision {
    /// A full `Set-Cookie` header value to add. A `Secret`: it is a bearer
    /// credential for the endpoint pin and must not be logged.
    pub set_cookie: Option<Secret>,
    pub event: ResponseEvent,
}

impl StickyPolicy {
    /// Decides the request: strip client pin headers, honour a valid cookie
    /// or fall back to the ring-hash header.
    ///
    /// Several cookies with our name (a browser sends one per matching
    /// Path/Domain, most specific first): the first valid one wins.
    pub fn on_request(&self, input: &RequestInput<'_>) -> RequestDecision {
        // Every route's hash header, not only this route's: a client must not
        // pick its ring position on any route.
        let remove_headers = std::iter::once(&self.pin_header)
            .chain(&self.hash_headers)
            .cloned()
            .collect();
        let route = rule_for(&self.routes, input.path);
        let mut decision = RequestDecision {
            route_enabled: route
                .and_then(|i| self.routes.get(i))
                .is_none_or(|r| r.enabled),
            route,
            remove_headers,
            set_headers: Vec::new(),
            pin: None,
            cookie_status: CookieStatus::Skipped,
        };
        if !decision.route_enabled {
            return decision;
        }
        let session = self.session(route);
        let now = input.now.unix_secs();
        let mut first_rejection = None;
        let name = &session.cookie.name;
        let mut pin_header_value = None;
        for value in cookie_values(input.cookie_headers, name) {
            let cookie = CookieToOpen {
                cookie_name: name,
                value,
                subject: input.subject,
                now_secs: now,
                mode: session.mode,
                route: session.checks(),
            };
            match self.opened.open(&self.keys, &cookie) {
                Ok(opened) => {
                    decision.pin = Some(opened.pin);
                    pin_header_value = Some(opened.header_value);
                    break;
                }
                Err(reason) => {
                    first_rejection.get_or_insert(reason);
                }
            }
        }
        decision.cookie_status = match (&decision.pin, first_rejection) {
            (Some(_), _) => CookieStatus::Valid,
            (None, Some(reason)) => CookieStatus::Rejected(reason),
            (None, None) => CookieStatus::Absent,
        };
        if let Some(value) = pin_header_value {
            decision.set_headers.push((self.pin_header.clone(), value));
        } else if let Some(header) = self
            .hash_key(route)
            .and_then(|h| self.hash_key_header(h, input))
        {
            decision.set_headers.push(header);
        }
        decision
    }

    /// The ring-hash header for an unpinned request: the verified subject's
    /// hash, else the application session cookie's hash, else nothing.
    fn hash_key_header(
        &self,
        h: &HashKeyPolicy,
        input: &RequestInput<'_>,
    ) -> Option<(String, String)> {
        let subject = if h.identity {
            input.subject.get()
        } else {
            None
        };
        let hash = match (subject, &h.session_cookie) {
            (Some(subject), _) => self.keys.hash_key_value(b"subject", subject),
            (None, Some(name)) => {
                let value = cookie_values(input.cookie_headers, name)
                    .into_iter()
                    .find(|v| !v.is_empty() && v.len() <= MAX_SESSION_COOKIE_LEN)?;
                self.keys.hash_key_value(b"session", value)
            }
            _ => return None,
        };
        Some((h.header.clone(), URL_SAFE_NO_PAD.encode(hash)))
    }

    /// Decides the response: keep, set, move or renew the cookie.
    pub fn on_response(&self, input: ResponseInput<'_>) -> ResponseDecision {
        let none = |event| ResponseDecision {
            set_cookie: None,
            event,
        };
        if !input.request.route_enabled {
            return none(ResponseEvent::None);
        }
        let Some(served) = input.upstream_address.and_then(Endpoint::parse) else {
            return none(ResponseEvent::UpstreamUnusable);
        };
        let session = self.session(input.request.route);
        let now = input.now.unix_secs();
        let pin = input.request.pin.as_ref();
        let (issued_at, event) = match pin {
            None => (now, ResponseEvent::NewSession),
            Some(pin) if pin.endpoint != served => (pin.issued_at, ResponseEvent::Repinned),
            // A renewal that would drop a binding made on another route
            // keeps the cookie instead: unbound, the next route that binds
            // would bind it to whoever sends it. It is renewed there.
            Some(pin)
                if session.needs_renewal(pin, input.subject, now)
                    && (!pin.bound_to_subject
                        || self.binding(session, Some(pin), input.subject).is_some()) =>
            {
                (pin.issued_at, ResponseEvent::Renewed)
            }
            Some(_) => return none(ResponseEvent::Kept),
        };
        if !(input.served_by_upstream)() {
            return none(ResponseEvent::UpstreamUnusable);
        }
        let expires_at = session.expiry(issued_at, now);
        let claims = Claims {
            endpoint: served,
            issued_at,
            expires_at,
            subject_hash: self.binding(session, pin, input.subject),
        };
        let mut nonce = [0u8; NONCE_LEN];
        // Fail closed for stickiness: without a secure nonce no cookie (the
        // request is still served), never a guessable one.
        if input.rng.fill_nonce(&mut nonce).is_err() {
            return none(ResponseEvent::SealFailed);
        }
        match seal(&self.keys.current, &session.cookie.name, &claims, nonce) {
            Ok(value) => ResponseDecision {
                set_cookie: Some(Secret::new(
                    session
                        .cookie
                        .render(&value, expires_at.saturating_sub(now).max(1)),
                )),
                event,
            },
            Err(_) => none(ResponseEvent::SealFailed),
        }
    }

    /// The subject binding a cookie issued on this route seals. A route that
    /// binds seals the request's subject (none if anonymous). A route that
    /// does not bind keeps a binding the cookie got on a route that does:
    /// verbatim when sealed with the current key (the subject is not read);
    /// under an older key (rotation) re-keyed for the request's subject if
    /// it is the bound one, else dropped.
    fn binding(
        &self,
        session: &SessionSettings,
        pin: Option<&Pin>,
        subject: &Subject<'_>,
    ) -> Option<[u8; 16]> {
        if session.bind_subject {
            return subject.get().map(|s| self.keys.current.subject_hash(s));
        }
        let sealed = pin?.binding?;
        if sealed.key == KeySlot::Current {
            return Some(sealed.hash);
        }
        let s = subject.get()?;
        let old = self.keys.get(sealed.key)?;
        ct_eq(&old.subject_hash(s), &sealed.hash).then(|| self.keys.current.subject_hash(s))
    }

    /// The hash key of the matched route (own, inherited or off), or the
    /// top level's.
    fn hash_key(&self, route: Option<usize>) -> Option<&HashKeyPolicy> {
        match route.and_then(|i| self.routes.get(i)) {
            Some(r) => r.hash_key.as_ref(),
            None => self.hash_key.as_ref(),
        }
    }

    /// The settings of the matched route, or the top level's.
    fn session(&self, route: Option<usize>) -> &SessionSettings {
        route
            .and_then(|i| self.routes.get(i))
            .and_then(|r| r.session.as_ref())
            .unwrap_or(&self.default)
    }
}

impl SessionSettings {
    /// What this route requires of a cookie beyond its authenticity.
    pub(crate) fn checks(&self) -> RouteChecks {
        RouteChecks {
            bind_subject: self.bind_subject,
            max_age_secs: self.max_age_secs,
        }
    }

    /// End of validity for a cookie issued now for a session started at
    /// `issued_at`: the sliding window, capped by the absolute lifetime.
    fn expiry(&self, issued_at: u64, now: u64) -> u64 {
        let cap = issued_at.saturating_add(self.max_age_secs);
        match self.idle_timeout_secs {
            Some(idle) => now.saturating_add(idle).min(cap),
            None => cap,
        }
    }

    /// Re-issue a cookie that still pins the serving endpoint when it was
    /// sealed with an old key, should now carry a subject binding, or has
    /// used up half of its sliding window (and may still be extended).
    fn needs_renewal(&self, pin: &Pin, subject: &Subject<'_>, now: u64) -> bool {
        if !pin.sealed_with_current_key {
            return true;
        }
        if self.bind_subject && !pin.bound_to_subject && subject.get().is_some() {
            return true;
        }
        match self.idle_timeout_secs {
            Some(idle) => {
                let extendable = pin.expires_at < self.expiry(pin.issued_at, now);
                let remaining = pin.expires_at.saturating_sub(now);
                extendable && remaining <= idle / 2
            }
            None => false,
        }
    }
}
