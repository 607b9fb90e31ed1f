//! Per-route enable/disable by path prefix. Deliberately tiny: the general
//! route matcher lives elsewhere; this one only needs "first prefix wins".

/// One rule: requests whose path starts with `path_prefix` are (not) sticky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRule {
    pub path_prefix: String,
    pub enabled: bool,
}

/// Whether stickiness applies to `path` (`:path`, query included or not):
/// the first rule whose prefix matches the path before `?`/`#` decides;
/// no match means enabled. Prefixes compare byte-wise, like Envoy's `prefix`.
pub fn enabled_for(rules: &[RouteRule], path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    rules
        .iter()
        .find(|r| path.starts_with(&r.path_prefix))
        .is_none_or(|r| r.enabled)
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
            ("/", true),
            ("/api/x", true),
            ("/static/img.png", false),
            ("/static/app/main.js", true),
            ("/health?x=/api", false),
            ("/api?/static", true),
            ("/healthz", false),
            ("", true),
        ];
        for (path, want) in cases {
            assert_eq!(enabled_for(&rules, path), want, "{path}");
        }
        assert!(enabled_for(&[], "/static"));
    }
}
