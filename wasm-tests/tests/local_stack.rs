//! The newcomer's main job: `scripts/stack.sh up` (behind `make run`) starts the
//! whole local stack and its walk-through shows every plugin at work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};
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
    assert!(
        down.status.success(),
        "stack.sh down failed:\n{}",
        String::from_utf8_lossy(&down.stderr)
    );
    for (port, what) in [
        (10000, "Envoy"),
        (9000, "IdP"),
        (8200, "OpenBao"),
        (5173, "SPA"),
    ] {
        assert!(
            port_released(port),
            "{what} still listening on :{port} after down; listeners:\n{}",
            listeners()
        );
    }
}

/// A listener closes when its process has fully exited, a moment after `down` returns on a busy machine.
fn port_released(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while wasm_tests::http::tcp_accepts(port) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn listeners() -> String {
    Command::new("ss")
        .arg("-ltnp")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(ss unavailable: {e})"))
}
