//! Header writes that survive hostile input, and the helpers around whole
//! maps read with [`HeaderMap`]. The SDK's `String` getters
//! (`get_http_request_header(s)`) `unwrap` UTF-8 conversion, so one request
//! with a Latin-1 byte in any header value would trap the VM; maps are read
//! as bytes here and converted leniently.

use crate::header_map::HeaderMap;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;
use std::borrow::Cow;

/// `all` without its pseudo-headers (`:method`, `:path`, ...). Envoy keeps
/// them in front, so this is normally a sub-slice; a copy otherwise.
pub fn without_pseudo<'a, 'h>(all: &'a [(&'h str, &'h str)]) -> Cow<'a, [(&'h str, &'h str)]> {
    let is_pseudo = |(n, _): &(&str, &str)| n.starts_with(':');
    let front = all.iter().take_while(|h| is_pseudo(h)).count();
    match all.get(front..) {
        Some(rest) if !rest.iter().any(is_pseudo) => Cow::Borrowed(rest),
        _ => Cow::Owned(all.iter().filter(|h| !is_pseudo(h)).copied().collect()),
    }
}

/// Removes every copy of a request header. False when the host refused.
pub fn remove_request_header(name: &str) -> bool {
    log_failure(
        "remove request header",
        name,
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name),
    )
}

/// Removes every copy of each header in `names` that the request has
/// (`all`, as read with [`HeaderMap::request`]): a header the client did
/// not send costs no hostcall. False when the host refused one.
pub fn remove_request_headers_present<S: AsRef<str>>(all: &HeaderMap, names: &[S]) -> bool {
    let mut ok = true;
    for name in names.iter().map(AsRef::as_ref) {
        if all.has(name) {
            ok &= remove_request_header(name);
        }
    }
    ok
}

/// Sets (replaces) a request header. False when the host refused.
pub fn set_request_header(name: &str, value: &str) -> bool {
    log_failure(
        "set request header",
        name,
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value)),
    )
}

/// Adds a response header, keeping existing copies (`set-cookie`). False
/// when the host refused.
pub fn add_response_header(name: &str, value: &str) -> bool {
    log_failure(
        "add response header",
        name,
        hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value),
    )
}

/// Removes every copy of a response header. False when the host refused.
pub fn remove_response_header(name: &str) -> bool {
    log_failure(
        "remove response header",
        name,
        hostcalls::remove_map_value(MapType::HttpResponseHeaders, name),
    )
}

/// Logs the header name only: values may be credentials.
fn log_failure(what: &str, name: &str, result: Result<(), proxy_wasm::types::Status>) -> bool {
    match result {
        Ok(()) => true,
        Err(status) => {
            log::warn!("could not {what} {name}: {status:?}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_headers_are_left_out_wherever_they_are() {
        let front = [
            (":method", ""),
            (":path", ""),
            ("cookie", ""),
            ("accept", ""),
        ];
        let rest = without_pseudo(&front);
        assert!(matches!(rest, Cow::Borrowed(_)));
        assert_eq!(rest.as_ref(), &[("cookie", ""), ("accept", "")]);
        let mixed = [("cookie", ""), (":path", ""), ("accept", "")];
        assert_eq!(
            without_pseudo(&mixed).as_ref(),
            &[("cookie", ""), ("accept", "")]
        );
        assert!(without_pseudo(&[(":path", "")]).is_empty());
        assert!(without_pseudo(&[]).is_empty());
    }
}
