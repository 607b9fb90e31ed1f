//! The pure core of the mesh plugins.
//!
//! Architecture invariant: this crate never calls the proxy. Time, randomness
//! and host crypto arrive as arguments or through the small traits in
//! [`env`], so every decision here is testable natively and in wasm32.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod claims;
pub mod config;
pub mod cors;
pub mod env;
pub mod http_date;
pub mod identity;
pub mod inject;
pub mod json;
pub mod jwt;
pub mod oidc;
pub mod refresh;
pub mod routes;
pub mod secret;
pub mod secret_keyed_cache;
pub mod sticky;
pub mod vault;
pub mod vec_map;
