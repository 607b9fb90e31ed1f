//! The newcomer's main job: `scripts/stack.sh up` (behind `make run`) starts the
//! whole local stack and its walk-through shows every plugin at work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use wasm_tests::paths::repo_root;

struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg("scripts/stack.sh")
            .arg("down")
            .current_dir(repo_root())
            .output();
    }
}

#[test]
fn stack_up_walks_through_all_plugins_and_down_stops_everything() {
    let root = repo_root();
    let _down = Down;
    let out = Command::new("bash")
        .args(["scripts/stack.sh", "up"])
        .env("STACK_SKIP_BUILD", "1")
        .current_dir(&root)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stack.sh up failed:\n{text}");
    for expected in [
        "GET /api/items, no token                   -> 401 reason missing_token",
        "GET /api/items, alice (api:read)           -> 200 served by upstream",
        "\"x-user-sub\":\"alice\"",
        "POST /api/orders, alice (no api:write)     -> 403 reason insufficient_claims",
        "GET /api/items, expired token              -> 401 reason token_expired",
        "DELETE /api/items as bob (not allowlisted) -> 403 reason route_not_allowed",
        "x-api-key of 22 chars",
        "preflight from http://127.0.0.1:3000       -> 204",
        "open http://127.0.0.1:5173 in a browser",
    ] {
        assert!(
            text.contains(expected),
            "walk-through lacks `{expected}`:\n{text}"
        );
    }
    let pinned = text
        .lines()
        .find(|l| l.contains("5 requests with the cookie were served by:"))
        .unwrap();
    let ids: Vec<&str> = pinned
        .rsplit(':')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "sticky cookie did not pin: {pinned}"
    );

    let down = Command::new("bash")
        .args(["scripts/stack.sh", "down"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(down.status.success());
    assert!(
        !wasm_tests::http::tcp_accepts(10000),
        "Envoy still listening after down"
    );
    assert!(
        !wasm_tests::http::tcp_accepts(9000),
        "IdP still listening after down"
    );
}
