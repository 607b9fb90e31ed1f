//! Child processes that are always cleaned up: [`Process`] kills its whole process group on drop
//! (also when a test panics), [`TempDir`] removes itself unless the test failed.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Context;
use crate::{Error, Result};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir. Removed on drop, except when the test is panicking
/// or `WASM_TESTS_KEEP=1` is set (then its path is printed, logs included).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/wasm-tests-<pid>-<n>-<label>`.
    pub fn new(label: &str) -> Result<TempDir> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("wasm-tests-{}-{n}-{label}", std::process::id()));
        fs::create_dir_all(&path).context(format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() || std::env::var("WASM_TESTS_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("[wasm-tests] kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A running child in its own process group, its stdout+stderr in a log file.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log_path: PathBuf,
    stop_signal: &'static str,
    stopped: bool,
}

impl Process {
    /// Starts `cmd` with stdin closed and output appended to `log_path`, as leader of a new process group.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Process> {
        REAP.call_once(reap_orphans);
        let log = File::create(log_path).context(format!("creating {}", log_path.display()))?;
        let err = log.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .spawn()
            .context(format!("starting {name} ({program})"))?;
        register(child.id(), &program);
        Ok(Process {
            name: name.to_string(),
            child,
            log_path: log_path.to_path_buf(),
            stop_signal: "TERM",
            stopped: false,
        })
    }

    /// Signal sent first on stop (default TERM; PostgreSQL wants INT for a fast shutdown).
    pub fn with_stop_signal(mut self, signal: &'static str) -> Self {
        self.stop_signal = signal;
        self
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The component name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Polls `ready` every 50 ms until it returns true; fails early (with the log tail) if the process
    /// exits, or after `timeout`.
    pub fn wait_ready(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            if ready() {
                return Ok(());
            }
            if !self.is_running() {
                return Err(Error(format!(
                    "{} exited before {what}; log {}:\n{}",
                    self.name,
                    self.log_path.display(),
                    self.log_tail(40)
                )));
            }
            if start.elapsed() > timeout {
                return Err(Error(format!(
                    "{} not {what} after {timeout:?}; log {}:\n{}",
                    self.name,
                    self.log_path.display(),
                    self.log_tail(40)
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the whole process group: the stop signal, up to 5 s grace, then KILL. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pgid = self.child.id();
        signal_group(pgid, self.stop_signal);
        let start = Instant::now();
        while self.is_running() && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(20));
        }
        // KILL the group even when the leader is gone: children (e.g. PostgreSQL backends) may remain.
        signal_group(pgid, "KILL");
        let _ = self.child.wait();
        unregister(pgid);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if thread::panicking() && !self.stopped {
            eprintln!(
                "[wasm-tests] ---- {} log ({}), last lines:\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail(30)
            );
        }
        self.stop();
    }
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ---- orphan reaping: a test binary killed by a timeout (SIGKILL) cannot run Drop. Each spawned group is
// recorded in a registry file; the next test run kills groups whose test process is gone. ----

static REAP: Once = Once::new();

fn registry_dir() -> PathBuf {
    std::env::temp_dir().join("wasm-tests-registry")
}

fn register(pgid: u32, program: &str) {
    let dir = registry_dir();
    let _ = fs::create_dir_all(&dir);
    let _ = fs::write(dir.join(format!("{}-{pgid}", std::process::id())), program);
}

fn unregister(pgid: u32) {
    let _ = fs::remove_file(registry_dir().join(format!("{}-{pgid}", std::process::id())));
}

fn reap_orphans() {
    let Ok(entries) = fs::read_dir(registry_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((owner, pgid)) = file.split_once('-') else {
            continue;
        };
        if is_live(owner) {
            continue; // the test process that started it still runs
        }
        let program = fs::read_to_string(entry.path()).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pgid}/cmdline")).unwrap_or_default();
        let base = Path::new(&program)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Only kill when the pid still runs the recorded program (pids get reused).
        if !base.is_empty() && String::from_utf8_lossy(&cmdline).contains(&base) {
            if let Ok(pgid) = pgid.parse::<u32>() {
                signal_group(pgid, "KILL");
            }
        }
        let _ = fs::remove_file(entry.path());
        remove_temp_dirs_of(owner);
    }
}

/// True when `pid` exists and is not a zombie (a container's pid 1 may never reap a killed test binary).
fn is_live(pid: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Format: `pid (comm) S ...`; comm may contain spaces, so read the state after the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|s| s != "Z")
}

fn remove_temp_dirs_of(owner: &str) {
    let prefix = format!("wasm-tests-{owner}-");
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`), 0 when it cannot be read.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
