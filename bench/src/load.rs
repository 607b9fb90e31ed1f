//! Load from `wrk` (one thread, keep-alive connections, closed loop) with a Lua script that cycles
//! through a file of request headers, so every request can carry a different token. Envoy's CPU time
//! comes from `/proc/<pid>/stat` (utime + stime, all threads) around the measured run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use wasm_tests::{Error, Result};

/// Lua for wrk: `init` loads `args[1]` (one request per line: `name: value` headers separated by tabs;
/// an empty file = no extra header), pre-formats every request and starts at a random line; `request`
/// takes the next one; `done` prints one JSON line.
const SCRIPT: &str = r#"
local reqs, n, i = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    local headers, any = {}, false
    for h in line:gmatch("[^\t]+") do
      local k, v = h:match("^([^:]+): (.*)$")
      if k then headers[k] = v; any = true end
    end
    if any then n = n + 1; reqs[n] = wrk.format("GET", args[2], headers) end
  end
  if n == 0 then n = 1; reqs[1] = wrk.format("GET", args[2]) end
  math.randomseed(os.time())
  i = math.random(n) - 1
end
function request()
  i = i % n + 1
  return reqs[i]
end
function done(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,"socket_errors":%d}\n',
    s.requests, s.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"#;

/// One `wrk` run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    pub requests: u64,
    pub seconds: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Envoy CPU (user + system) over the run.
    pub cpu_s: f64,
}

/// Writes the Lua script next to the request files.
pub fn script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("cycle.lua");
    std::fs::write(&path, SCRIPT)?;
    Ok(path)
}

/// A request-headers file: one line per request variant, each a list of `name: value` headers.
pub fn headers_file(dir: &Path, name: &str, lines: &[Vec<(&str, String)>]) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.headers"));
    let mut text = lines
        .iter()
        .map(|headers| {
            headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}

pub struct Load<'a> {
    pub script: &'a Path,
    pub connections: u32,
}

impl Load<'_> {
    /// Runs wrk against `addr` for `duration`; fails on any non-2xx answer or socket error (a
    /// rejected request is cheaper and would flatter the filter).
    pub fn run(
        &self,
        addr: &str,
        headers: &Path,
        duration: Duration,
        envoy_pid: u32,
    ) -> Result<Run> {
        let cpu_before = cpu_seconds(envoy_pid)?;
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{}", self.connections)])
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .args(["--timeout", "5s", "-s"])
            .arg(self.script)
            .arg(format!("http://{addr}"))
            .arg("--")
            .arg(headers)
            .arg("/bench")
            .output()
            .map_err(|e| Error(format!("running wrk: {e}")))?;
        let cpu_after = cpu_seconds(envoy_pid)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .ok_or_else(|| {
                Error(format!(
                    "no wrk summary in: {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            })?;
        let v: Value = serde_json::from_str(line)?;
        let num = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or_default();
        let bad = num("status_errors") + num("socket_errors");
        if bad > 0.0 || num("requests") < 1.0 {
            return Err(Error(format!("{addr}: {bad} failed requests: {line}")));
        }
        Ok(Run {
            requests: num("requests") as u64,
            seconds: num("duration_us") / 1e6,
            p50_us: num("p50_us"),
            p99_us: num("p99_us"),
            cpu_s: cpu_after - cpu_before,
        })
    }
}

/// utime + stime of a process (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (1-based).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| Error::msg("unparsable /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or_default()
    };
    Ok((ticks(11) + ticks(12)) / clock_ticks_per_second())
}

/// `getconf CLK_TCK` (100 on Linux).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
