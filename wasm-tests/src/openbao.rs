//! OpenBao (Vault API) in dev mode: in-memory, unsealed, root token `root`; it can be sealed and
//! unsealed again (dev mode prints its single unseal key, captured here), rate-limited with a real
//! quota, and configured with the database and Kubernetes auth engines the plugin uses.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{self, Request, Response};
use crate::kube_tokenreview::KubeTokenReview;
use crate::postgres::Postgres;
use crate::process::{Process, TempDir};
use crate::{paths, ports, Error, Result};

/// The dev root token.
pub const ROOT_TOKEN: &str = "root";

/// The Vault policy of the plugin's own login in the e2e tests (`secret/payments`, the
/// `database/creds/app` role, renewing and revoking its leases). renew-self and lookup-self come
/// with `default`.
pub const PLUGIN_POLICY: &str = r#"
path "secret/data/payments" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke/database/creds/app/*" { capabilities = ["update"] }
"#;

/// A running OpenBao dev server. KV v2 is mounted at `secret/`; every request is audited (raw, not
/// HMACed) to a file, see [`OpenBao::count_requests`].
#[derive(Debug)]
pub struct OpenBao {
    process: Process,
    port: u16,
    audit_path: PathBuf,
    unseal_key: String,
    _dir: TempDir,
}

impl OpenBao {
    /// Starts `bao server -dev` on a free port (its cluster port, P+1, is free too) and waits until unsealed.
    pub fn start() -> Result<OpenBao> {
        OpenBao::start_on(ports::free_port_pair()?)
    }

    /// Starts a fresh dev server on `port` (e.g. the port of one that was [`OpenBao::stop`]ped, to
    /// simulate an outage and recovery). Dev mode keeps nothing: seed it again.
    pub fn start_on(port: u16) -> Result<OpenBao> {
        let dir = TempDir::new("openbao")?;
        // OpenBao 2.x refuses to enable audit devices through the API: declare it in a config file.
        let audit_path = dir.join("audit.log");
        let config = format!(
            "audit \"file\" \"file\" {{\n  options = {{\n    file_path = {:?}\n    log_raw = \"true\"\n  }}\n}}\n",
            audit_path.display().to_string()
        );
        let config_path = dir.join("openbao.hcl");
        std::fs::write(&config_path, config)?;
        let mut cmd = Command::new(paths::bao_bin()?);
        cmd.args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-config={}", config_path.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            // Keep the token helper and CLI state out of $HOME.
            .env("HOME", dir.path());
        let mut process = Process::spawn("openbao", cmd, &dir.join("openbao.log"))?;
        let addr = format!("127.0.0.1:{port}");
        let log_path = process.log_path().to_path_buf();
        // Dev mode prints its unseal key once it is unsealed.
        process.wait_ready("unsealed", Duration::from_secs(45), || {
            http::get(&addr, "/v1/sys/health").is_ok_and(|r| r.status == 200)
                && std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Unseal Key: "))
        })?;
        let unseal_key = process
            .log()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Unseal Key: ").map(str::to_string))
            .ok_or_else(|| Error::msg("OpenBao printed no unseal key"))?;
        Ok(OpenBao {
            process,
            port,
            audit_path,
            unseal_key,
            _dir: dir,
        })
    }

    /// Seals it (`PUT sys/seal`): every API call but `sys/health`, `sys/seal-status` and
    /// `sys/unseal` answers 503 `Vault is sealed` until [`OpenBao::unseal`]. Storage is kept.
    pub fn seal(&self) -> Result<()> {
        self.api("PUT", "sys/seal", None).map(|_| ())?;
        if self.is_sealed()? {
            Ok(())
        } else {
            Err(Error::msg("still unsealed after sys/seal"))
        }
    }

    /// Unseals it with the dev unseal key and waits until it serves again (tokens, leases and
    /// secrets written before the seal are all still there).
    pub fn unseal(&self) -> Result<()> {
        let r = self.call(
            "PUT",
            "sys/unseal",
            None,
            Some(&json!({ "key": self.unseal_key })),
        )?;
        if r.status != 200 {
            return Err(Error(format!(
                "sys/unseal answered {}: {}",
                r.status,
                r.text()
            )));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let ready = self.call("GET", "sys/health", None, None)?;
            if ready.status == 200 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::msg("not active 10 s after unsealing"))
    }

    /// `sys/seal-status` says sealed.
    pub fn is_sealed(&self) -> Result<bool> {
        let r = self.call("GET", "sys/seal-status", None, None)?;
        Ok(r.json()?.get("sealed").and_then(Value::as_bool) == Some(true))
    }

    /// A rate-limit quota `name` on `path` (e.g. `secret/`): `rate` requests per `interval` per
    /// client address; beyond it OpenBao answers 429 with `Retry-After` (response headers enabled).
    pub fn set_rate_limit(&self, name: &str, path: &str, rate: u32, interval: &str) -> Result<()> {
        self.api(
            "POST",
            "sys/quotas/config",
            Some(&json!({ "enable_rate_limit_response_headers": true })),
        )?;
        self.api(
            "POST",
            &format!("sys/quotas/rate-limit/{name}"),
            Some(&json!({ "rate": rate, "interval": interval, "path": path })),
        )
        .map(|_| ())
    }

    /// Deletes rate-limit quota `name`.
    pub fn remove_rate_limit(&self, name: &str) -> Result<()> {
        self.api("DELETE", &format!("sys/quotas/rate-limit/{name}"), None)
            .map(|_| ())
    }

    /// The database secrets engine at `database/` on `pg` (PostgreSQL plugin, superuser
    /// `postgres`), with role `role` creating login roles valid for the lease:
    /// `database/creds/<role>` then answers dynamic credentials with these TTLs.
    pub fn database_secrets(
        &self,
        pg: &Postgres,
        role: &str,
        default_ttl: &str,
        max_ttl: &str,
    ) -> Result<()> {
        self.api(
            "POST",
            "sys/mounts/database",
            Some(&json!({"type": "database"})),
        )?;
        self.api(
            "POST",
            &format!("database/config/{role}"),
            Some(&json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port()),
                "username": "postgres",
                "allowed_roles": [role],
                "verify_connection": true
            })),
        )?;
        self.api(
            "POST",
            &format!("database/roles/{role}"),
            Some(&json!({
                "db_name": role,
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": default_ttl,
                "max_ttl": max_ttl
            })),
        )
        .map(|_| ())
    }

    /// Kubernetes auth (the real `auth/kubernetes` method) against `review` (the TokenReview
    /// stand-in, over HTTPS with its CA), and `role` bound to service account `namespace/name`
    /// with `policies`.
    pub fn kubernetes_auth(
        &self,
        review: &KubeTokenReview,
        role: &str,
        service_account: (&str, &str),
        policies: &[&str],
    ) -> Result<()> {
        if self
            .api("GET", "sys/auth", None)?
            .pointer("/data/kubernetes~1")
            .is_none()
        {
            self.enable_auth("kubernetes")?;
        }
        let config = json!({
            "kubernetes_host": review.url(),
            "kubernetes_ca_cert": review.ca_pem(),
            "token_reviewer_jwt": review.reviewer_jwt()?,
            // OpenBao runs outside the (stand-in) cluster: no local service-account files.
            "disable_local_ca_jwt": true
        });
        self.api("POST", "auth/kubernetes/config", Some(&config))?;
        let (namespace, name) = service_account;
        let role_body = json!({
            "bound_service_account_names": [name],
            "bound_service_account_namespaces": [namespace],
            "token_policies": policies,
            "token_ttl": "1h"
        });
        self.api(
            "POST",
            &format!("auth/kubernetes/role/{role}"),
            Some(&role_body),
        )
        .map(|_| ())
    }

    /// Stops the server (an outage for whoever uses it); its port stays reserved for
    /// [`OpenBao::start_on`]. Idempotent.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>` (BAO_ADDR / VAULT_ADDR).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Raw call to `/v1/<path>` with `token` (no status check).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Response> {
        let mut req = Request::new(
            method,
            self.addr(),
            &format!("/v1/{}", path.trim_start_matches('/')),
        );
        if let Some(t) = token {
            req = req.header("x-vault-token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
    }

    /// Root-token call; errors on a status >= 400; `Value::Null` for 204.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let r = self.call(method, path, Some(ROOT_TOKEN), body)?;
        if r.status >= 400 {
            return Err(Error(format!(
                "{method} /v1/{path} answered {}: {}",
                r.status,
                r.text()
            )));
        }
        if r.body.is_empty() {
            Ok(Value::Null)
        } else {
            r.json()
        }
    }

    /// Writes a KV v2 secret at `secret/<path>`; returns the new version.
    pub fn kv_put(&self, path: &str, data: &Value) -> Result<u64> {
        let v = self.api(
            "POST",
            &format!("secret/data/{path}"),
            Some(&json!({ "data": data })),
        )?;
        Ok(v.pointer("/data/version")
            .and_then(Value::as_u64)
            .unwrap_or_default())
    }

    /// Reads the data of KV v2 secret `secret/<path>`.
    pub fn kv_get(&self, path: &str) -> Result<Value> {
        let v = self.api("GET", &format!("secret/data/{path}"), None)?;
        v.pointer("/data/data")
            .cloned()
            .ok_or_else(|| Error(format!("no data in {v}")))
    }

    /// Writes an ACL policy.
    pub fn write_policy(&self, name: &str, hcl: &str) -> Result<()> {
        self.api(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": hcl })),
        )
        .map(|_| ())
    }

    /// Enables an auth method (`approle`, `jwt`, `kubernetes`) at its default path.
    pub fn enable_auth(&self, kind: &str) -> Result<()> {
        self.api(
            "POST",
            &format!("sys/auth/{kind}"),
            Some(&json!({ "type": kind })),
        )
        .map(|_| ())
    }

    /// Creates AppRole `role` with `policies` (enables approle if needed); returns (role_id, secret_id).
    pub fn approle(
        &self,
        role: &str,
        policies: &[&str],
        token_ttl: &str,
    ) -> Result<(String, String)> {
        if self
            .api("GET", "sys/auth", None)?
            .pointer("/data/approle~1")
            .is_none()
        {
            self.enable_auth("approle")?;
        }
        let body =
            json!({ "token_policies": policies, "token_ttl": token_ttl, "token_max_ttl": "1h" });
        self.api("POST", &format!("auth/approle/role/{role}"), Some(&body))?;
        let role_id = self.api("GET", &format!("auth/approle/role/{role}/role-id"), None)?;
        let secret_id = self.api("POST", &format!("auth/approle/role/{role}/secret-id"), None)?;
        let field = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        Ok((
            field(&role_id, "/data/role_id").ok_or_else(|| Error::msg("no role_id"))?,
            field(&secret_id, "/data/secret_id").ok_or_else(|| Error::msg("no secret_id"))?,
        ))
    }

    /// Enables JWT auth against an IdP's JWKS and creates `role` bound to `audience`, with `policies`.
    pub fn jwt_auth(
        &self,
        jwks_url: &str,
        issuer: &str,
        role: &str,
        audience: &str,
        policies: &[&str],
    ) -> Result<()> {
        if self
            .api("GET", "sys/auth", None)?
            .pointer("/data/jwt~1")
            .is_none()
        {
            self.enable_auth("jwt")?;
        }
        let config = json!({
            "jwks_url": jwks_url,
            "bound_issuer": issuer,
            "jwt_supported_algs": ["RS256", "ES256", "EdDSA"],
            "default_role": role
        });
        self.api("POST", "auth/jwt/config", Some(&config))?;
        let role_body = json!({
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "token_policies": policies,
            "token_ttl": "10m"
        });
        self.api("POST", &format!("auth/jwt/role/{role}"), Some(&role_body))
            .map(|_| ())
    }

    /// Logs in (e.g. `auth/approle/login`) and returns the client token.
    pub fn login(&self, path: &str, body: &Value) -> Result<String> {
        let r = self.call("POST", path, None, Some(body))?;
        if r.status != 200 {
            return Err(Error(format!(
                "login at {path} answered {}: {}",
                r.status,
                r.text()
            )));
        }
        r.json()?
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::msg("no auth.client_token"))
    }

    /// The audit log text (one JSON object per line).
    pub fn audit_log(&self) -> String {
        std::fs::read_to_string(&self.audit_path).unwrap_or_default()
    }

    /// Number of audited requests whose path contains `path_part` (e.g. `auth/approle/login`).
    pub fn count_requests(&self, path_part: &str) -> usize {
        self.audit_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("request"))
            .filter(|e| {
                e.pointer("/request/path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.contains(path_part))
            })
            .count()
    }

    /// Its log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
