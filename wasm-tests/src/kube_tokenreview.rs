//! A STAND-IN for kube-apiserver's TokenReview API (`mesh-config/local/kube-tokenreview/server.mjs`),
//! because no Kubernetes cluster runs here. OpenBao's real `auth/kubernetes` method calls it exactly as
//! it would call `https://kubernetes.default.svc/apis/authentication.k8s.io/v1/tokenreviews`: over
//! HTTPS (a throwaway self-signed certificate made with `openssl`), with a reviewer JWT.
//!
//! At start it signs one legacy (Secret-based) service-account JWT per account; only those are
//! `authenticated`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::Context;
use crate::http;
use crate::process::{Process, TempDir};
use crate::{paths, ports, Error, Result};

/// A running TokenReview stand-in.
#[derive(Debug)]
pub struct KubeTokenReview {
    process: Process,
    port: u16,
    ca_pem: String,
    tokens: Value,
    _dir: TempDir,
}

impl KubeTokenReview {
    /// Starts it for `accounts` (`(namespace, name)`), serving HTTPS on a free port.
    pub fn start(accounts: &[(&str, &str)]) -> Result<KubeTokenReview> {
        let dir = TempDir::new("kube-tokenreview")?;
        let (key, cert) = (dir.join("tls.key"), dir.join("tls.crt"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=kube-apiserver-standin",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .context("running openssl for the stand-in's certificate")?;
        if !out.status.success() {
            return Err(Error(format!(
                "openssl failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let list: Vec<Value> = accounts
            .iter()
            .map(|(ns, name)| json!({"namespace": ns, "name": name}))
            .collect();
        let accounts_path = dir.join("accounts.json");
        std::fs::write(&accounts_path, Value::Array(list).to_string())?;
        let tokens_path = dir.join("tokens.json");
        let port = ports::free_port()?;
        let mut cmd = Command::new(paths::node_bin());
        cmd.arg(script()?)
            .args(["--port", &port.to_string()])
            .arg("--accounts")
            .arg(&accounts_path)
            .arg("--out")
            .arg(&tokens_path)
            .arg("--tls-key")
            .arg(&key)
            .arg("--tls-cert")
            .arg(&cert);
        let mut process = Process::spawn("kube-tokenreview", cmd, &dir.join("tokenreview.log"))?;
        process.wait_ready("listening", Duration::from_secs(30), || {
            tokens_path.exists() && http::tcp_accepts(port)
        })?;
        let tokens: Value = serde_json::from_str(&std::fs::read_to_string(&tokens_path)?)
            .map_err(|e| Error(format!("tokens.json: {e}")))?;
        Ok(KubeTokenReview {
            process,
            port,
            ca_pem: std::fs::read_to_string(&cert)?,
            tokens,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:<port>` (OpenBao's `kubernetes_host`).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The PEM certificate it serves (OpenBao's `kubernetes_ca_cert`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The JWT OpenBao presents to review tokens (`token_reviewer_jwt`).
    pub fn reviewer_jwt(&self) -> Result<String> {
        self.tokens
            .get("reviewer")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::msg("no reviewer token"))
    }

    /// The service-account JWT of `namespace/name` (one of the accounts given at start).
    pub fn service_account_jwt(&self, namespace: &str, name: &str) -> Result<String> {
        self.tokens
            .pointer(&format!("/tokens/{namespace}~1{name}"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error(format!("no token for {namespace}/{name}")))
    }

    /// Reviews answered so far: (authenticated, refused).
    pub fn reviews(&self) -> (usize, usize) {
        let log = self.process.log();
        (
            log.matches("tokenreview: authenticated").count(),
            log.matches("tokenreview: refused").count(),
        )
    }

    /// Its log (account names and outcomes, never tokens).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn script() -> Result<PathBuf> {
    let path = paths::repo_root().join("mesh-config/local/kube-tokenreview/server.mjs");
    if path.exists() {
        Ok(path)
    } else {
        Err(Error(format!("{} is missing", path.display())))
    }
}
