//! Module sizes (dist/, after wasm-opt), VM start (from Envoy's own log timestamps) and memory per VM
//! (Envoy's `server.memory_allocated` and RSS with 1 and with 4 workers).

use std::fmt::Write as _;
use std::time::Duration;

use wasm_tests::{paths, Envoy, EnvoyOptions, Result};

use crate::plan::{setups, Stack};

pub struct Module {
    pub file: String,
    pub bytes: u64,
}

pub struct Startup {
    pub name: &'static str,
    /// "Base Wasm created" → first "Thread-Local Wasm created": V8 compiling the module (once per process).
    pub compile_ms: Option<i64>,
    /// Slowest VM: "Thread-Local Wasm created" → its last start-up log line ("configuration accepted" …).
    pub configure_ms: Option<i64>,
    /// "initializing epoch 0" → "starting main dispatch loop".
    pub envoy_start_ms: Option<i64>,
    pub allocated_1: u64,
    pub allocated_4: u64,
    pub rss_1: u64,
    pub rss_4: u64,
}

pub struct StaticFacts {
    pub modules: Vec<Module>,
    pub startups: Vec<Startup>,
}

const PLUGINS: &[&str] = &[
    "none",
    "wasm-minimal",
    "oidc-auth",
    "sticky-session",
    "credential-injector",
];

pub fn measure(stack: &Stack) -> Result<StaticFacts> {
    let modules = [
        "oidc_auth.wasm",
        "sticky_session.wasm",
        "credential_injector.wasm",
        "bench_filter.wasm",
    ]
    .iter()
    .filter_map(|f| {
        let bytes = std::fs::metadata(paths::dist_dir().join(f)).ok()?.len();
        Some(Module {
            file: (*f).to_string(),
            bytes,
        })
    })
    .collect();
    let mut startups = Vec::new();
    for (name, bootstrap, env) in setups(
        stack.upstream.listener_port(),
        stack.bao.port(),
        &stack.jwks,
    ) {
        if !PLUGINS.contains(&name) {
            continue;
        }
        let mut row = Startup {
            name,
            compile_ms: None,
            configure_ms: None,
            envoy_start_ms: None,
            allocated_1: 0,
            allocated_4: 0,
            rss_1: 0,
            rss_4: 0,
        };
        for workers in [1, 4] {
            let mut opts = EnvoyOptions {
                log_level: "info".into(),
                component_log_level: Some("wasm:debug".into()),
                ..EnvoyOptions::default()
            }
            .concurrency(workers);
            for (k, v) in &env {
                opts = opts.env(k, v);
            }
            let mut envoy = Envoy::start(&bootstrap, opts)?;
            // Let every worker VM finish on_configure and the first ticks run.
            std::thread::sleep(Duration::from_millis(1500));
            let allocated = envoy.stat("server.memory_allocated")?.unwrap_or(0);
            let rss = rss_bytes(envoy.process().pid());
            if workers == 1 {
                let log = envoy.log();
                row.compile_ms = compile_ms(&log);
                row.configure_ms = configure_ms(&log);
                row.envoy_start_ms =
                    span(&log, "initializing epoch 0", "starting main dispatch loop");
                row.allocated_1 = allocated;
                row.rss_1 = rss;
            } else {
                row.allocated_4 = allocated;
                row.rss_4 = rss;
            }
        }
        startups.push(row);
    }
    Ok(StaticFacts { modules, startups })
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `[2026-11-23 13:06:44.223][10213][info][wasm] …` → (ms since midnight, thread id).
fn stamp(line: &str) -> Option<(i64, &str)> {
    let time = line.get(12..24)?; // HH:MM:SS.mmm
    let thread = line.get(25..)?.split(']').next()?;
    let mut parts = time.split([':', '.']);
    let mut next = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (h, m, s, ms) = (next()?, next()?, next()?, next()?);
    Some((((h * 60 + m) * 60 + s) * 1000 + ms, thread))
}

fn first(log: &str, needle: &str) -> Option<i64> {
    log.lines()
        .find(|l| l.contains(needle))
        .and_then(stamp)
        .map(|(t, _)| t)
}

fn span(log: &str, from: &str, to: &str) -> Option<i64> {
    Some(first(log, to)? - first(log, from)?)
}

fn compile_ms(log: &str) -> Option<i64> {
    span(log, "Base Wasm created", "Thread-Local Wasm created")
}

/// Plugin lines more than this apart are separate events: on_configure logs in one burst, and a
/// line 1 s later comes from the first tick (e.g. a Vault login at debug level), not from start-up.
const SAME_BURST_MS: i64 = 100;

/// For each VM: from its creation to the last plugin log line of the burst that follows on the
/// same thread.
fn configure_ms(log: &str) -> Option<i64> {
    let lines: Vec<&str> = log.lines().collect();
    let mut slowest = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("Thread-Local Wasm created") {
            continue;
        }
        let Some((created, thread)) = stamp(line) else {
            continue;
        };
        let mut ready = None;
        for next in lines.iter().skip(i + 1) {
            let Some((t, th)) = stamp(next) else { continue };
            if th != thread {
                continue;
            }
            let after_gap = ready.unwrap_or(created);
            if !next.contains("wasm log") || t - after_gap > SAME_BURST_MS {
                break;
            }
            ready = Some(t);
        }
        if let Some(r) = ready {
            slowest = Some(slowest.map_or(r - created, |s: i64| s.max(r - created)));
        }
    }
    slowest
}

impl StaticFacts {
    pub fn markdown(&self) -> String {
        let mut md = String::from("## Module size, VM start, memory\n\n");
        md.push_str("| module (dist/, after wasm-opt) | bytes | KB |\n|---|---:|---:|\n");
        for m in &self.modules {
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.0} |",
                m.file,
                m.bytes,
                m.bytes as f64 / 1024.0
            );
        }
        let none = self.startups.iter().find(|s| s.name == "none");
        md.push_str(
            "\nStart-up from Envoy's log timestamps (ms resolution, 1 worker, one start each): *compile* = \
             \"Base Wasm created\" → first \"Thread-Local Wasm created\" (V8 compiling the module, once per \
             process); *VM start* = slowest VM from \"Thread-Local Wasm created\" to its last plugin log line \
             (on_vm_start + on_configure); *Envoy start* = \"initializing epoch 0\" → \"starting main dispatch loop\".\n\
             Memory: `server.memory_allocated` (heap, after 1.5 s) and RSS with `--concurrency 1` and `4`; \
             *per extra VM* = (4-worker − 1-worker) / 3 minus the same for no filter (workers cost memory too).\n\n",
        );
        md.push_str("| setup | compile ms | VM start ms | Envoy start ms | heap 1w MB | heap 4w MB | RSS 1w MB | RSS 4w MB | heap per extra VM KB | RSS per extra VM KB |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let mb = |b: u64| b as f64 / 1_048_576.0;
        let per_vm = |a4: u64, a1: u64, n4: u64, n1: u64| {
            ((a4 as f64 - a1 as f64) - (n4 as f64 - n1 as f64)) / 3.0 / 1024.0
        };
        let opt = |v: Option<i64>| v.map_or("—".to_string(), |v| v.to_string());
        for s in &self.startups {
            let (heap_vm, rss_vm) = match none {
                Some(n) if s.name != "none" => (
                    format!(
                        "{:.0}",
                        per_vm(s.allocated_4, s.allocated_1, n.allocated_4, n.allocated_1)
                    ),
                    format!("{:.0}", per_vm(s.rss_4, s.rss_1, n.rss_4, n.rss_1)),
                ),
                _ => ("—".into(), "—".into()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {heap_vm} | {rss_vm} |",
                s.name,
                opt(s.compile_ms),
                opt(s.configure_ms),
                opt(s.envoy_start_ms),
                mb(s.allocated_1),
                mb(s.allocated_4),
                mb(s.rss_1),
                mb(s.rss_4)
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_start_ends_with_the_configure_burst_not_the_first_tick() {
        let log = "\
[2026-11-23 19:36:10.100][42][info][wasm] Thread-Local Wasm created 1 now active
[2026-11-23 19:36:10.101][42][info][wasm] wasm log x: starting
[2026-11-23 19:36:10.103][42][info][wasm] wasm log x: configuration accepted (1 backends)
[2026-11-23 19:36:11.104][42][debug][wasm] wasm log x: vault: login succeeded
";
        assert_eq!(configure_ms(log), Some(3));
        // A line on another thread or a non-plugin line ends it too.
        let log = log.replace("[42][debug]", "[43][debug]");
        assert_eq!(configure_ms(&log), Some(3));
    }
}
