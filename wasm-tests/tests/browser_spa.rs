//! The shipped single-page app (`mesh-config/local/spa`) in a real headless Chromium, driven
//! through ChromeDriver (WebDriver JSON over HTTP), against the shipped Envoy config
//! `mesh-config/envoy/browser-gate.yaml` (oidc-auth THEN credential-injector), the real IdP
//! (authorization code + PKCE through its dev login form) and OpenBao.
//!
//! Chromium and ChromeDriver come from `scripts/bootstrap.sh` (Debian `chromium`,
//! `chromium-driver`); without them the test FAILS, it does not skip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wasm_tests::paths::{node_bin, repo_root};
use wasm_tests::{
    ports, Envoy, EnvoyOptions, Idp, OpenBao, Process, TempDir, TokenRequest, Upstream,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const BACKEND_KEY: &str = "spa-backend-key-4c1e9a7d0b";
const WAIT: Duration = Duration::from_secs(20);

/// One WebDriver call. ChromeDriver keeps connections open whatever `Connection: close` says, so
/// the harness client (which reads to EOF) cannot be used: this one reads `Content-Length` bytes.
fn webdriver(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use std::io::{Read, Write};
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, len) = loop {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "WebDriver {method} {path}: connection closed early");
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            break (end + 4, len);
        }
    };
    while raw.len() < head_end + len {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "WebDriver {method} {path}: body cut short");
        raw.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let value = serde_json::from_slice(&raw[head_end..head_end + len]).unwrap_or(Value::Null);
    (status, value)
}

/// A WebDriver session on a ChromeDriver process.
struct Browser {
    addr: String,
    session: String,
    _driver: Process,
    _profile: TempDir,
}

impl Browser {
    fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: run `bash scripts/bootstrap.sh` (installs Debian chromium and chromium-driver)"
            );
        }
        let profile = TempDir::new("chromium-profile").unwrap();
        let port = ports::free_port().unwrap();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"));
        let mut driver =
            Process::spawn("chromedriver", cmd, &profile.join("chromedriver.log")).unwrap();
        let addr = format!("127.0.0.1:{port}");
        driver
            .wait_ready("chromedriver /status ready", WAIT, || {
                std::net::TcpStream::connect(&addr).is_ok()
                    && webdriver(&addr, "GET", "/status", None).1["value"]["ready"] == true
            })
            .unwrap();
        let data_dir = profile.join("data");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": 15000, "pageLoad": 20000},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", data_dir.display())
                ]
            }
        }}});
        let (_, v) = webdriver(&addr, "POST", "/session", Some(&caps));
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}\n{}", driver.log()))
            .to_string();
        Browser {
            addr,
            session,
            _driver: driver,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("/session/{}{path}", self.session);
        let (status, v) = webdriver(&self.addr, method, &url, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn js_async(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn find(&self, css: &str) -> Option<String> {
        let url = format!("/session/{}/element", self.session);
        let (status, v) = webdriver(
            &self.addr,
            "POST",
            &url,
            Some(&json!({"using": "css selector", "value": css})),
        );
        // The W3C element reference is the object's only value (key `element-6066-…`).
        (status == 200).then(|| {
            let element = v["value"].as_object().unwrap();
            element
                .values()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
    }

    fn click(&self, css: &str) {
        let id = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Polls `script` (an expression) until it is truthy.
    fn wait_for(&self, what: &str, expr: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(&format!("return ({expr});"));
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: not within {WAIT:?} (at {})\n{}",
                self.url(),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, css: &str) -> String {
        self.js(&format!(
            "const e = document.querySelector({css:?}); return e ? e.innerText : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Everything the page's origin (and the browser profile) holds that a script or an
    /// extension could read: the DOM, storage, and every cookie of every site.
    fn visible_state(&self) -> String {
        let page = self.js(
            "const dump = (s) => Object.keys(s).map((k) => k + '=' + s.getItem(k)).join('\\n');
             return [document.documentElement.outerHTML, dump(localStorage), dump(sessionStorage),
                     document.cookie].join('\\n----\\n');",
        );
        let cookies = self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Network.getAllCookies", "params": {}})),
        );
        format!("{}\n----\n{cookies}", page.as_str().unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("/session/{}", self.session);
        if std::net::TcpStream::connect(&self.addr).is_ok() {
            let _ = webdriver(&self.addr, "DELETE", &url, None);
        }
    }
}

/// The shipped `browser-gate.yaml` with the ports of this test's components.
fn shipped_gate_config(idp: &Idp, bao: &OpenBao, backend: u16, spa_origin: &str) -> String {
    let path = repo_root().join("mesh-config/envoy/browser-gate.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let swaps = [
        ("port_value: 9903", "port_value: {{ADMIN_PORT}}".to_string()),
        (
            "port_value: 10002",
            "port_value: {{LISTENER_PORT}}".to_string(),
        ),
        ("port_value: 8081", format!("port_value: {backend}")),
        ("port_value: 9000", format!("port_value: {}", idp.port())),
        ("port_value: 8200", format!("port_value: {}", bao.port())),
        ("http://127.0.0.1:9000", idp.issuer()),
        ("127.0.0.1:8200", bao.addr()),
        ("http://127.0.0.1:5173", spa_origin.to_string()),
    ];
    for (from, to) in swaps {
        assert!(
            text.contains(from),
            "browser-gate.yaml no longer has `{from}`"
        );
        text = text.replace(from, &to);
    }
    text
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn spa_logs_in_with_pkce_and_calls_the_backend_through_envoy_without_ever_seeing_the_key() {
    let browser = Browser::start();
    let spa_port = ports::free_port().unwrap();
    let spa_origin = format!("http://127.0.0.1:{spa_port}");
    let idp =
        Idp::start_with(&[("IDP_SPA_REDIRECT_URIS", &format!("{spa_origin}/callback"))]).unwrap();

    // OpenBao as the local stack seeds it: KV v2 secret/backend, AppRole for the proxy.
    let bao = OpenBao::start().unwrap();
    bao.kv_put("backend", &json!({ "api_key": BACKEND_KEY }))
        .unwrap();
    bao.write_policy(
        "backend-read",
        r#"path "secret/data/backend" { capabilities = ["read"] }"#,
    )
    .unwrap();
    let (role_id, secret_id) = bao.approle("mesh-proxy", &["backend-read"], "10m").unwrap();
    let upstream = Upstream::start("payments").unwrap();
    let envoy = Envoy::start(
        &shipped_gate_config(&idp, &bao, upstream.port(), &spa_origin),
        EnvoyOptions::default()
            .env("VAULT_ROLE_ID", &role_id)
            .env("VAULT_SECRET_ID", &secret_id),
    )
    .unwrap();
    let api = format!("http://{}", envoy.addr());

    // The SPA's static server, on its own origin.
    let spa_dir = TempDir::new("spa").unwrap();
    let mut cmd = Command::new(node_bin());
    cmd.arg(repo_root().join("mesh-config/local/spa/serve.mjs"))
        .args(["--port", &spa_port.to_string()])
        .args(["--idp", &idp.issuer(), "--api", &api]);
    let mut spa = Process::spawn("spa", cmd, &spa_dir.join("spa.log")).unwrap();
    let spa_addr = format!("127.0.0.1:{spa_port}");
    spa.wait_ready("serving", WAIT, || {
        wasm_tests::http::get(&spa_addr, "/healthz").is_ok_and(|r| r.status == 200)
    })
    .unwrap();

    // Wait until the proxy has the key (first Vault read after Envoy is ready).
    let probe = idp.mint(&TokenRequest::default()).unwrap().token;
    let start = Instant::now();
    while envoy
        .request("GET", "/api/payments/status")
        .bearer(&probe)
        .send()
        .unwrap()
        .status
        != 200
    {
        assert!(
            start.elapsed() < WAIT,
            "no key from OpenBao\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let upstream_before = envoy
        .stat("cluster.backend.upstream_rq_total")
        .unwrap()
        .unwrap_or(0);
    let preflights_before = envoy
        .stat("wasmcustom.credential_injector.preflight")
        .unwrap()
        .unwrap_or(0);

    // Log in: code + PKCE through the IdP's dev login (any user name) and consent pages.
    let t0 = Instant::now();
    browser.goto(&format!("{spa_origin}/"));
    browser.wait_for(
        "the app loaded",
        "document.body.dataset.state === 'signed-out'",
    );
    browser.click("#login");
    let login_start = Instant::now();
    loop {
        let url = browser.url();
        if url.starts_with(&spa_origin)
            && browser.js("return document.body.dataset.state;") == "signed-in"
        {
            break;
        }
        assert!(
            login_start.elapsed() < WAIT,
            "login did not finish (at {url}):\n{}\nIdP log:\n{}",
            browser.text("body"),
            idp.log()
        );
        if url.starts_with(&idp.issuer()) {
            if browser.find("input[name=login]").is_some() {
                browser.type_into("input[name=login]", "alice");
                browser.type_into("input[name=password]", "any");
                browser.click("button[type=submit]");
            } else if browser.find("button[type=submit]").is_some() {
                browser.click("button[type=submit]"); // consent
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        browser.text("#who").contains("Signed in as alice"),
        "{}",
        browser.text("#who")
    );
    eprintln!("PKCE login in the browser took {:?}", login_start.elapsed());

    // The allowed call: cross-origin, preflighted (Authorization header), readable.
    browser.click("#call-allowed");
    browser.wait_for("the allowed call", "document.body.dataset.calls === '1'");
    assert_eq!(
        browser.text("#status"),
        "200",
        "{}",
        browser.text("#answer")
    );
    let answer = browser.text("#answer");
    assert!(answer.contains("got GET /v1/quiet/status"), "{answer}");
    let key_hash = sha256_hex(BACKEND_KEY);
    assert!(
        answer.contains(&format!(
            "present ({} bytes, sha256 {}",
            BACKEND_KEY.len(),
            &key_hash[..12]
        )),
        "the backend received the Vault key: {answer}"
    );
    assert!(answer.contains("authorization forwarded: no"), "{answer}");
    assert_eq!(
        envoy
            .stat("cluster.backend.upstream_rq_total")
            .unwrap()
            .unwrap_or(0),
        upstream_before + 1,
        "exactly the actual GET reached the backend, not its preflight"
    );
    assert!(
        envoy
            .stat("wasmcustom.credential_injector.preflight")
            .unwrap()
            .unwrap_or(0)
            > preflights_before,
        "the browser sent a CORS preflight and the proxy answered it"
    );

    // What a script on the page can read of a response: body and exposed headers.
    let seen = browser.js_async(
        "const done = arguments[arguments.length - 1];
         fetch(window.SPA_CONFIG.api + '/api/payments/status',
               {headers: {authorization: 'Bearer ' + accessToken}})
           .then(async (r) => done({status: r.status,
                                    headers: [...r.headers].map((h) => h.join(': ')).join('\\n'),
                                    body: await r.text()}))
           .catch((e) => done({error: String(e)}));",
    );
    assert_eq!(seen["status"], 200, "{seen}");
    assert!(
        !seen.to_string().contains(BACKEND_KEY),
        "JS-visible response leaks the key"
    );

    // A route that is not on the allowlist: refused already at the preflight; the browser
    // never sends the request (the app sees a CORS/network error, the backend nothing).
    let upstream_before = envoy
        .stat("cluster.backend.upstream_rq_total")
        .unwrap()
        .unwrap_or(0);
    browser.click("#call-denied");
    browser.wait_for("the disallowed call", "document.body.dataset.calls === '2'");
    assert_eq!(
        browser.text("#status"),
        "network/CORS error",
        "{}",
        browser.text("#answer")
    );

    // An allowed route whose claim the user lacks: the app reads the 403 and its reason.
    browser.click("#call-claim");
    browser.wait_for(
        "the claim-guarded call",
        "document.body.dataset.calls === '3'",
    );
    assert_eq!(
        browser.text("#status"),
        "403",
        "{}",
        browser.text("#answer")
    );
    let answer = browser.text("#answer");
    assert!(answer.starts_with("claim_missing: "), "{answer}");
    assert_eq!(
        envoy
            .stat("cluster.backend.upstream_rq_total")
            .unwrap()
            .unwrap_or(0),
        upstream_before,
        "refused calls reached the backend"
    );

    // Nowhere the browser keeps state holds the backend key.
    let state = browser.visible_state();
    assert!(state.contains("Signed in as alice"), "the dump is real");
    assert!(
        !state.contains(BACKEND_KEY),
        "the backend key reached the browser"
    );
    assert!(
        !state.contains(&key_hash),
        "the key's full hash is not shown either"
    );
    eprintln!("whole browser flow took {:?}", t0.elapsed());
}
