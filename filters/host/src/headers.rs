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

/// Every request header as `(lower-case name, text value)`, in order. The
/// bytes Envoy hands over become the strings without a copy when they are
/// valid UTF-8 and already lower case (the usual case: Envoy lower-cases
/// names); invalid UTF-8 bytes become U+FFFD instead of failing the request.
pub fn request_headers_text() -> Vec<(String, String)> {
    map_text(MapType::HttpRequestHeaders)
}

/// Every response header, as [`request_headers_text`] reads the request's.
pub fn response_headers_text() -> Vec<(String, String)> {
    map_text(MapType::HttpResponseHeaders)
}

fn map_text(map: MapType) -> Vec<(String, String)> {
    hostcalls::get_map_bytes(map)
        .unwrap_or_default()
        .into_iter()
        .map(into_text)
        .collect()
}

fn into_text((mut name, value): (String, Vec<u8>)) -> (String, String) {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.make_ascii_lowercase();
    }
    let value = String::from_utf8(value)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (name, value)
}

/// `all` without its pseudo-headers (`:method`, `:path`, ...). Envoy keeps
/// them in front, so this is normally a sub-slice; a copy otherwise.
pub fn without_pseudo<V: Clone>(all: &[(String, V)]) -> std::borrow::Cow<'_, [(String, V)]> {
    let is_pseudo = |(n, _): &(String, V)| n.starts_with(':');
    let front = all.iter().take_while(|h| is_pseudo(h)).count();
    match all.get(front..) {
        Some(rest) if !rest.iter().any(is_pseudo) => std::borrow::Cow::Borrowed(rest),
        _ => std::borrow::Cow::Owned(all.iter().filter(|h| !is_pseudo(h)).cloned().collect()),
    }
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
    fn text_headers_are_lower_case_and_survive_invalid_utf8() {
        let got: Vec<_> = vec![
            ("X-Mixed".to_string(), b"ok".to_vec()),
            ("cookie".to_string(), b"b=\xff2".to_vec()),
        ]
        .into_iter()
        .map(into_text)
        .collect();
        assert_eq!(
            got,
            vec![
                ("x-mixed".to_string(), "ok".to_string()),
                ("cookie".to_string(), "b=\u{fffd}2".to_string()),
            ]
        );
    }

    #[test]
    fn pseudo_headers_are_left_out_wherever_they_are() {
        let h = |n: &str| (n.to_string(), String::new());
        let front = vec![h(":method"), h(":path"), h("cookie"), h("accept")];
        let rest = without_pseudo(&front);
        assert!(matches!(rest, std::borrow::Cow::Borrowed(_)));
        assert_eq!(rest.as_ref(), &[h("cookie"), h("accept")]);
        let mixed = vec![h("cookie"), h(":path"), h("accept")];
        assert_eq!(without_pseudo(&mixed).as_ref(), &[h("cookie"), h("accept")]);
        assert!(without_pseudo(&[h(":path")]).is_empty());
        assert!(without_pseudo::<String>(&[]).is_empty());
    }

    #[test]
    fn presence_ignores_case_and_absent_headers_are_not_present() {
        let headers = vec![("x-sticky-endpoint".to_string(), "MTI3".to_string())];
        assert!(is_present(&headers, "X-Sticky-Endpoint"));
        assert!(!is_present(&headers, "cookie"));
        assert!(!is_present::<String>(&[], "x-sticky-endpoint"));
    }
}
