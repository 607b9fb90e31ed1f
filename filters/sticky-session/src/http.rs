//! Per-request adapter: read inputs once, apply the policy's decisions.

use crate::counters::Counters;
use mesh_host::header_map::HeaderMap;
use mesh_host::headers;
use mesh_host::properties::{string, upstream_address, verified_identity};
use mesh_host::random::fill_secure;
use mesh_host::reply::LocalReply;
use policies::env::Now;
use policies::sticky::metrics::{request_counter, response_counter};
use policies::sticky::{
    NonceSource, RequestDecision, RequestInput, ResponseInput, SealError, StickyPolicy, Subject,
    NONCE_LEN,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;

pub struct StickyHttp {
    context_id: u32,
    policy: Option<Rc<StickyPolicy>>,
    counters: Rc<Counters>,
    /// The request's decision and clock, kept for the response phase: a
    /// cookie issued at response time dates from the request (one clock
    /// read per request; the difference is the upstream's answer time).
    request: Option<(RequestDecision, Now)>,
    /// Read from the host only if a decision needs it, at most once.
    subject: Subject<'static>,
}

impl StickyHttp {
    pub fn new(context_id: u32, policy: Option<Rc<StickyPolicy>>, counters: Rc<Counters>) -> Self {
        Self {
            context_id,
            policy,
            counters,
            request: None,
            subject: Subject::read_with(&verified_subject),
        }
    }
}

/// The subject oidc-auth verified on this request, if it ran and succeeded.
fn verified_subject() -> Option<String> {
    verified_identity().map(|identity| identity.subject)
}

/// Whether an upstream produced this response. A local reply (no healthy
/// host, connect failure after the last retry, timeout) still has an
/// `upstream.address` (the host that failed): pinning to it would send the
/// client back to a broken endpoint, so no cookie is set then.
fn served_by_upstream() -> bool {
    string(&["response", "code_details"]).as_deref() == Some("via_upstream")
}

/// Cookie nonces from the host's secure randomness only: `HostRandom` falls
/// back to the clock when `random_get` fails, which is fine for jitter but
/// would make nonces guessable and repeatable.
struct SecureNonces {
    context_id: u32,
}

impl NonceSource for SecureNonces {
    fn fill_nonce(&mut self, nonce: &mut [u8; NONCE_LEN]) -> Result<(), SealError> {
        if fill_secure(nonce) {
            return Ok(());
        }
        log::warn!(
            "[{}] sticky: no secure randomness for a cookie nonce, no cookie set",
            self.context_id
        );
        Err(SealError)
    }
}

impl Context for StickyHttp {}

impl HttpContext for StickyHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(policy) = self.policy.clone() else {
            // Unreachable in practice (a failed configure is rejected by
            // Envoy); fail closed rather than let a client pick its endpoint.
            LocalReply::new(
                503,
                "sticky_not_configured",
                "the sticky-session plugin has no configuration",
            )
            .send();
            return Action::Pause;
        };
        let all = HeaderMap::request();
        let cookie_headers: Vec<&str> = all.values("cookie").collect();
        let path = all.first(":path");
        let now = mesh_host::clock::now();
        let decision = policy.on_request(&RequestInput {
            cookie_headers: &cookie_headers,
            path,
            subject: &self.subject,
            now,
        });
        // Strip first: a client must never choose its endpoint.
        headers::remove_request_headers_present(&all, &decision.remove_headers);
        for (name, value) in &decision.set_headers {
            headers::set_request_header(name, value);
        }
        self.counters.inc(request_counter(decision.cookie_status));
        log::debug!(
            "[{}] sticky request: cookie {:?}, pinned {}",
            self.context_id,
            decision.cookie_status,
            decision.pin.is_some()
        );
        self.request = Some((decision, now));
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let (Some(policy), Some((decision, now))) = (&self.policy, &self.request) else {
            return Action::Continue;
        };
        // Envoy's header session state echoes the chosen endpoint as
        // base64(`ip:port`) in a response header of the pin header's name
        // (on encode it runs before this filter): never show clients the
        // internal addresses.
        headers::remove_response_header(policy.pin_header());
        let upstream = upstream_address();
        let outcome = policy.on_response(ResponseInput {
            upstream_address: upstream.as_deref(),
            served_by_upstream: &served_by_upstream,
            request: decision,
            subject: &self.subject,
            now: *now,
            rng: &mut SecureNonces {
                context_id: self.context_id,
            },
        });
        if let Some(cookie) = &outcome.set_cookie {
            // The only place the sealed cookie leaves its `Secret`.
            headers::add_response_header("set-cookie", cookie.expose());
        }
        self.counters.inc(response_counter(outcome.event));
        log::debug!("[{}] sticky response: {:?}", self.context_id, outcome.event);
        Action::Continue
    }
}
