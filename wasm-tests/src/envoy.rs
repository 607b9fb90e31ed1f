//! A real Envoy 1.40 on free loopback ports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::Context;
use crate::http::{self, Request, Response};
use crate::process::{Process, TempDir};
use crate::{paths, ports, template, Error, Result};

/// How to start Envoy.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    /// Worker threads (`--concurrency`); default 1 (CI has 2 cores).
    pub concurrency: u32,
    /// Extra `{{NAME}}` values for the config template.
    pub vars: Vec<(String, String)>,
    /// `--log-level` (default `info`).
    pub log_level: String,
    /// `--component-log-level`, e.g. `wasm:debug`.
    pub component_log_level: Option<String>,
    /// Environment variables for the Envoy process (for `vm_config.environment_variables.host_env_keys`).
    pub env: Vec<(String, String)>,
    /// How long to wait for `/ready` and the listener (default 30 s).
    pub startup_timeout: Duration,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            concurrency: 1,
            vars: Vec::new(),
            log_level: "info".to_string(),
            component_log_level: Some("wasm:debug".to_string()),
            env: Vec::new(),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

impl EnvoyOptions {
    /// Adds a template value.
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets `--concurrency`.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }
}

/// Result of `envoy --mode validate`.
#[derive(Debug)]
pub struct Validation {
    /// Exit status was 0.
    pub ok: bool,
    /// Combined stdout and stderr.
    pub output: String,
}

/// A running Envoy. Dropping it kills it.
#[derive(Debug)]
pub struct Envoy {
    process: Process,
    admin_port: u16,
    listener_port: u16,
    config_path: PathBuf,
    _dir: TempDir,
}

impl Envoy {
    /// Renders `config_template` and starts Envoy from the repo root (so `dist/x.wasm` resolves).
    ///
    /// Built-in template values: `{{LISTENER_PORT}}`, `{{ADMIN_PORT}}` (free ports), `{{REPO_ROOT}}`,
    /// `{{DIST}}` (absolute `dist/`). Waits for admin `/ready` = LIVE and, when the template uses
    /// `{{LISTENER_PORT}}`, for that listener to accept connections.
    pub fn start(config_template: &str, opts: EnvoyOptions) -> Result<Envoy> {
        let dir = TempDir::new("envoy")?;
        let admin_port = ports::free_port()?;
        let listener_port = ports::free_port()?;
        let root = paths::repo_root().display().to_string();
        let dist = paths::dist_dir().display().to_string();
        let (admin, listener) = (admin_port.to_string(), listener_port.to_string());
        let mut vars: Vec<(&str, &str)> = vec![
            ("ADMIN_PORT", &admin),
            ("LISTENER_PORT", &listener),
            ("REPO_ROOT", &root),
            ("DIST", &dist),
        ];
        vars.extend(opts.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let config = template::render(config_template, &vars)?;
        let config_path = dir.join("envoy.yaml");
        std::fs::write(&config_path, &config)?;

        let mut cmd = Command::new(paths::envoy_bin()?);
        cmd.current_dir(paths::repo_root())
            .arg("-c")
            .arg(&config_path)
            // The admin port is unique among running Envoys, so it is a unique base id too.
            .args(["--base-id", &admin])
            .args(["--concurrency", &opts.concurrency.to_string()])
            .args(["--file-flush-interval-msec", "100"])
            .args(["--log-level", &opts.log_level])
            .envs(opts.env.iter().map(|(k, v)| (k, v)));
        if let Some(c) = &opts.component_log_level {
            cmd.args(["--component-log-level", c]);
        }
        let mut process = Process::spawn("envoy", cmd, &dir.join("envoy.log"))?;
        let admin_addr = format!("127.0.0.1:{admin_port}");
        process.wait_ready("ready (admin /ready LIVE)", opts.startup_timeout, || {
            http::get(&admin_addr, "/ready")
                .is_ok_and(|r| r.status == 200 && r.text().trim() == "LIVE")
        })?;
        if config_template.contains("{{LISTENER_PORT}}") {
            process.wait_ready("accepting on the listener", opts.startup_timeout, || {
                http::tcp_accepts(listener_port)
            })?;
        }
        Ok(Envoy {
            process,
            admin_port,
            listener_port,
            config_path,
            _dir: dir,
        })
    }

    /// Runs `envoy --mode validate -c <path>` from the repo root (loads wasm, runs `on_configure`).
    pub fn validate(path: &Path) -> Result<Validation> {
        Envoy::validate_with_env(path, &[], &[])
    }

    /// [`Envoy::validate`] with environment variables set (`set`) and removed (`unset`), e.g. to
    /// check that a config is refused without the key variable its plugin reads.
    pub fn validate_with_env(
        path: &Path,
        set: &[(&str, &str)],
        unset: &[&str],
    ) -> Result<Validation> {
        let mut cmd = Command::new(paths::envoy_bin()?);
        for name in unset {
            cmd.env_remove(name);
        }
        let out = cmd
            .envs(set.iter().copied())
            .current_dir(paths::repo_root())
            .args(["--mode", "validate", "--log-level", "warn", "-c"])
            .arg(path)
            // Validation may run next to a live Envoy: keep its hot-restart id apart.
            .args(["--base-id", &ports::free_port()?.to_string()])
            .output()
            .context(format!("running envoy --mode validate {}", path.display()))?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(Validation {
            ok: out.status.success(),
            output,
        })
    }

    /// Renders a template like [`Envoy::start`] would (with placeholder ports) and validates it.
    pub fn validate_template(config_template: &str, vars: &[(&str, &str)]) -> Result<Validation> {
        let dir = TempDir::new("envoy-validate")?;
        let root = paths::repo_root().display().to_string();
        let dist = paths::dist_dir().display().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("ADMIN_PORT", "9901"),
            ("LISTENER_PORT", "10000"),
            ("REPO_ROOT", &root),
            ("DIST", &dist),
        ];
        all.extend_from_slice(vars);
        let path = dir.join("envoy.yaml");
        std::fs::write(&path, template::render(config_template, &all)?)?;
        Envoy::validate(&path)
    }

    /// `127.0.0.1:<listener port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.listener_port)
    }

    /// The main listener port.
    pub fn listener_port(&self) -> u16 {
        self.listener_port
    }

    /// The admin port.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The rendered config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// A request to the listener (add headers, then `.send()`).
    pub fn request(&self, method: &str, path: &str) -> Request {
        Request::new(method, self.addr(), path)
    }

    /// `GET path` through the listener.
    pub fn get(&self, path: &str) -> Result<Response> {
        self.request("GET", path).send()
    }

    /// `GET path` on the admin interface.
    pub fn admin(&self, path: &str) -> Result<Response> {
        http::get(&format!("127.0.0.1:{}", self.admin_port), path)
    }

    /// All of `/stats` as name -> value text (counters and gauges are integers; histograms are summaries).
    pub fn stats(&self) -> Result<BTreeMap<String, String>> {
        let r = self.admin("/stats")?;
        if r.status != 200 {
            return Err(Error(format!("/stats answered {}", r.status)));
        }
        Ok(r.text()
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    /// One counter or gauge (e.g. `wasmcustom.oidc_auth.allowed`); `None` when absent.
    pub fn stat(&self, name: &str) -> Result<Option<u64>> {
        Ok(self.stats()?.get(name).and_then(|v| v.parse().ok()))
    }

    /// The `health_flags` `/clusters` reports for `address` (`ip:port`) in `cluster`: `healthy`,
    /// `/failed_active_hc`, `/eds_status_draining`...; `None` when the host is not listed.
    pub fn host_health(&self, cluster: &str, address: &str) -> Result<Option<String>> {
        let needle = format!("{cluster}::{address}::health_flags::");
        Ok(self
            .admin("/clusters")?
            .text()
            .lines()
            .find_map(|l| l.strip_prefix(&needle))
            .map(|flags| flags.trim().to_string()))
    }

    /// Whether `/clusters` reports `address` in `cluster` healthy (no health flag set).
    pub fn host_healthy(&self, cluster: &str, address: &str) -> bool {
        self.host_health(cluster, address)
            .ok()
            .flatten()
            .is_some_and(|f| f == "healthy")
    }

    /// Health flags and error counters of every host, from `/clusters` (for failure messages).
    pub fn clusters_summary(&self) -> String {
        self.admin("/clusters")
            .map(|r| {
                r.text()
                    .lines()
                    .filter(|l| {
                        ["health_flags", "rq_error", "cx_connect_fail"]
                            .iter()
                            .any(|k| l.contains(k))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|e| e.to_string())
    }

    /// Everything Envoy has logged so far (flushed every 100 ms).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let path = self.process.log_path().to_path_buf();
        self.process
            .wait_ready(&format!("logging {needle:?}"), timeout, || {
                std::fs::read_to_string(&path).is_ok_and(|l| l.contains(needle))
            })
    }

    /// The process guard (pid, log path).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
