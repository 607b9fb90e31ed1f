//! A throwaway PostgreSQL cluster (for OpenBao's database secrets engine): `initdb --auth=trust` into a
//! temp dir, superuser `postgres`, listening on 127.0.0.1:<free port>. As root, runs as user `postgres`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::error::Context;
use crate::process::{Process, TempDir};
use crate::{paths, ports, Error, Result};

/// A running PostgreSQL.
#[derive(Debug)]
pub struct Postgres {
    process: Process,
    port: u16,
    data: PathBuf,
    _dir: TempDir,
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `cmd args...`, prefixed with `runuser -u postgres --` when running as root (PostgreSQL refuses root).
fn as_postgres(program: PathBuf) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Creates a cluster and starts it; waits until it accepts connections.
    pub fn start() -> Result<Postgres> {
        let dir = TempDir::new("postgres")?;
        let base = dir.join("pg");
        std::fs::create_dir_all(&base)?;
        if running_as_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&base)
                .status()?
                .success();
            if !ok {
                return Err(Error::msg("chown postgres failed (is the postgres user present? run scripts/bootstrap.sh)"));
            }
        }
        let data = base.join("data");
        let out = as_postgres(paths::pg_bin("initdb"))
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            return Err(Error(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = ports::free_port()?;
        let mut cmd = as_postgres(paths::pg_bin("postgres"));
        cmd.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&base)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]);
        let mut process =
            Process::spawn("postgres", cmd, &dir.join("postgres.log"))?.with_stop_signal("INT");
        let isready = paths::pg_bin("pg_isready");
        process.wait_ready("accepting connections", Duration::from_secs(30), || {
            Command::new(&isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                ])
                .status()
                .is_ok_and(|s| s.success())
        })?;
        Ok(Postgres {
            process,
            port,
            data,
            _dir: dir,
        })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL through `psql` over TCP; returns unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            return Err(Error(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// From now on, TCP logins of every role but `postgres` need their password (scram-sha-256);
    /// `postgres` itself stays trusted (OpenBao's connection, [`Postgres::psql`]).
    pub fn require_passwords(&self) -> Result<()> {
        let hba = "local all all trust\n\
                   host all postgres 127.0.0.1/32 trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(self.data.join("pg_hba.conf"), hba).context("writing pg_hba.conf")?;
        self.psql("select pg_reload_conf()").map(|_| ())
    }

    /// Runs `sql` as `user` with `password` over TCP (password auth once
    /// [`Postgres::require_passwords`] was called); returns the output or psql's error.
    pub fn psql_as(&self, user: &str, password: &str, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user])
            .args([
                "-d",
                "postgres",
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-A",
                "-t",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", password)
            .output()
            .context("running psql")?;
        if !out.status.success() {
            return Err(Error(format!(
                "psql as {user} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Its log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
