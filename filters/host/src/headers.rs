//! Header access that survives hostile input. The SDK's `String` getters
//! (`get_http_request_header(s)`) `unwrap` UTF-8 conversion, so one request
//! with a Latin-1 byte in any header value would trap the VM; here values
//! are read as bytes and converted leniently.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

/// Every request header as `(lower-case name, value bytes)`, in order,
/// repeated names included (e.g. several `cookie` headers). Empty when the
/// host has no request headers (wrong phase).
pub fn request_headers() -> Vec<(String, Vec<u8>)> {
    hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default()
}

/// The values of header `name` (lower-case) in `headers`, as text; invalid
/// UTF-8 bytes become U+FFFD instead of failing the request.
pub fn values_of<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v))
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
/// (`all`, as read with [`request_headers`]): a header the client did not
/// send costs no hostcall. False when the host refused one.
pub fn remove_request_headers_present<V, S: AsRef<str>>(all: &[(String, V)], names: &[S]) -> bool {
    let mut ok = true;
    for name in names.iter().map(AsRef::as_ref) {
        if is_present(all, name) {
            ok &= remove_request_header(name);
        }
    }
    ok
}

fn is_present<V>(all: &[(String, V)], name: &str) -> bool {
    all.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
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
    fn values_of_returns_every_copy_and_survives_invalid_utf8() {
        let headers = vec![
            ("cookie".to_string(), b"a=1".to_vec()),
            (":path".to_string(), b"/x".to_vec()),
            ("cookie".to_string(), b"b=\xff2".to_vec()),
        ];
        let got: Vec<String> = values_of(&headers, "cookie")
            .map(|c| c.into_owned())
            .collect();
        assert_eq!(got, vec!["a=1".to_string(), "b=\u{fffd}2".to_string()]);
        assert_eq!(values_of(&headers, "host").count(), 0);
    }

    #[test]
    fn presence_ignores_case_and_absent_headers_are_not_present() {
        let headers = vec![("x-sticky-endpoint".to_string(), "MTI3".to_string())];
        assert!(is_present(&headers, "X-Sticky-Endpoint"));
        assert!(!is_present(&headers, "cookie"));
        assert!(!is_present::<String>(&[], "x-sticky-endpoint"));
    }
}
