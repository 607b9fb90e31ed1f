//! Response side: a backend that echoes the injected credential (debug
//! endpoints, error pages reflecting request headers) must not hand it to
//! the browser.

use crate::secret::Secret;

/// Shortest credential field value searched for on its own: shorter values
/// (a user name such as `app`) would match innocent headers.
const MIN_FIELD_LEN: usize = 8;

/// Names (lower case, deduplicated) of response headers whose value
/// contains the injected header value or one of the credential's field
/// values (of at least 8 characters). The filter removes them.
pub fn echoed_response_headers(
    headers: &[(&str, &str)],
    injected: &Secret,
    fields: &[Secret],
) -> Vec<String> {
    let needles: Vec<&str> = std::iter::once(injected.expose())
        .filter(|v| !v.is_empty())
        .chain(
            fields
                .iter()
                .map(Secret::expose)
                .filter(|v| v.len() >= MIN_FIELD_LEN),
        )
        .collect();
    let mut out: Vec<String> = Vec::new();
    for (name, value) in headers {
        if needles.iter().any(|n| value.contains(n)) {
            let lower = name.to_ascii_lowercase();
            if !out.contains(&lower) {
                out.push(lower);
            }
        }
    }
    out
}
