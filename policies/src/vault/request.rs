//! Vault HTTP requests as data: the host turns a [`VaultRequest`] into one
//! `dispatch_http_call`. Bodies and tokens are [`Secret`]s; nothing here logs.

use super::config::Connection;
use crate::secret::Secret;
use serde_json::json;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A header value; tokens are kept as [`Secret`] so `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Plain(String),
    Secret(Secret),
}

impl HeaderValue {
    /// The value to put on the wire.
    pub fn expose(&self) -> &str {
        match self {
            HeaderValue::Plain(s) => s,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Plain(s) => write!(f, "{s:?}"),
            HeaderValue::Secret(s) => write!(f, "{s:?}"),
        }
    }
}

/// One Vault API call. `path` already carries the API prefix and mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultRequest {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// JSON body; a secret because login and unwrap bodies carry credentials.
    pub body: Option<Secret>,
}

impl VaultRequest {
    /// Body bytes for the callout (empty for GET).
    pub fn body_bytes(&self) -> &[u8] {
        self.body
            .as_ref()
            .map(|b| b.expose().as_bytes())
            .unwrap_or_default()
    }

    /// Pseudo-headers plus headers, ready for `dispatch_http_call`.
    pub fn wire_headers<'a>(&'a self, authority: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut out = vec![
            (":method", self.method.as_str()),
            (":path", self.path.as_str()),
            (":authority", authority),
        ];
        out.extend(self.headers.iter().map(|(k, v)| (*k, v.expose())));
        out
    }
}

/// Where requests go: the API prefix and optional namespace of a [`Connection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    prefix: String,
    namespace: Option<String>,
}

impl Endpoint {
    pub fn new(conn: &Connection) -> Self {
        Self {
            prefix: conn.path_prefix.clone(),
            namespace: conn.namespace.clone(),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&Secret>,
        body: Option<serde_json::Value>,
    ) -> VaultRequest {
        let mut headers = Vec::new();
        if let Some(t) = token {
            headers.push(("x-vault-token", HeaderValue::Secret(t.clone())));
        }
        if let Some(ns) = &self.namespace {
            headers.push(("x-vault-namespace", HeaderValue::Plain(ns.clone())));
        }
        if body.is_some() {
            headers.push((
                "content-type",
                HeaderValue::Plain("application/json".into()),
            ));
        }
        VaultRequest {
            method,
            path: format!("{}/{}", self.prefix, path),
            headers,
            // `Value::to_string` cannot fail, unlike `to_vec`.
            body: body.map(|b| Secret::new(b.to_string())),
        }
    }

    /// `POST auth/<mount>/login {role, jwt}` (Kubernetes auth).
    pub fn kubernetes_login(&self, mount: &str, role: &str, jwt: &Secret) -> VaultRequest {
        let body = json!({"role": role, "jwt": jwt.expose()});
        self.request(
            Method::Post,
            &format!("auth/{mount}/login"),
            None,
            Some(body),
        )
    }

    /// `POST auth/<mount>/login {role_id, secret_id}` (AppRole).
    pub fn approle_login(&self, mount: &str, role_id: &Secret, secret_id: &Secret) -> VaultRequest {
        let body = json!({"role_id": role_id.expose(), "secret_id": secret_id.expose()});
        self.request(
            Method::Post,
            &format!("auth/{mount}/login"),
            None,
            Some(body),
        )
    }

    /// `POST auth/<mount>/login {role?, jwt}` (JWT/OIDC auth; no role → default_role).
    pub fn jwt_login(&self, mount: &str, role: Option<&str>, jwt: &Secret) -> VaultRequest {
        let body = match role {
            Some(r) => json!({"role": r, "jwt": jwt.expose()}),
            None => json!({"jwt": jwt.expose()}),
        };
        self.request(
            Method::Post,
            &format!("auth/{mount}/login"),
            None,
            Some(body),
        )
    }

    /// `POST sys/wrapping/unwrap` with the wrapping token as `X-Vault-Token`.
    pub fn unwrap(&self, wrapping_token: &Secret) -> VaultRequest {
        self.request(
            Method::Post,
            "sys/wrapping/unwrap",
            Some(wrapping_token),
            None,
        )
    }

    /// `GET <mount>/data/<path>[?version=N]` (KV v2).
    pub fn kv2_read(
        &self,
        token: &Secret,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> VaultRequest {
        let p = match version {
            Some(v) => format!("{mount}/data/{path}?version={v}"),
            None => format!("{mount}/data/{path}"),
        };
        self.request(Method::Get, &p, Some(token), None)
    }

    /// `GET <path>`, e.g. `database/creds/app` (dynamic secret with a lease).
    pub fn dynamic_read(&self, token: &Secret, path: &str) -> VaultRequest {
        self.request(Method::Get, path, Some(token), None)
    }

    /// `POST sys/leases/renew {lease_id, increment}` (increment in seconds).
    pub fn lease_renew(&self, token: &Secret, lease_id: &str, increment_s: u64) -> VaultRequest {
        let body = json!({"lease_id": lease_id, "increment": increment_s});
        self.request(Method::Post, "sys/leases/renew", Some(token), Some(body))
    }

    /// `POST sys/leases/revoke/<lease_id>` (answers 204). The id goes in the
    /// path so a policy can allow revoking only its own engine's leases
    /// (`sys/leases/revoke/database/creds/app/*`). `None` when the id holds
    /// characters that do not belong in a path (Vault never issues such ids).
    pub fn lease_revoke(&self, token: &Secret, lease_id: &str) -> Option<VaultRequest> {
        let path_safe = !lease_id.is_empty()
            && !lease_id
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            && lease_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        path_safe.then(|| {
            self.request(
                Method::Post,
                &format!("sys/leases/revoke/{lease_id}"),
                Some(token),
                None,
            )
        })
    }

    /// `POST auth/token/renew-self {increment}` (seconds).
    pub fn token_renew_self(&self, token: &Secret, increment_s: u64) -> VaultRequest {
        let body = json!({"increment": increment_s});
        self.request(
            Method::Post,
            "auth/token/renew-self",
            Some(token),
            Some(body),
        )
    }

    /// `GET auth/token/lookup-self`.
    pub fn token_lookup_self(&self, token: &Secret) -> VaultRequest {
        self.request(Method::Get, "auth/token/lookup-self", Some(token), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn ep(namespace: Option<&str>) -> Endpoint {
        Endpoint {
            prefix: "/v1".into(),
            namespace: namespace.map(str::to_string),
        }
    }

    fn header<'a>(r: &'a VaultRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.expose())
    }

    fn body(r: &VaultRequest) -> serde_json::Value {
        serde_json::from_slice(r.body_bytes()).unwrap()
    }

    #[test]
    fn requests_have_the_documented_method_path_and_body() {
        let e = ep(None);
        let tok = Secret::new("s.client-token");
        let jwt = Secret::new("eyJ.jwt-secret.sig");
        // (request, method, path, token header, body)
        let cases = [
            (
                e.kubernetes_login("kubernetes", "app", &jwt),
                Method::Post,
                "/v1/auth/kubernetes/login",
                None,
                Some(json!({"role": "app", "jwt": "eyJ.jwt-secret.sig"})),
            ),
            (
                e.approle_login("approle", &Secret::new("rid"), &Secret::new("sid")),
                Method::Post,
                "/v1/auth/approle/login",
                None,
                Some(json!({"role_id": "rid", "secret_id": "sid"})),
            ),
            (
                e.jwt_login("jwt", None, &jwt),
                Method::Post,
                "/v1/auth/jwt/login",
                None,
                Some(json!({"jwt": "eyJ.jwt-secret.sig"})),
            ),
            (
                e.jwt_login("oidc", Some("r"), &jwt),
                Method::Post,
                "/v1/auth/oidc/login",
                None,
                Some(json!({"role": "r", "jwt": "eyJ.jwt-secret.sig"})),
            ),
            (
                e.unwrap(&Secret::new("s.wrapping")),
                Method::Post,
                "/v1/sys/wrapping/unwrap",
                Some("s.wrapping"),
                None,
            ),
            (
                e.kv2_read(&tok, "secret", "apps/web", None),
                Method::Get,
                "/v1/secret/data/apps/web",
                Some("s.client-token"),
                None,
            ),
            (
                e.kv2_read(&tok, "kv", "a", Some(4)),
                Method::Get,
                "/v1/kv/data/a?version=4",
                Some("s.client-token"),
                None,
            ),
            (
                e.dynamic_read(&tok, "database/creds/app"),
                Method::Get,
                "/v1/database/creds/app",
                Some("s.client-token"),
                None,
            ),
            (
                e.lease_renew(&tok, "database/creds/app/L1", 600),
                Method::Post,
                "/v1/sys/leases/renew",
                Some("s.client-token"),
                Some(json!({"lease_id": "database/creds/app/L1", "increment": 600})),
            ),
            (
                e.lease_revoke(&tok, "database/creds/app/L1.x_y-Z").unwrap(),
                Method::Post,
                "/v1/sys/leases/revoke/database/creds/app/L1.x_y-Z",
                Some("s.client-token"),
                None,
            ),
            (
                e.token_renew_self(&tok, 3600),
                Method::Post,
                "/v1/auth/token/renew-self",
                Some("s.client-token"),
                Some(json!({"increment": 3600})),
            ),
            (
                e.token_lookup_self(&tok),
                Method::Get,
                "/v1/auth/token/lookup-self",
                Some("s.client-token"),
                None,
            ),
        ];
        for (r, method, path, token, want_body) in cases {
            assert_eq!((r.method, r.path.as_str()), (method, path));
            assert_eq!(header(&r, "x-vault-token"), token, "{path}");
            assert_eq!(header(&r, "x-vault-namespace"), None);
            match want_body {
                Some(b) => {
                    assert_eq!(body(&r), b, "{path}");
                    assert_eq!(header(&r, "content-type"), Some("application/json"));
                }
                None => assert!(
                    r.body_bytes().is_empty() && header(&r, "content-type").is_none(),
                    "{path}"
                ),
            }
        }
    }

    #[test]
    fn namespace_header_and_pseudo_headers_are_added() {
        let r = ep(Some("team-a/")).token_lookup_self(&Secret::new("s.t"));
        assert_eq!(header(&r, "x-vault-namespace"), Some("team-a/"));
        let wire = r.wire_headers("vault:8200");
        assert_eq!(
            &wire[..3],
            &[
                (":method", "GET"),
                (":path", "/v1/auth/token/lookup-self"),
                (":authority", "vault:8200")
            ]
        );
        assert!(wire.contains(&("x-vault-token", "s.t")));
    }

    #[test]
    fn json_special_characters_in_credentials_stay_inside_their_string() {
        let r = ep(None).kubernetes_login("kubernetes", "app", &Secret::new(r#"a","role":"admin"#));
        assert_eq!(body(&r)["role"], "app");
        assert_eq!(body(&r)["jwt"], r#"a","role":"admin"#);
    }

    #[test]
    fn debug_of_requests_never_shows_tokens_or_credentials() {
        let e = ep(Some("ns/"));
        let reqs = [
            e.kubernetes_login("kubernetes", "app", &Secret::new("jwt-SECRET-1")),
            e.approle_login(
                "approle",
                &Secret::new("role-SECRET-2"),
                &Secret::new("sid-SECRET-3"),
            ),
            e.unwrap(&Secret::new("wrap-SECRET-4")),
            e.lease_renew(&Secret::new("tok-SECRET-5"), "lease/1", 60),
        ];
        let dbg = format!("{reqs:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(dbg.contains("ns/") && dbg.contains("/v1/sys/leases/renew"));
    }

    #[test]
    fn lease_ids_that_would_change_the_revoke_path_are_refused() {
        let e = ep(None);
        let tok = Secret::new("s.t");
        for bad in [
            "",
            "a/../sys/seal",
            "a//b",
            "a?x=1",
            "a b",
            "a%2F",
            "/a",
            "a/",
        ] {
            assert!(e.lease_revoke(&tok, bad).is_none(), "{bad:?}");
        }
    }
}
