//! credential-injector filter: a thin adapter around `policies::inject`.
//!
//! Root context ([`root`]): compiles the configuration once, runs the Vault
//! driver and the OAuth2 fetcher ([`oauth2`]) on a 1 s tick. HTTP context
//! ([`http`]): reads the request headers and oidc-auth's published identity
//! once, asks `Injector::decide`, and applies the answer; per-user Vault
//! credentials are fetched with the request paused ([`per_user`]). In the
//! response phase it adds CORS headers and removes headers that echo the
//! credential. Never panics, never logs credentials or tokens.
#![forbid(unsafe_code)]

mod http;
mod metrics;
mod oauth2;
mod per_user;
mod root;

proxy_wasm::main! {{
    mesh_host::plugin::init_logging();
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new(id)) });
}}
