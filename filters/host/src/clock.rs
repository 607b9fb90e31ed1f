//! The proxy's wall clock.

use policies::env::Now;
use std::time::UNIX_EPOCH;

pub fn now() -> Now {
    let ms = proxy_wasm::hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Now::from_unix_ms(ms)
}
