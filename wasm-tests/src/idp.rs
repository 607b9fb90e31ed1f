//! The local OIDC provider (`mesh-config/local/idp/server.mjs`, oidc-provider 9.x) with its TEST-ONLY
//! token minting endpoint. Each start generates new RS256/ES256/ES384/ES512/EdDSA keys (a restart is a key
//! rotation).

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{self, Request};
use crate::process::{Process, TempDir};
use crate::{paths, ports, Error, Result};

/// How long one start may take before it is retried (it takes about 1 s; waiting costs nothing
/// when it is up sooner).
const START_BOUND: Duration = Duration::from_secs(45);
const START_ATTEMPTS: u32 = 2;

/// A running IdP.
#[derive(Debug)]
pub struct Idp {
    process: Process,
    port: u16,
    _dir: TempDir,
}

/// What to mint with [`Idp::mint`]. Defaults: RS256, sub `alice`, the IdP's default audience
/// (`https://api.mesh.local`), scope `openid api:read`, 300 s.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// `RS256`, `ES256`, `ES384`, `ES512` or `EdDSA`.
    pub alg: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Audience: a string or a list.
    pub aud: Option<Value>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Extra claims, merged last: may override `iss`, `iat`, `exp`, `nbf`, `aud`; `null` removes a claim.
    pub claims: Option<Value>,
    /// JOSE header overrides (e.g. `{"kid": "unknown"}`).
    pub header: Option<Value>,
    /// Lifetime in seconds; 0 or negative mints an already expired token (`exp = now + ttl`).
    pub ttl: Option<i64>,
    /// The client the token is issued to (default `backend-client`).
    pub client_id: Option<String>,
}

/// A minted token and what the IdP reports about it.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The compact JWT.
    pub token: String,
    /// `kid` of its header.
    pub kid: String,
    /// `alg` of its header.
    pub alg: String,
    /// `exp` claim.
    pub exp: i64,
}

impl Idp {
    /// Starts the IdP on a free port with default settings.
    pub fn start() -> Result<Idp> {
        Idp::start_with(&[])
    }

    /// Starts the IdP with extra environment (`IDP_AUDIENCE`, `IDP_KEYS_FILE`, `IDP_CLIENT_ID`, ...).
    pub fn start_with(env: &[(&str, &str)]) -> Result<Idp> {
        let dir = TempDir::new("idp")?;
        let port = ports::free_port()?;
        Idp::start_on(port, env, dir)
    }

    /// Starts the IdP on a given port (e.g. one Envoy already points at while nothing listened there).
    pub fn start_on_port(port: u16, env: &[(&str, &str)]) -> Result<Idp> {
        Idp::start_on(port, env, TempDir::new("idp")?)
    }

    /// Starts it and waits until discovery answers. A start that stalls (seen once in CI on a
    /// loaded 2-core machine: no `listening` line after 20 s, its keys never generated) is killed
    /// and tried once more, its log kept next to the new one.
    fn start_on(port: u16, env: &[(&str, &str)], dir: TempDir) -> Result<Idp> {
        let addr = format!("127.0.0.1:{port}");
        let mut last_error = None;
        for attempt in 1..=START_ATTEMPTS {
            let mut cmd = Command::new(paths::node_bin());
            cmd.arg(paths::idp_script()?)
                .args(["--port", &port.to_string()])
                .envs(env.iter().copied());
            let log = dir.join(&format!("idp-{attempt}.log"));
            let mut process = Process::spawn("idp", cmd, &log)?;
            match process.wait_ready("serving discovery", START_BOUND, || {
                http::get(&addr, "/.well-known/openid-configuration").is_ok_and(|r| r.status == 200)
            }) {
                Ok(()) => {
                    return Ok(Idp {
                        process,
                        port,
                        _dir: dir,
                    })
                }
                Err(e) => {
                    eprintln!("[wasm-tests] idp start {attempt}/{START_ATTEMPTS} failed: {e}");
                    process.stop();
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::msg("idp never started")))
    }

    /// Stops and starts it again on the same port: same issuer, NEW keys (unless `IDP_KEYS_FILE` is set).
    pub fn restart(self, env: &[(&str, &str)]) -> Result<Idp> {
        let Idp {
            mut process,
            port,
            _dir,
        } = self;
        process.stop();
        drop(process);
        Idp::start_on(port, env, _dir)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The issuer, `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `<issuer>/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// The current JWKS document.
    pub fn jwks(&self) -> Result<Value> {
        ok_json(http::get(&self.addr(), "/jwks")?, "GET /jwks")
    }

    /// Mints a signed JWT access token through the TEST-ONLY endpoint.
    pub fn mint(&self, req: &TokenRequest) -> Result<MintedToken> {
        let mut body = serde_json::Map::new();
        let strings = [
            ("alg", &req.alg),
            ("sub", &req.sub),
            ("scope", &req.scope),
            ("client_id", &req.client_id),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                body.insert(k.into(), json!(v));
            }
        }
        for (k, v) in [
            ("aud", &req.aud),
            ("claims", &req.claims),
            ("header", &req.header),
        ] {
            if let Some(v) = v {
                body.insert(k.into(), v.clone());
            }
        }
        if let Some(ttl) = req.ttl {
            body.insert("ttl".into(), json!(ttl));
        }
        let r = Request::post(self.addr(), "/test/token")
            .json(&Value::Object(body))
            .send()?;
        let v = ok_json(r, "POST /test/token")?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        Ok(MintedToken {
            token: field("access_token").ok_or_else(|| Error(format!("no access_token in {v}")))?,
            kid: field("kid").unwrap_or_default(),
            alg: field("alg").unwrap_or_default(),
            exp: v.get("exp").and_then(Value::as_i64).unwrap_or_default(),
        })
    }

    /// Shorthand: a token with `alg`, `sub`, `aud`, extra `claims` (a JSON object or null) and `ttl` seconds.
    pub fn mint_token(
        &self,
        alg: &str,
        sub: &str,
        aud: &str,
        claims: Value,
        ttl: i64,
    ) -> Result<String> {
        let req = TokenRequest {
            alg: Some(alg.into()),
            sub: Some(sub.into()),
            aud: Some(json!(aud)),
            claims: (!claims.is_null()).then_some(claims),
            ttl: Some(ttl),
            ..TokenRequest::default()
        };
        Ok(self.mint(&req)?.token)
    }

    /// A token from the real `client_credentials` grant of `backend-client`.
    pub fn client_credentials_token(&self, scope: &str) -> Result<String> {
        let r = Request::post(self.addr(), "/token")
            .header(
                "authorization",
                "Basic YmFja2VuZC1jbGllbnQ6YmFja2VuZC1zZWNyZXQ=",
            ) // backend-client:backend-secret
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()?;
        let v = ok_json(r, "POST /token")?;
        v.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error(format!("no access_token in {v}")))
    }

    /// Makes `/jwks` answer `ok`, `500`, `garbage`, `empty`, `wrong_shape`, `bad_keys`, `oversized` or
    /// `slow` (delayed by `delay_ms`).
    pub fn set_jwks_fault(&self, mode: &str, delay_ms: u64) -> Result<()> {
        let r = Request::post(self.addr(), "/test/fault")
            .json(&json!({"jwks": mode, "delay_ms": delay_ms}))
            .send()?;
        ok_json(r, "POST /test/fault").map(|_| ())
    }

    /// Sets any fault of `POST /test/fault` (`jwks`, `discovery`, `delay_ms`, `size_bytes`; see server.mjs).
    pub fn set_fault(&self, fault: &Value) -> Result<Value> {
        let r = Request::post(self.addr(), "/test/fault")
            .json(fault)
            .send()?;
        ok_json(r, "POST /test/fault")
    }

    /// Request counters: `{jwks_requests, discovery_requests, token_requests}`.
    pub fn stats(&self) -> Result<Value> {
        ok_json(http::get(&self.addr(), "/test/stats")?, "GET /test/stats")
    }

    /// How often `/jwks` has been fetched so far.
    pub fn jwks_requests(&self) -> Result<u64> {
        let v = ok_json(http::get(&self.addr(), "/test/stats")?, "GET /test/stats")?;
        Ok(v.get("jwks_requests")
            .and_then(Value::as_u64)
            .unwrap_or_default())
    }

    /// Its log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn ok_json(r: http::Response, what: &str) -> Result<Value> {
    if r.status != 200 {
        return Err(Error(format!("{what} answered {}: {}", r.status, r.text())));
    }
    r.json()
}

/// Decodes the JOSE header and the claims of a compact JWT (no signature check).
pub fn decode_jwt(token: &str) -> Result<(Value, Value)> {
    let mut parts = token.split('.');
    let mut part = || -> Result<Value> {
        let p = parts
            .next()
            .ok_or_else(|| Error::msg("not a compact JWT"))?;
        Ok(serde_json::from_slice(&base64url_decode(p)?)?)
    };
    let header = part()?;
    let claims = part()?;
    Ok((header, claims))
}

/// Unpadded base64url decoding (enough for JWT segments).
pub fn base64url_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => {
                return Err(Error(format!(
                    "invalid base64url character {:?}",
                    c as char
                )))
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}
