//! Path hygiene: reject request paths whose meaning could differ between
//! this plugin and the backend.
//!
//! Envoy normally normalizes paths before the plugin sees them, but the
//! plugin must not rely on it (a listener may run without `normalize_path`,
//! `merge_slashes` or with `path_with_escaped_slashes_action: KEEP_UNCHANGED`).
//! A path that a backend might resolve differently from a literal string
//! compare (dot segments, doubled slashes, encoded separators, path params,
//! backslashes) is rejected outright, so an allowlist fails closed instead of
//! being bypassed (`/api/../admin`, `//admin`, `/api/%2e%2e/admin`).

/// Longest path we look at; Envoy's default header limit is 60 KiB, but
/// a path this long is never a legitimate API route.
pub const MAX_PATH_LEN: usize = 8192;

/// Why a path was refused. Every variant maps to the `suspicious_path` reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathRejection {
    /// The path is empty or does not start with `/` (e.g. `OPTIONS *`).
    #[error("the path is not in origin form")]
    NotOriginForm,
    /// The request target is an absolute URI (`http://host/path`).
    #[error("the path is an absolute-form URI")]
    AbsoluteForm,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("the path is too long")]
    TooLong,
    /// A `.` or `..` segment.
    #[error("the path has a dot segment")]
    DotSegment,
    /// An empty segment (`//`).
    #[error("the path has an empty segment")]
    EmptySegment,
    /// `%2e`, `%2f` or `%5c` (any case): an encoded dot, slash or backslash.
    #[error("the path has an encoded dot, slash or backslash")]
    EncodedSeparator,
    /// `%25`: an encoded percent, i.e. double encoding.
    #[error("the path is double-encoded")]
    DoubleEncoding,
    /// An encoded letter, digit, `-`, `_` or `~`, which a normalizing proxy
    /// would have decoded; a backend decoding it would see another path.
    #[error("the path encodes an unreserved character")]
    EncodedUnreserved,
    /// An encoded control character (`%00`–`%1f`, `%7f`).
    #[error("the path has an encoded control character")]
    EncodedControl,
    /// A `%` not followed by two hex digits.
    #[error("the path has a malformed percent-encoding")]
    MalformedEncoding,
    /// A backslash, which some servers treat as `/`.
    #[error("the path has a backslash")]
    Backslash,
    /// A `;` path parameter (`/api;x=1`, Tomcat's `..;/`).
    #[error("the path has a `;` parameter")]
    PathParameter,
    /// A `#` fragment, which clients never send.
    #[error("the path has a fragment")]
    Fragment,
    /// A `?` in what should already be the path without its query.
    #[error("the path has a query delimiter")]
    QueryDelimiter,
    /// A byte ≥ 0x80 (raw non-ASCII; encoded `%C3%A9` is fine).
    #[error("the path has a non-ASCII character")]
    NonAscii,
    /// A control character or a space.
    #[error("the path has a control character or space")]
    ControlChar,
}

impl PathRejection {
    /// The reason code shared by all variants.
    pub fn reason_code(&self) -> &'static str {
        "suspicious_path"
    }
}

/// Checks a request path (without its query). `Ok` means it is safe to match
/// by plain string comparison.
pub fn check_path(path: &str) -> Result<(), PathRejection> {
    if path.len() > MAX_PATH_LEN {
        return Err(PathRejection::TooLong);
    }
    if !path.starts_with('/') {
        return Err(if path.contains("://") {
            PathRejection::AbsoluteForm
        } else {
            PathRejection::NotOriginForm
        });
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|h| hex_value(*h));
                let lo = bytes.get(i + 2).and_then(|l| hex_value(*l));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathRejection::MalformedEncoding);
                };
                check_encoded(hi * 16 + lo)?;
                i += 3;
                continue;
            }
            b'\\' => return Err(PathRejection::Backslash),
            b';' => return Err(PathRejection::PathParameter),
            b'#' => return Err(PathRejection::Fragment),
            b'?' => return Err(PathRejection::QueryDelimiter),
            0x80..=0xff => return Err(PathRejection::NonAscii),
            0x00..=0x20 | 0x7f => return Err(PathRejection::ControlChar),
            _ => {}
        }
        i += 1;
    }
    if path.contains("//") {
        return Err(PathRejection::EmptySegment);
    }
    // A trailing slash (`/api/`) is a normal path, distinct from `/api`.
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(PathRejection::DotSegment);
    }
    Ok(())
}

fn check_encoded(byte: u8) -> Result<(), PathRejection> {
    match byte {
        b'.' | b'/' | b'\\' => Err(PathRejection::EncodedSeparator),
        b'%' => Err(PathRejection::DoubleEncoding),
        0x00..=0x1f | 0x7f => Err(PathRejection::EncodedControl),
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
            Err(PathRejection::EncodedUnreserved)
        }
        _ => Ok(()),
    }
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an HTTP/2 `:path` (or HTTP/1 request target) into path and query.
/// A `#` stays in the path so that [`check_path`] rejects it.
pub fn split_path_and_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}
