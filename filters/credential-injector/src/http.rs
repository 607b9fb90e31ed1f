//! One request: read it once, decide, apply; per-user credentials pause it
//! for the Vault calls. Response phase: CORS headers (the backend's own
//! removed for origins the policy does not allow) and echo stripping.

use crate::per_user;
use crate::root::Shared;
use mesh_host::header_map::HeaderMap;
use mesh_host::reply::LocalReply;
use mesh_host::{clock, headers, properties};
use policies::cors::cors_grant_headers;
use policies::inject::per_user::{
    Landed, RequestId, UserStage, UserStep, UserVault, UserVaultError,
};
use policies::inject::{
    echoed_response_headers, Allow, Decision, InjectMode, PendingCredential, RequestInput,
};
use policies::routes::split_path_and_query;
use policies::secret::Secret;
use policies::vec_map::VecMap;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use std::rc::Rc;

pub(crate) enum State {
    Pending,
    /// Waiting for Vault's answer to call `token` (per-user credential).
    Fetching {
        token: u32,
        stage: UserStage,
        pending: Box<PendingCredential>,
        /// Body bytes Envoy buffered meanwhile (its running total).
        body_buffered: u64,
    },
    /// Waiting for another request of the same user to get the credential
    /// (what it needs to finish is in [`Parked`]).
    Waiting,
    /// Answered locally (denial, preflight): response hooks leave it alone.
    Answered,
    Forwarded {
        cors_headers: Vec<(String, String)>,
        /// Remove the backend's CORS grants (the origin is not allowed).
        strip_backend_cors: bool,
        injected: Secret,
        echo_fields: Vec<Secret>,
        max_body_bytes: Option<u64>,
        body_seen: u64,
    },
}

/// A request waiting for another request's Vault calls.
struct Waiter {
    pending: Box<PendingCredential>,
    /// Body bytes Envoy buffered meanwhile (its running total).
    body_buffered: u64,
}

/// Requests of this VM paused behind another request's Vault calls. An
/// HTTP context cannot reach another one's state, so the request that gets
/// the answer finishes the waiters here (acting on their streams through
/// `set_effective_context`) and leaves each one's new state in `settled`,
/// which the waiter takes on its next callback.
#[derive(Default)]
pub struct Parked {
    waiting: VecMap<RequestId, Waiter>,
    settled: VecMap<RequestId, State>,
}

pub struct Request {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    state: State,
}

impl Request {
    pub fn new(context_id: u32, shared: Option<Rc<Shared>>) -> Self {
        Self {
            context_id,
            shared,
            state: State::Pending,
        }
    }

    /// Applies a final decision; `Continue` when the request goes upstream.
    /// `present`: as for [`Self::forward`].
    fn apply(
        &mut self,
        shared: &Shared,
        decision: Decision,
        present: Option<&HeaderMap>,
        body_seen: u64,
    ) -> Action {
        match decision {
            Decision::Preflight { headers } => {
                shared.metrics.preflights.inc();
                self.state = State::Answered;
                let hs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if let Err(s) = hostcalls::send_http_response(204, hs, None) {
                    log::error!("credential_injector: cannot answer a preflight: {s:?}");
                }
                Action::Pause
            }
            Decision::Deny(d) => {
                shared.metrics.denied.inc(d.code());
                log::debug!(
                    "credential_injector[{}]: denied: {}",
                    self.context_id,
                    d.code()
                );
                self.deny(u32::from(d.status), d.code(), d.message(), &d.cors_headers)
            }
            Decision::Allow(a) => self.forward(shared, a, present, body_seen),
            // `complete` never asks for another fetch; fail closed if it did.
            Decision::FetchUserCredential(p) => {
                shared.metrics.denied.inc("credential_unavailable");
                self.deny(
                    503,
                    "credential_unavailable",
                    "the backend credential is not available".into(),
                    &p.allow.cors_headers,
                )
            }
        }
    }

    fn deny(
        &mut self,
        status: u32,
        reason: &'static str,
        message: String,
        cors: &[(String, String)],
    ) -> Action {
        self.state = State::Answered;
        let mut reply = LocalReply::new(status, reason, message);
        for (k, v) in cors {
            reply = reply.with_header(k.clone(), v.clone());
        }
        if status == 401 {
            reply = reply.with_header("www-authenticate", "Bearer");
        }
        reply.send();
        Action::Pause
    }

    /// `present`: the request's headers when read in this callback (then
    /// only those are removed); None removes every named one.
    fn forward(
        &mut self,
        shared: &Shared,
        a: Allow,
        present: Option<&HeaderMap>,
        body_seen: u64,
    ) -> Action {
        if a.max_body_bytes.is_some_and(|max| body_seen > max) {
            shared.metrics.denied.inc("body_too_large");
            return self.deny(
                413,
                "body_too_large",
                "the request body is too large".into(),
                &a.cors_headers,
            );
        }
        match present {
            Some(all) => {
                headers::remove_request_headers_present(all, &a.remove_headers);
            }
            None => a.remove_headers.iter().for_each(|h| {
                headers::remove_request_header(h);
            }),
        }
        let mut injected = Secret::default();
        for h in &a.set_headers {
            let r = match h.mode {
                InjectMode::Overwrite => hostcalls::set_map_value(
                    MapType::HttpRequestHeaders,
                    &h.name,
                    Some(h.value.expose()),
                ),
                InjectMode::Add => {
                    hostcalls::add_map_value(MapType::HttpRequestHeaders, &h.name, h.value.expose())
                }
            };
            if r.is_err() {
                shared.metrics.denied.inc("credential_invalid");
                return self.deny(
                    503,
                    "credential_invalid",
                    "the backend credential cannot be used".into(),
                    &a.cors_headers,
                );
            }
            injected = h.value.clone();
        }
        if let Some(p) = &a.path_rewrite {
            headers::set_request_header(":path", p);
        }
        shared.metrics.allowed.inc();
        self.state = State::Forwarded {
            cors_headers: a.cors_headers,
            strip_backend_cors: a.strip_backend_cors,
            injected,
            echo_fields: a.echo_fields,
            max_body_bytes: a.max_body_bytes,
            body_seen,
        };
        Action::Continue
    }

    /// Advances a per-user fetch: sends the next call, or finishes this
    /// request and the requests waiting for it with the same final step.
    fn advance(
        &mut self,
        shared: &Rc<Shared>,
        pending: Box<PendingCredential>,
        landed: Landed,
        body_buffered: u64,
    ) -> Action {
        let Landed { step, mut waiters } = landed;
        let step = match step {
            UserStep::Call(call) => {
                let sent = with_users(shared, |u| Ok(per_user::send(u, &call)));
                match sent {
                    Ok(Some(token)) => {
                        self.state = State::Fetching {
                            token,
                            stage: call.stage,
                            pending,
                            body_buffered,
                        };
                        return Action::Pause;
                    }
                    Ok(None) => {
                        let id = self.context_id;
                        let failed = with_users(shared, |u| {
                            Ok(per_user::on_not_sent(u, &pending.user, id, clock::now()))
                        });
                        match failed {
                            Ok(l) => {
                                waiters.extend(l.waiters);
                                l.step
                            }
                            Err(step) => step,
                        }
                    }
                    Err(step) => step,
                }
            }
            other => other,
        };
        release(shared, &waiters, &step, self.context_id);
        self.finish(shared, *pending, step, body_buffered)
    }

    /// Completes the request with a final step.
    fn finish(
        &mut self,
        shared: &Shared,
        pending: PendingCredential,
        step: UserStep,
        body_buffered: u64,
    ) -> Action {
        let decision = match step {
            UserStep::Ready(value) => shared.injector.complete(pending, Ok(value)),
            UserStep::Fail(e) => {
                log::info!(
                    "credential_injector[{}]: per-user credential failed: {} ({e})",
                    self.context_id,
                    e.code()
                );
                shared.injector.complete(pending, Err(e))
            }
            // Not final: never handed here; fail closed if it were.
            UserStep::Call(_) | UserStep::Wait => shared
                .injector
                .complete(pending, Err(UserVaultError::Unavailable("dispatch_failed"))),
        };
        self.apply(shared, decision, None, body_buffered)
    }

    fn start_fetch(&mut self, shared: &Rc<Shared>, pending: Box<PendingCredential>) -> Action {
        let id = self.context_id;
        let started = with_users(shared, |u| Ok(u.start(&pending.user, id, clock::now())));
        let m = &shared.metrics.per_user;
        match &started {
            Ok(UserStep::Wait) => {
                m.coalesced.inc();
                if let Ok(mut parked) = shared.parked.try_borrow_mut() {
                    parked.waiting.insert(
                        id,
                        Waiter {
                            pending,
                            body_buffered: 0,
                        },
                    );
                    self.state = State::Waiting;
                    return Action::Pause;
                }
                // Not expected (one thread per VM): fail closed.
                let step = UserStep::Fail(UserVaultError::Unavailable("per_user_busy"));
                return self.finish(shared, *pending, step, 0);
            }
            Ok(UserStep::Fail(UserVaultError::BackingOff(_))) => m.gate_refusals.inc(),
            Ok(UserStep::Fail(UserVaultError::Busy)) => {}
            // A cached value or a cached refusal: no Vault call.
            Ok(UserStep::Ready(_) | UserStep::Fail(_)) => m.cache_hits.inc(),
            _ => m.cache_misses.inc(),
        }
        let step = started.unwrap_or_else(|failed| failed);
        let landed = Landed {
            step,
            waiters: Vec::new(),
        };
        self.advance(shared, pending, landed, 0)
    }

    /// A waiter takes the state another request left for it.
    fn take_settled(&mut self) {
        if !matches!(self.state, State::Waiting) {
            return;
        }
        let Some(shared) = &self.shared else {
            return;
        };
        if let Ok(mut parked) = shared.parked.try_borrow_mut() {
            if let Some(state) = parked.settled.remove(&self.context_id) {
                self.state = state;
            }
        }
    }
}

/// Finishes the waiting requests `waiters` with `step`, each on its own
/// stream, then makes `home` (the calling context) effective again. A
/// waiter that has gone away meanwhile is skipped.
pub fn release(shared: &Rc<Shared>, waiters: &[RequestId], step: &UserStep, home: u32) {
    if waiters.is_empty() {
        return;
    }
    for &id in waiters {
        let waiter = match shared.parked.try_borrow_mut() {
            Ok(mut parked) => parked.waiting.remove(&id),
            Err(_) => None,
        };
        let Some(w) = waiter else {
            continue;
        };
        if hostcalls::set_effective_context(id).is_err() {
            continue;
        }
        let mut r = Request::new(id, Some(shared.clone()));
        if let Action::Continue = r.finish(shared, *w.pending, step.clone(), w.body_buffered) {
            if let Err(s) = hostcalls::resume_http_request() {
                log::warn!("credential_injector[{id}]: cannot resume a waiting request: {s:?}");
            }
        }
        // `r` is a stand-in for the waiter's own context: its state moves
        // there, and its drop (with that state gone) does nothing.
        let state = std::mem::replace(&mut r.state, State::Answered);
        if let Ok(mut parked) = shared.parked.try_borrow_mut() {
            parked.settled.insert(id, state);
        }
    }
    if let Err(s) = hostcalls::set_effective_context(home) {
        log::warn!("credential_injector[{home}]: cannot switch back after waking waiters: {s:?}");
    }
}

/// Runs `f` on the VM's per-user Vault state; a failed step when there is
/// none (not configured) or it is in use (never expected: one thread per VM).
fn with_users<T>(
    shared: &Shared,
    f: impl FnOnce(&mut UserVault) -> Result<T, UserStep>,
) -> Result<T, UserStep> {
    let unavailable = |why| Err(UserStep::Fail(UserVaultError::Unavailable(why)));
    match shared.users.try_borrow_mut() {
        Ok(mut users) => match users.as_mut() {
            Some(u) => f(u),
            None => unavailable("per_user_not_configured"),
        },
        Err(_) => unavailable("per_user_busy"),
    }
}

impl Context for Request {
    fn on_http_call_response(&mut self, token_id: u32, _: usize, body_size: usize, _: usize) {
        let State::Fetching { token, .. } = &self.state else {
            return;
        };
        if *token != token_id {
            return;
        }
        let State::Fetching {
            stage,
            pending,
            body_buffered,
            ..
        } = std::mem::replace(&mut self.state, State::Pending)
        else {
            return;
        };
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let id = self.context_id;
        let landed = with_users(&shared, |u| {
            Ok(per_user::on_answer(
                u,
                &pending.user,
                id,
                stage,
                body_size,
                clock::now(),
            ))
        })
        .unwrap_or_else(|step| Landed {
            step,
            waiters: Vec::new(),
        });
        match (&stage, &landed.step) {
            (UserStage::Login { .. }, UserStep::Call(_)) => shared.metrics.per_user.logins.inc(),
            (UserStage::Read { .. }, UserStep::Ready(_)) => shared.metrics.per_user.reads.inc(),
            _ => {}
        }
        if let UserStep::Call(next) = &landed.step {
            log::debug!(
                "credential_injector[{}]: vault {} answered, next {}",
                self.context_id,
                per_user::stage_name(stage),
                per_user::stage_name(next.stage)
            );
        }
        if let Action::Continue = self.advance(&shared, pending, landed, body_buffered) {
            self.resume_http_request();
        }
    }
}

/// The stream is gone (done, or the client reset it). Runs in
/// `proxy_on_delete`, which Envoy calls anyway, instead of an `on_done` hook:
/// that would be one more VM entry on every request for what only a request
/// caught mid-fetch needs. A request that led Vault calls hands its waiters a
/// failure (its callout dies with it); a waiter leaves its flight.
impl Drop for Request {
    fn drop(&mut self) {
        self.take_settled();
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let id = self.context_id;
        match self.state {
            State::Fetching { .. } => {
                if let Ok(landed) = with_users(&shared, |u| Ok(u.leave(id))) {
                    release(&shared, &landed.waiters, &landed.step, id);
                }
            }
            State::Waiting => {
                if let Ok(mut parked) = shared.parked.try_borrow_mut() {
                    parked.waiting.remove(&id);
                }
                let _ = with_users(&shared, |u| Ok(u.leave(id)));
            }
            _ => {}
        }
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            self.state = State::Answered;
            LocalReply::new(503, "not_configured", "the plugin is not configured").send();
            return Action::Pause;
        };
        // Read as bytes: the SDK's text getter traps on a non-UTF-8 value a client can send.
        let all = HeaderMap::request();
        let pairs = all.pairs();
        let method = all.first(":method");
        let (path, query) = split_path_and_query(all.first(":path"));
        // One property read fewer per request when no backend looks at the user.
        let identity = if shared.injector.reads_identity() {
            properties::verified_identity()
        } else {
            None
        };
        // Pseudo-headers are not request headers for the policy.
        let plain = headers::without_pseudo(&pairs);
        let input = RequestInput {
            method,
            path,
            query,
            headers: &plain,
            identity: identity.as_ref(),
            now: clock::now(),
        };
        match shared.injector.decide(&input, shared.as_ref()) {
            Decision::FetchUserCredential(pending) => self.start_fetch(&shared, pending),
            other => self.apply(&shared, other, Some(&all), 0),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.take_settled();
        match &mut self.state {
            // Keep the body in Envoy until the credential is there; Continue
            // here would let the request through before the decision.
            State::Fetching { body_buffered, .. } => {
                *body_buffered = (*body_buffered).max(body_size as u64);
                Action::Pause
            }
            State::Waiting => {
                if let Some(Ok(mut parked)) =
                    self.shared.as_ref().map(|s| s.parked.try_borrow_mut())
                {
                    if let Some(w) = parked.waiting.get_mut(&self.context_id) {
                        w.body_buffered = w.body_buffered.max(body_size as u64);
                    }
                }
                Action::Pause
            }
            State::Forwarded {
                max_body_bytes: Some(max),
                body_seen,
                cors_headers,
                ..
            } => {
                *body_seen = body_seen.saturating_add(body_size as u64);
                if *body_seen > *max {
                    let hs = std::mem::take(cors_headers);
                    if let Some(s) = &self.shared {
                        s.metrics.denied.inc("body_too_large");
                    }
                    return self.deny(
                        413,
                        "body_too_large",
                        "the request body is too large".into(),
                        &hs,
                    );
                }
                Action::Continue
            }
            _ => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.take_settled();
        let State::Forwarded {
            cors_headers,
            strip_backend_cors,
            injected,
            echo_fields,
            ..
        } = &self.state
        else {
            return Action::Continue;
        };
        let all = HeaderMap::response();
        let pairs = all.pairs();
        if *strip_backend_cors {
            for name in cors_grant_headers(&pairs) {
                headers::remove_response_header(&name);
            }
        }
        let echoed = echoed_response_headers(&pairs, injected, echo_fields);
        if !echoed.is_empty() {
            if let Some(s) = &self.shared {
                s.metrics.echo_stripped.inc();
            }
            for name in &echoed {
                headers::remove_response_header(name);
            }
        }
        for (k, v) in cors_headers {
            let _ = if k == "vary" {
                hostcalls::add_map_value(MapType::HttpResponseHeaders, k, v)
            } else {
                hostcalls::set_map_value(MapType::HttpResponseHeaders, k, Some(v))
            };
        }
        Action::Continue
    }
}
