//! oidc-auth: verifies OIDC/JWT bearer tokens and authorizes requests by
//! route and claims. A thin adapter: decisions are `policies::oidc`; this
//! crate reads the request once, applies the verdict, and fetches keys.
#![forbid(unsafe_code)]

mod host_crypto;
mod http;
mod keys;
mod metrics;
mod root;

proxy_wasm::main! {{
    mesh_host::plugin::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new()) });
}}
