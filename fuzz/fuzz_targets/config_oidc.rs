//! oidc-auth plugin configuration: parse and compile (what `on_configure`
//! and the offline validator run). Every environment variable resolves, so
//! compilation gets past secret lookups.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn env(_: &str) -> Option<String> {
    Some("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NQ==".into())
}

fuzz_target!(|data: &[u8]| {
    let _ = policies::oidc::load(data, &env);
});
