//! sticky-session filter: a thin adapter around `policies::sticky`.
//!
//! Request: read the `Cookie` headers, `:path` and the verified subject once,
//! strip client copies of the pin/hash headers, set the pin from a valid
//! cookie. Response: learn the serving endpoint from `upstream.address` and
//! add the `Set-Cookie` the policy decides. Cookie values are never logged.

mod counters;
mod http;
mod root;

use proxy_wasm::traits::RootContext;

proxy_wasm::main! {{
    mesh_host::plugin::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::StickyRoot::default()) });
}}
