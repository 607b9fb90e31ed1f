//! Typed, non-panicking access to Envoy properties and filter state.

use crate::raw;
use policies::identity::{VerifiedIdentity, IDENTITY_PROPERTY};

/// Reads a string property; None when absent, unreadable or not UTF-8.
pub fn string(path: &[&str]) -> Option<String> {
    raw::get_property(path)
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
}

/// The endpoint that served the request (`ip:port`), known only in the
/// response phase and in `on_log`: the final host after retries.
pub fn upstream_address() -> Option<String> {
    string(&["upstream", "address"])
}

/// Publishes a value for later filters on the same request: Envoy stores
/// it in filter state as `wasm.<name>`.
pub fn publish(name: &str, value: &[u8]) -> bool {
    raw::set_property(&[name], value).is_ok()
}

/// Reads a value an earlier wasm filter published with [`publish`] (or any
/// filter-state object named `wasm.<name>`). One hostcall: this runs on every
/// request, mostly to find nothing, and the `filter_state` attribute serves
/// every object type, so no fallback lookup is needed.
pub fn published(name: &str) -> Option<Vec<u8>> {
    raw::get_property(&["filter_state", &format!("wasm.{name}")])
        .ok()
        .flatten()
}

/// The identity oidc-auth verified on this request, if it ran and succeeded.
/// Filter state cannot be set by a client, so it is trusted as is.
pub fn verified_identity() -> Option<VerifiedIdentity> {
    published(IDENTITY_PROPERTY).and_then(|bytes| VerifiedIdentity::from_bytes(&bytes))
}
