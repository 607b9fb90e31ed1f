//! Minimal, self-contained helpers for the sticky-session end-to-end tests:
//! in-process upstreams, a detached Envoy with a kill-on-drop guard, and a
//! tiny HTTP/1.1 client. (Written before the shared harness on branch
//! `stack` landed; replace with `wasm_tests::{Envoy, Upstream, Request}`
//! once it is merged.)

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The key variable the shipped configs name; only the test's value is passed.
pub const KEY_VAR: &str = "STICKY_KEY";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A port that was free a moment ago (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tcp_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- HTTP client

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// `GET path` with `connection: close`; the whole response is read.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    s.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("incomplete response"))?;
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    Ok(response)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]).into_owned();
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
    out
}

// ---------------------------------------------------------------- upstreams

/// An in-process HTTP upstream on a fixed loopback port: answers every
/// request with `x-upstream-id` and a JSON echo of the request headers;
/// `/healthz` → 200. `connection: close` on every answer, so stopping it
/// (dropping the listener) makes Envoy's next connect fail at once.
pub struct Upstream {
    pub id: String,
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start(id: &str, port: u16) -> Upstream {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, name) = (Arc::clone(&stop), id.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let name = name.clone();
                        std::thread::spawn(move || serve(conn, &name));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Upstream {
            id: id.to_string(),
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes the listening socket: later connects are refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(mut conn: TcpStream, id: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: serde_json::Map<String, serde_json::Value> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().into()))
        .collect();
    let body = serde_json::json!({"id": id, "path": path, "headers": headers}).to_string();
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-upstream-id: {id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes());
}

// ---------------------------------------------------------------- Envoy

/// A running Envoy, killed when dropped (also when a test panics, in which
/// case the tail of its log is printed).
pub struct Envoy {
    child: Child,
    pub port: u16,
    pub admin_port: u16,
    log: PathBuf,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "sticky-e2e-{label}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn envoy_bin() -> PathBuf {
    let bin = repo_root().join(".venv/bin/envoy");
    assert!(bin.exists(), "run `bash scripts/bootstrap.sh` first");
    bin
}

pub fn require_wasm() {
    assert!(
        repo_root().join("dist/sticky_session.wasm").exists(),
        "run `make build FILTERS=sticky-session` first"
    );
}

/// Rewrites a shipped config's example ports (admin 9901, listener 10000,
/// upstreams 8081..8083) to the test's ports.
pub fn with_ports(config: &str, admin: u16, listener: u16, upstreams: &[u16; 3]) -> String {
    let mut out = config
        .replace("port_value: 9901", &format!("port_value: {admin}"))
        .replace("port_value: 10000", &format!("port_value: {listener}"));
    for (example, real) in [8081, 8082, 8083].iter().zip(upstreams) {
        out = out.replace(
            &format!("port_value: {example}"),
            &format!("port_value: {real}"),
        );
    }
    out
}

impl Envoy {
    /// Starts Envoy from the repo root (so `dist/...wasm` resolves) on the
    /// given config with the given environment; waits for `/ready` and the
    /// listener.
    pub fn start(config: &str, admin_port: u16, port: u16, env: &[(&str, &str)]) -> Envoy {
        let dir = TempDir::new("envoy");
        let path = dir.0.join("envoy.yaml");
        std::fs::write(&path, config).unwrap();
        let log = dir.0.join("envoy.log");
        let child = Command::new(envoy_bin())
            .current_dir(repo_root())
            .arg("-c")
            .arg(&path)
            .args(["--base-id", &admin_port.to_string()])
            .args(["--concurrency", "1", "--file-flush-interval-msec", "100"])
            .args(["--log-level", "warn", "--component-log-level", "wasm:info"])
            .args(["--log-path"])
            .arg(&log)
            .env_remove(KEY_VAR)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut envoy = Envoy {
            child,
            port,
            admin_port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let live = get(admin_port, "/ready", &[]).is_ok_and(|r| {
                r.status == 200 && String::from_utf8_lossy(&r.body).trim() == "LIVE"
            });
            if live && tcp_accepts(port) {
                break;
            }
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("envoy exited with {status}:\n{}", envoy.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "envoy not ready:\n{}",
                envoy.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        envoy
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get(self.port, path, headers).unwrap()
    }

    /// A counter from `/stats`, 0 when absent.
    pub fn counter(&self, name: &str) -> u64 {
        let stats = get(self.admin_port, "/stats", &[]).unwrap();
        String::from_utf8_lossy(&stats.body)
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether `/clusters` reports `address` healthy (no failed health flags).
    pub fn host_healthy(&self, address: &str) -> bool {
        let clusters = get(self.admin_port, "/clusters", &[]).unwrap();
        let needle = format!("app::{address}::health_flags::");
        String::from_utf8_lossy(&clusters.body)
            .lines()
            .find_map(|l| l.strip_prefix(&needle))
            .is_some_and(|flags| flags.trim() == "healthy")
    }

    pub fn clusters(&self) -> String {
        let r = get(self.admin_port, "/clusters", &[]).unwrap();
        String::from_utf8_lossy(&r.body)
            .lines()
            .filter(|l| {
                l.contains("health_flags")
                    || l.contains("rq_error")
                    || l.contains("cx_connect_fail")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- envoy log tail ---\n{}", self.log_tail());
        }
    }
}

/// `envoy --mode validate` on a file, with the given environment.
pub fn validate(path: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(envoy_bin())
        .current_dir(repo_root())
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(path)
        .args(["--base-id", &free_port().to_string()])
        .env_remove(KEY_VAR)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
