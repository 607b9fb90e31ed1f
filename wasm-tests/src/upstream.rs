//! Echo upstreams (`mesh-config/local/upstream/echo.mjs`): answer with what they received.

use std::process::Command;
use std::time::Duration;

use crate::http;
use crate::process::{Process, TempDir};
use crate::{paths, ports, Result};

/// A running echo server; its responses carry `x-upstream-id: <id>`.
#[derive(Debug)]
pub struct Upstream {
    process: Process,
    id: String,
    port: u16,
    _dir: TempDir,
}

impl Upstream {
    /// Starts one echo server on a free port and waits for `/healthz`.
    pub fn start(id: &str) -> Result<Upstream> {
        Upstream::start_on(id, ports::free_port()?)
    }

    /// Starts one echo server on `port` (e.g. to bring a stopped endpoint
    /// back at the same address) and waits for `/healthz`.
    pub fn start_on(id: &str, port: u16) -> Result<Upstream> {
        let dir = TempDir::new(&format!("upstream-{id}"))?;
        let mut cmd = Command::new(paths::node_bin());
        cmd.arg(paths::echo_script()?)
            .args(["--port", &port.to_string(), "--id", id]);
        let mut process =
            Process::spawn(&format!("upstream {id}"), cmd, &dir.join("upstream.log"))?;
        let addr = format!("127.0.0.1:{port}");
        process.wait_ready("healthy", Duration::from_secs(30), || {
            http::get(&addr, "/healthz").is_ok_and(|r| r.status == 200)
        })?;
        Ok(Upstream {
            process,
            id: id.to_string(),
            port,
            _dir: dir,
        })
    }

    /// Starts `n` servers with ids `<prefix>-0`, `<prefix>-1`, ...
    pub fn start_many(prefix: &str, n: usize) -> Result<Vec<Upstream>> {
        (0..n)
            .map(|i| Upstream::start(&format!("{prefix}-{i}")))
            .collect()
    }

    /// Its id (the `x-upstream-id` value).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it now (to simulate a dead endpoint).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// The ports of several upstreams (for [`crate::Bootstrap::backend`]).
pub fn ports_of(upstreams: &[Upstream]) -> Vec<u16> {
    upstreams.iter().map(Upstream::port).collect()
}
