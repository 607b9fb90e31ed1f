//! `policy-check render-wasmplugin`: an Istio `WasmPlugin` for a checked
//! configuration, with `vmConfig.env` listing exactly the variables the
//! configuration reads (valueFrom HOST), so no secret is ever inline.

use crate::plugin::Plugin;
use std::fmt::Write as _;

/// Where a plugin runs in Istio's filter chain and why.
pub fn phase(plugin: Plugin) -> (&'static str, i32) {
    match plugin {
        // Authentication first: the others read the identity it publishes.
        Plugin::OidcAuth => ("AUTHN", 10),
        // After AUTHN; a low priority in AUTHZ keeps it behind any other AUTHZ plugin.
        Plugin::CredentialInjector => ("AUTHZ", 10),
        // After AUTHN (reads the identity) and before credential-injector (higher
        // priority runs first): the injector strips the cookies sticky-session reads.
        Plugin::StickySession => ("AUTHZ", 20),
    }
}

/// The module digest as Istio's WasmPlugin CRD wants it (`^[a-f0-9]{64}$`):
/// `make oci`/`make push` print `sha256:<hex>`, so that prefix is dropped;
/// anything else is refused rather than rendered into a manifest the API
/// server rejects.
pub fn wasm_sha256(digest: &str) -> Result<&str, String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(hex)
    } else {
        Err(format!(
            "--sha256 must be 64 lower-case hex digits, optionally after `sha256:` (got `{digest}`)"
        ))
    }
}

pub struct WasmPluginSpec<'a> {
    pub plugin: Plugin,
    pub name: &'a str,
    pub namespace: &'a str,
    pub url: &'a str,
    pub sha256: Option<&'a str>,
    pub selector: &'a str,
    pub env: &'a [String],
    /// The configuration as JSON (valid YAML flow syntax).
    pub config_json: &'a str,
}

pub fn wasmplugin(s: &WasmPluginSpec<'_>) -> String {
    let (phase, priority) = phase(s.plugin);
    let mut out = String::new();
    let _ = writeln!(out, "apiVersion: extensions.istio.io/v1alpha1");
    let _ = writeln!(out, "kind: WasmPlugin");
    let _ = writeln!(
        out,
        "metadata:\n  name: {}\n  namespace: {}",
        s.name, s.namespace
    );
    let _ = writeln!(out, "spec:");
    if let Some((k, v)) = s.selector.split_once('=') {
        let _ = writeln!(out, "  selector:\n    matchLabels:\n      {k}: {v}");
    }
    let _ = writeln!(out, "  url: {}", s.url);
    if let Some(sha) = s.sha256 {
        let _ = writeln!(out, "  sha256: {sha}");
    }
    let _ = writeln!(out, "  imagePullPolicy: IfNotPresent");
    let _ = writeln!(out, "  phase: {phase}\n  priority: {priority}");
    let _ = writeln!(
        out,
        "  # FAIL_RELOAD: a trap recreates the VM; FAIL_OPEN would skip the plugin (a bypass)."
    );
    let _ = writeln!(out, "  failStrategy: FAIL_RELOAD\n  type: HTTP");
    if !s.env.is_empty() {
        let _ = writeln!(out, "  vmConfig:\n    env:");
        for name in s.env {
            let _ = writeln!(out, "    - name: {name}\n      valueFrom: HOST");
        }
    }
    let _ = writeln!(out, "  pluginConfig: {}", s.config_json);
    out
}
