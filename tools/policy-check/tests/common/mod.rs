//! Helpers shared by the manifest tests: YAML loading, a small kustomize
//! renderer and an OpenAPI (CRD structural schema) subset validator with
//! the CRDs' CEL rules.
#![allow(dead_code)]

pub mod cel;
pub mod kustomize;
pub mod openapi;

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every YAML document of a file (empty documents skipped), with YAML merge
/// keys (`<<: *anchor`) applied as Compose and Kubernetes tools do.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            let mut y = serde_norway::Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            y.apply_merge()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(y).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}
