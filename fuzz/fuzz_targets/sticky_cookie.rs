//! Sticky cookies from random `Cookie` headers. Input: one flag byte, then
//! `\n`-separated lines; the last line is the upstream address for the
//! response decision, the others are `Cookie` header values. `@V` in a line
//! becomes a genuine cookie value (sealed at start-up with the current key,
//! bound to subject `alice`), so the fuzzer can also mix valid cookies with
//! duplicates, junk and other names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::env::{Now, SeededRandom};
use policies::sticky::{load, RequestInput, ResponseInput, StickyPolicy, Subject};

const CONFIG: &str = r#"{
  "mode": "override-host",
  "keys": [{"id": "k2", "env": "KEY_NEW"}, {"id": "k1", "env": "KEY_OLD"}],
  "cookie": {"name": "__Host-sticky", "max_age": "1h", "idle_timeout": "10m"},
  "bind_subject": true,
  "hash_key": {"header": "x-sticky-hash", "identity": true, "session_cookie": "session"},
  "routes": [{"path_prefix": "/static", "enabled": false}]
}"#;
const T0: u64 = 1_800_000_000;

fn env(name: &str) -> Option<String> {
    match name {
        "KEY_NEW" => Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        "KEY_OLD" => Some("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=".into()),
        _ => None,
    }
}

thread_local! {
    // One policy for the whole run, like a VM: its memo of opened cookies
    // carries over from input to input and must never change a decision.
    static SETUP: Option<(StickyPolicy, String)> = setup();
}

fn setup() -> Option<(StickyPolicy, String)> {
    let policy = load(CONFIG.as_bytes(), &env).ok()?;
    let request = policy.on_request(&RequestInput {
        cookie_headers: &[],
        path: "/app",
        subject: &Subject::known(Some("alice")),
        now: Now::from_unix_secs(T0),
    });
    let response = policy.on_response(ResponseInput {
        upstream_address: Some("127.0.0.1:8081"),
        served_by_upstream: &|| true,
        request: &request,
        subject: &Subject::known(Some("alice")),
        now: Now::from_unix_secs(T0),
        rng: &mut SeededRandom(1),
    });
    let set_cookie = response.set_cookie?.expose().to_string();
    let pair = set_cookie.split(';').next()?;
    let value = pair.split_once('=')?.1.to_string();
    Some((policy, value))
}

fuzz_target!(|data: &[u8]| {
    SETUP.with(|setup| {
        if let Some((policy, valid)) = setup {
            run(policy, valid, data);
        }
    });
});

fn run(policy: &StickyPolicy, valid: &str, data: &[u8]) {
    let [flags, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let text = text.replace("@V", valid);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let upstream = lines.pop();
    let subject = match flags % 3 {
        0 => None,
        1 => Some("alice"),
        _ => Some("bob"),
    };
    let path = if flags & 0x10 == 0 {
        "/app"
    } else {
        "/static/x"
    };
    let now = Now::from_unix_secs(T0 + u64::from(flags >> 5) * 300);
    let known = Subject::known(subject);
    let request = policy.on_request(&RequestInput {
        cookie_headers: &lines,
        path,
        subject: &known,
        now,
    });
    // A pin from a cookie bound to alice is never honoured for anyone else,
    // nor once it has expired (remembered or not).
    if let Some(pin) = request.pin {
        assert_eq!(
            subject,
            Some("alice"),
            "a bound cookie pinned another subject"
        );
        assert!(pin.expires_at > now.unix_secs(), "an expired cookie pinned");
    }
    // Bit 3: the answer was a local reply (the endpoint failed).
    let served = flags & 0x08 == 0;
    let response = policy.on_response(ResponseInput {
        upstream_address: upstream,
        served_by_upstream: &|| served,
        request: &request,
        subject: &known,
        now,
        rng: &mut SeededRandom(u64::from(*flags)),
    });
    // A local reply never pins anyone to the endpoint that failed.
    if !served {
        assert!(
            response.set_cookie.is_none(),
            "a cookie was set for a local reply"
        );
    }
}
