//! HTTP callouts to an Envoy cluster (IdP, Vault, token endpoints).

use proxy_wasm::hostcalls;
use std::time::Duration;

/// A request to dispatch. Headers hold no secrets in logs: callers put
/// secret headers here only through `policies::secret::Secret::expose`.
#[derive(Debug)]
pub struct Callout<'a> {
    pub cluster: &'a str,
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: Option<&'a [u8]>,
    pub timeout: Duration,
}

/// Why a callout could not be dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchError {
    /// The cluster is unknown or a pseudo-header is missing (a config error).
    BadArgument,
    /// The host refused for another reason.
    Host(String),
}

// What logs show: words for an operator, not the variant's name.
impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadArgument => f.write_str("unknown cluster or missing pseudo-header"),
            Self::Host(status) => write!(f, "refused by the host ({status})"),
        }
    }
}

/// Dispatches the call; the answer arrives in `on_http_call_response` with
/// the returned token. A zero timeout means "none" in Envoy, so it is
/// replaced by one second.
pub fn dispatch(c: &Callout<'_>) -> Result<u32, DispatchError> {
    let mut headers = vec![
        (":method", c.method),
        (":path", c.path),
        (":authority", c.authority),
    ];
    headers.extend(c.headers.iter().copied());
    let timeout = if c.timeout.is_zero() {
        Duration::from_secs(1)
    } else {
        c.timeout
    };
    hostcalls::dispatch_http_call(c.cluster, headers, c.body, vec![], timeout).map_err(
        |s| match s {
            proxy_wasm::types::Status::BadArgument => DispatchError::BadArgument,
            other => DispatchError::Host(format!("{other:?}")),
        },
    )
}

/// A callout's answer as seen by the plugin.
#[derive(Debug)]
pub struct CalloutResponse {
    /// The `:status`; Envoy synthesizes 503 (endpoint down) and 504 (timeout).
    pub status: u16,
    /// The raw `Retry-After` header (a 429 or 503 may carry one), read as
    /// bytes: the SDK's text getter traps on non-UTF-8 values.
    pub retry_after: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

impl CalloutResponse {
    /// Reads the answer of the call being handled, limiting the body size:
    /// an IdP or Vault answer is attacker-reachable.
    pub fn read(body_size: usize, max_body: usize) -> Self {
        let status = hostcalls::get_map_value(
            proxy_wasm::types::MapType::HttpCallResponseHeaders,
            ":status",
        )
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(0);
        let retry_after = hostcalls::get_map_value_bytes(
            proxy_wasm::types::MapType::HttpCallResponseHeaders,
            "retry-after",
        )
        .ok()
        .flatten();
        let body = if body_size > max_body {
            Vec::new()
        } else {
            hostcalls::get_buffer(
                proxy_wasm::types::BufferType::HttpCallResponseBody,
                0,
                body_size,
            )
            .ok()
            .flatten()
            .unwrap_or_default()
        };
        Self {
            status,
            retry_after,
            body,
        }
    }

    /// True for a 2xx answer. Envoy's synthetic 503/504 (no endpoint,
    /// timeout) and every other status are failures.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
