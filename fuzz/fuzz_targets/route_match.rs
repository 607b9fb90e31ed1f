//! Route matching with a random method and request target against a fixed
//! table that uses every matcher kind. Beyond "never panics", a match must
//! mean what the route says: a path judged to be under the case-sensitive
//! `/admin` prefix really is, and no matched path has a dot or empty segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::config::load;
use policies::routes::{RouteMatchConfig, RouteRequest, RouteTable, RouteVerdict};
use std::sync::OnceLock;

const ROUTES: &[&str] = &[
    r#"{"path": {"prefix": "/admin"}}"#,
    r#"{"methods": ["GET", "HEAD"], "path": {"exact": "/api/items"}}"#,
    r#"{"path": {"template": "/users/{id}/orders/{order}"}}"#,
    r#"{"path": {"template": "/files/{rest=**}"}}"#,
    r#"{"path": {"regex": "/v[0-9]+/reports/[a-z]+"}, "case_insensitive": true}"#,
    r#"{"path": {"prefix": "/Search"}, "case_insensitive": true,
        "query": [{"name": "format", "one_of": ["json", "csv"]}, {"name": "debug", "present": false}]}"#,
    r#"{"methods": ["POST"], "path": {"prefix": "/api/"}}"#,
];

fn table() -> &'static RouteTable<usize> {
    static TABLE: OnceLock<RouteTable<usize>> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::new(
            ROUTES
                .iter()
                .enumerate()
                .filter_map(|(i, r)| load::<RouteMatchConfig>(r.as_bytes()).ok().map(|m| (m, i)))
                .collect(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = text.split_once(' ').unwrap_or(("GET", text));
    let req = RouteRequest::from_target(method, target);
    let verdict = table().find(&req);
    if let RouteVerdict::Matched { value, .. } = verdict {
        let path = req.path;
        assert!(
            !path.contains("/../") && !path.contains("/./") && !path.contains("//"),
            "matched a path with dot or empty segments: {path:?}"
        );
        assert!(!path.ends_with("/..") && !path.ends_with("/."), "{path:?}");
        if *value == 0 {
            let rest = path.strip_prefix("/admin");
            assert!(
                rest.is_some_and(|r| r.is_empty() || r.starts_with('/')),
                "/admin matched {path:?}"
            );
        }
    }
});
