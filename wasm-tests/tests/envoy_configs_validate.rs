//! Every Envoy bootstrap shipped under `mesh-config/` passes `envoy --mode validate` (which also loads the
//! referenced `.wasm` and runs the plugins' `on_configure`).

// Test helpers, not library code: a failed step should stop the test loudly (clippy.toml only
// relaxes these lints inside #[test] functions, not in their helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use wasm_tests::paths::repo_root;
use wasm_tests::{Bootstrap, Envoy};

fn envoy_bootstraps(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "node_modules" {
                envoy_bootstraps(&path, out);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("static_resources") {
                out.push(path);
            }
        }
    }
}

/// `dist/<name>.wasm` references in a config, ignoring YAML comments.
fn referenced_wasm(text: &str) -> Vec<String> {
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" #").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found: Vec<String> = text
        .match_indices("dist/")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let end = rest.find(".wasm")? + ".wasm".len();
            let name = &rest[..end];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c))
                .then(|| name.to_string())
        })
        .collect();
    found.dedup();
    found
}

/// Environment variables the shipped configs expect (base64 of 32 bytes for keys).
const DEMO_ENV: [(&str, &str); 3] = [
    ("STICKY_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
    ("VAULT_ROLE_ID", "demo-role-id"),
    ("VAULT_SECRET_ID", "demo-secret-id"),
];

#[test]
fn every_shipped_envoy_config_passes_envoy_validate() {
    // Shipped configs name their key variables (`host_env_keys`) and
    // `on_configure` needs them set: demo values, for validation only.
    for (name, value) in DEMO_ENV {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
    let root = repo_root();
    let mut configs = Vec::new();
    envoy_bootstraps(&root.join("mesh-config"), &mut configs);
    configs.sort();
    assert!(
        configs
            .iter()
            .any(|p| p.ends_with("mesh-config/local/envoy.yaml")),
        "the local stack config was not found among {configs:?}"
    );

    let mut failures = Vec::new();
    for config in &configs {
        let rel = config.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(config).unwrap();
        let missing: Vec<String> = referenced_wasm(&text)
            .into_iter()
            .filter(|w| !root.join(w).exists())
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{rel}: references {} which do not exist: run `make build` first",
                missing.join(", ")
            ));
            continue;
        }
        let v = Envoy::validate(config).unwrap();
        if !v.ok {
            failures.push(format!(
                "{rel}: envoy --mode validate failed:\n{}",
                v.output
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} configs invalid:\n{}",
        failures.len(),
        configs.len(),
        failures.join("\n\n")
    );
}

#[test]
fn test_bootstrap_builder_emits_a_valid_envoy_config() {
    let config = Bootstrap::new()
        .backend(&[18081, 18082])
        .cluster("idp", &[19000])
        .build();
    let v = Envoy::validate_template(&config, &[]).unwrap();
    assert!(v.ok, "{}\n{config}", v.output);
}

#[test]
fn wasm_references_are_found_in_configs() {
    let text = "filename: dist/oidc_auth.wasm\n  x: \"dist/sticky-session.wasm\" dist/ other\n  # dist/commented.wasm\n";
    assert_eq!(
        referenced_wasm(text),
        vec!["dist/oidc_auth.wasm", "dist/sticky-session.wasm"]
    );
}
