//! Sticky sessions: pin a client to the upstream endpoint that served it,
//! through a tamper-proof cookie the proxy issues and checks.
//!
//! Flow: `on_request` opens the cookie (ChaCha20-Poly1305, see `codec.rs`)
//! and turns a valid pin into the header Envoy's `stateful_session` (header
//! state) filter or `override_host` LB policy reads; it always strips
//! client-supplied copies of that header. `on_response` learns the serving
//! endpoint from `upstream.address` and sets, moves or renews the cookie.
//!
//! Architecture invariant: pure. Time, randomness (nonces, through
//! [`NonceSource`], which may fail) and environment variables (keys) come in
//! as arguments.

mod codec;
mod config;
mod cookie_header;
mod decide;
mod endpoint;
mod keys;
pub mod metrics;
mod opened;
mod rejection;
mod routes;
mod set_cookie;
mod subject;

pub use codec::{NonceSource, Pin, SealError, MAX_COOKIE_VALUE_LEN, NONCE_LEN};
pub use config::{
    load, CookieDto, EnvResolver, HashKeyDto, HashKeyOverrideDto, KeyDto, ModeDto, RouteDto,
    StickyConfig, StickyPolicy, MAX_OPENED_COOKIE_CACHE_ENTRIES,
};
pub use cookie_header::{cookie_values, MAX_CANDIDATES};
pub use decide::{
    CookieStatus, RequestDecision, RequestInput, ResponseDecision, ResponseEvent, ResponseInput,
};
pub use endpoint::{Endpoint, PinMode};
pub use keys::KEY_LEN;
pub use rejection::CookieRejection;
pub use routes::RouteRule;
pub use set_cookie::{CookieAttributes, SameSite};
pub use subject::Subject;

#[cfg(test)]
mod tests;
