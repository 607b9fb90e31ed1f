//! Behaviour tests of the sticky core; unit tests of small pieces sit at the
//! bottom of their files.

mod codec;
mod config;
mod decide;
mod opened;
mod route_hash_key;
mod routes;
mod subject;

use super::*;
use crate::env::{Now, SeededRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Base64 of 0, 1, ..., 31 and of 100, 101, ..., 131.
pub(super) fn key_a() -> String {
    STANDARD.encode((0u8..32).collect::<Vec<_>>())
}
pub(super) fn key_b() -> String {
    STANDARD.encode((100u8..132).collect::<Vec<_>>())
}

pub(super) fn env(name: &str) -> Option<String> {
    match name {
        "KEY_A" => Some(key_a()),
        "KEY_B" => Some(key_b()),
        "KEY_SHORT" => Some(STANDARD.encode([9u8; 16])),
        "KEY_NOT_B64" => Some("hunter2-is-not-base64!".into()),
        "KEY_ZERO" => Some(STANDARD.encode([0u8; 32])),
        "KEY_URLSAFE_NOPAD" => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode((200u8..232).collect::<Vec<_>>()),
        ),
        _ => None,
    }
}

/// Compiles `{"mode": .., "keys": [{"id":"a","env":"KEY_A"}], <extra>}`.
pub(super) fn policy(extra: &str) -> StickyPolicy {
    try_policy(extra).unwrap()
}

pub(super) fn try_policy(extra: &str) -> Result<StickyPolicy, crate::config::ConfigError> {
    let sep = if extra.is_empty() { "" } else { "," };
    let json =
        format!(r#"{{"mode":"stateful-session","keys":[{{"id":"a","env":"KEY_A"}}]{sep}{extra}}}"#);
    load(json.as_bytes(), &env)
}

pub(super) const T0: u64 = 1_800_000_000;

pub(super) fn at(secs: u64) -> Now {
    Now::from_unix_secs(secs)
}

/// Runs a request with `cookie` and returns the decision.
pub(super) fn request(
    p: &StickyPolicy,
    cookie_headers: &[&str],
    subject: Option<&str>,
    now: u64,
) -> RequestDecision {
    p.on_request(&RequestInput {
        cookie_headers,
        path: "/app",
        subject: &Subject::known(subject),
        now: at(now),
    })
}

/// Runs a response served by `upstream` and returns the decision.
pub(super) fn respond(
    p: &StickyPolicy,
    req: &RequestDecision,
    upstream: Option<&str>,
    subject: Option<&str>,
    now: u64,
    seed: u64,
) -> ResponseDecision {
    p.on_response(ResponseInput {
        upstream_address: upstream,
        served_by_upstream: &|| true,
        request: req,
        subject: &Subject::known(subject),
        now: at(now),
        rng: &mut SeededRandom(seed),
    })
}

/// The `name=value` pair of a Set-Cookie header, as a browser sends it back.
pub(super) fn cookie_pair(set_cookie: &ResponseDecision) -> String {
    let header = set_cookie.set_cookie.as_ref().unwrap().expose();
    header.split(';').next().unwrap().to_string()
}

/// A fresh session pinned to `upstream`: the request/response that issue it,
/// returning the cookie pair.
pub(super) fn issue(p: &StickyPolicy, upstream: &str, subject: Option<&str>, now: u64) -> String {
    let req = request(p, &[], subject, now);
    let resp = respond(p, &req, Some(upstream), subject, now, now);
    assert_eq!(resp.event, ResponseEvent::NewSession);
    cookie_pair(&resp)
}
