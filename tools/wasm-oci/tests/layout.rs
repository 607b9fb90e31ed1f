//! The layout `make oci` writes, read back the way a registry client would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasm-oci-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Checks one layout; returns the manifest digest.
fn inspect(dir: &Path, module: &[u8], tag: &str) -> String {
    assert_eq!(
        json(&std::fs::read(dir.join("oci-layout")).unwrap())["imageLayoutVersion"],
        "1.0.0"
    );
    let index = json(&std::fs::read(dir.join("index.json")).unwrap());
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        tag
    );
    let manifest_bytes = blob(dir, entry["digest"].as_str().unwrap());
    assert_eq!(
        entry["size"].as_u64().unwrap() as usize,
        manifest_bytes.len()
    );
    // Every blob is stored under its own digest.
    for f in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let f = f.unwrap();
        assert_eq!(
            wasm_oci::sha256_hex(&std::fs::read(f.path()).unwrap()),
            f.file_name().to_str().unwrap()
        );
    }
    let manifest = json(&manifest_bytes);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.module.wasm.config.v1+json"
    );
    let config = json(&blob(dir, manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["type"], "envoy_proxy");
    // Istio's artifact variant: exactly two layers, one of them the module.
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let wasm: Vec<&Value> = layers
        .iter()
        .filter(|l| l["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm")
        .collect();
    assert_eq!(wasm.len(), 1);
    let module_digest = format!("sha256:{}", wasm_oci::sha256_hex(module));
    assert_eq!(
        wasm[0]["digest"],
        module_digest.as_str(),
        "layer digest = module sha256"
    );
    assert_eq!(wasm[0]["size"].as_u64().unwrap() as usize, module.len());
    assert_eq!(blob(dir, &module_digest), module);
    entry["digest"].as_str().unwrap().to_string()
}

#[test]
fn layout_holds_the_module_as_istio_artifact_and_pins_the_manifest_digest() {
    let out = tmp("ok");
    let module_path = out.join("oidc_auth.wasm");
    let module = b"\0asm\x01\0\0\0 a test module".to_vec();
    std::fs::write(&module_path, &module).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_wasm-oci"))
            .args([
                out.join("oci").to_str().unwrap(),
                "0.1.0",
                "registry.example.com",
            ])
            .arg(&module_path)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let digest = inspect(&out.join("oci/oidc-auth"), &module, "0.1.0");
    let pin = std::fs::read_to_string(out.join("oci/pins/oidc-auth.yaml")).unwrap();
    assert!(
        pin.contains("url: oci://registry.example.com/mesh/oidc-auth:0.1.0"),
        "{pin}"
    );
    assert!(
        pin.contains(&format!(
            "sha256: \"{}\"",
            digest.trim_start_matches("sha256:")
        )),
        "{pin}"
    );
    // Reproducible: the same module gives the same manifest digest.
    assert!(run().status.success());
    assert_eq!(
        inspect(&out.join("oci/oidc-auth"), &module, "0.1.0"),
        digest
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let out = tmp("bad");
    let p = out.join("sticky_session.wasm");
    std::fs::write(&p, b"#!/bin/sh\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasm-oci"))
        .args([out.join("oci").to_str().unwrap(), "0.1.0", "r"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a WebAssembly module"));
}

#[test]
fn built_plugins_in_dist_produce_valid_layouts() {
    // After `make build`: the real modules. Skipped when dist/ is empty.
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let out = tmp("dist");
    for name in ["oidc_auth", "sticky_session", "credential_injector"] {
        let Ok(module) = std::fs::read(dist.join(format!("{name}.wasm"))) else {
            eprintln!("dist/{name}.wasm missing: skipped");
            continue;
        };
        let plugin = name.replace('_', "-");
        wasm_oci::write_layout(&out.join(&plugin), &plugin, "0.1.0", &module).unwrap();
        inspect(&out.join(&plugin), &module, "0.1.0");
    }
}
