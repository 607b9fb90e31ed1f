//! Per-route rules by path prefix: enable/disable stickiness and pick the
//! cookie settings (`SessionSettings`) a route uses. Deliberately tiny: the
//! general route matcher lives elsewhere; this one only needs "first prefix wins".

use super::config::HashKeyPolicy;
use super::endpoint::PinMode;
use super::set_cookie::CookieAttributes;

/// The cookie and pinning settings a request uses, compiled once for the
/// top level and for each route with overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionSettings {
    pub(crate) mode: PinMode,
    pub(crate) cookie: CookieAttributes,
    pub(crate) max_age_secs: u64,
    /// Sliding expiry window; `None`: the cookie lives `max_age_secs`.
    pub(crate) idle_timeout_secs: Option<u64>,
    pub(crate) bind_subject: bool,
}

/// One rule: requests whose path starts with `path_prefix` are (not) sticky,
/// with their own settings when the route overrides any (else the top level's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRule {
    pub path_prefix: String,
    pub enabled: bool,
    pub(crate) session: Option<SessionSettings>,
    /// The effective hash key here: the route's own, the inherited top-level
    /// one, or none (turned off, or configured nowhere).
    pub(crate) hash_key: Option<HashKeyPolicy>,
}

/// The index of the rule deciding `path` (`:path`, query included or not):
/// the first rule whose prefix matches the path before `?`/`#`; `None` means
/// the top level applies. Prefixes compare byte-wise, like Envoy's `prefix`.
pub(crate) fn rule_for(rules: &[RouteRule], path: &str) -> Option<usize> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    rules.iter().position(|r| path.starts_with(&r.path_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn rule(prefix: &str, enabled: bool) -> RouteRule {
        RouteRule {
            path_prefix: prefix.into(),
            enabled,
            session: None,
            hash_key: None,
        }
    }

    #[test]
    fn first_matching_prefix_decides() {
        let rules = [
            rule("/static/app", true),
            rule("/static", false),
            rule("/health", false),
        ];
        let cases = [
            ("/", None),
            ("/api/x", None),
            ("/static/img.png", Some(1)),
            ("/static/app/main.js", Some(0)),
            ("/health?x=/api", Some(2)),
            ("/api?/static", None),
            ("/healthz", Some(2)),
            ("", None),
        ];
        for (path, want) in cases {
            assert_eq!(rule_for(&rules, path), want, "{path}");
        }
        assert!(rule_for(&[], "/static").is_none());
    }
}
