//! `make push` against a real OCI registry (Debian's `docker-registry`, the
//! CNCF distribution registry): every plugin image lands byte for byte, so the
//! digest the registry serves is the `sha256` the WasmPlugin manifests pin, and
//! the wasm layer is the module in dist/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::Duration;
use wasm_tests::paths::{dist_dir, repo_root};
use wasm_tests::{ports, Process, Request, TempDir};

const PLUGINS: [&str; 3] = ["oidc-auth", "sticky-session", "credential-injector"];
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn start_registry(dir: &TempDir) -> (Process, String) {
    let port = ports::free_port().unwrap();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(&config);
    let mut registry = Process::spawn("docker-registry", cmd, &dir.join("registry.log")).unwrap();
    let addr = format!("127.0.0.1:{port}");
    registry
        .wait_ready("serving /v2/", Duration::from_secs(20), || {
            Request::get(&addr, "/v2/")
                .send()
                .is_ok_and(|r| r.status == 200)
        })
        .unwrap();
    (registry, addr)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `make push` on the modules already in dist/ (`-o build`: the e2e run built them).
fn make_push(registry: &str) -> std::process::Output {
    Command::new("make")
        .args([
            "-s",
            "-o",
            "build",
            "push",
            &format!("REGISTRY={registry}"),
            "INSECURE=1",
        ])
        .current_dir(repo_root())
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap()
}

#[test]
fn make_push_stores_every_plugin_byte_for_byte_in_a_real_registry() {
    let dir = TempDir::new("oci-registry").unwrap();
    let (_registry, addr) = start_registry(&dir);

    let out = make_push(&addr);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "make push failed:\n{text}");

    let tag = std::fs::read_to_string(repo_root().join("Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap();
    for plugin in PLUGINS {
        let pinned = std::fs::read_to_string(dist_dir().join(format!("oci/{plugin}.digest")))
            .unwrap()
            .trim()
            .to_string();
        assert!(
            text.contains(&pinned),
            "make push did not report {pinned}:\n{text}"
        );

        let by_tag = Request::get(&addr, &format!("/v2/mesh/{plugin}/manifests/{tag}"))
            .header("accept", MANIFEST)
            .send()
            .unwrap();
        assert_eq!(by_tag.status, 200, "{plugin}: {}", by_tag.text());
        assert_eq!(
            by_tag.header("docker-content-digest"),
            Some(pinned.as_str()),
            "{plugin}"
        );
        assert_eq!(
            sha256(&by_tag.body),
            pinned,
            "{plugin}: manifest bytes changed on the way"
        );

        let by_digest = Request::get(&addr, &format!("/v2/mesh/{plugin}/manifests/{pinned}"))
            .header("accept", MANIFEST)
            .send()
            .unwrap();
        assert_eq!(by_digest.body, by_tag.body, "{plugin}");

        // What Istio's agent fetches: the one layer with the wasm media type is the module.
        let manifest = by_tag.json().unwrap();
        let wasm_layers: Vec<_> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm")
            .collect();
        assert_eq!(wasm_layers.len(), 1, "{plugin}: {manifest}");
        let layer = wasm_layers[0]["digest"].as_str().unwrap();
        let blob = Request::get(&addr, &format!("/v2/mesh/{plugin}/blobs/{layer}"))
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap();
        let module =
            std::fs::read(dist_dir().join(format!("{}.wasm", plugin.replace('-', "_")))).unwrap();
        assert_eq!(blob.status, 200, "{plugin}");
        assert!(
            blob.body == module,
            "{plugin}: registry layer differs from dist/ module"
        );
    }

    // Pushing again (blobs already there) is a no-op that still succeeds.
    let again = make_push(&addr);
    assert!(
        again.status.success(),
        "second push: {}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn push_refuses_a_layout_whose_manifest_was_tampered_with() {
    let dir = TempDir::new("oci-tamper").unwrap();
    let (_registry, addr) = start_registry(&dir);
    let layout = dir.join("layout");
    let module = std::fs::read(dist_dir().join("sticky_session.wasm")).unwrap();
    let written = wasm_oci::write_layout(&layout, "sticky-session", "9.9.9", &module).unwrap();
    let hex = written.manifest_digest.trim_start_matches("sha256:");
    let blob = layout.join("blobs/sha256").join(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes.push(b' ');
    std::fs::write(&blob, bytes).unwrap();

    let out = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/oci_push.py"))
        .arg(&layout)
        .arg("9.9.9")
        .arg(format!("{addr}/mesh/sticky-session"))
        .arg("--insecure")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match its digest"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = Request::get(&addr, "/v2/mesh/sticky-session/tags/list")
        .send()
        .unwrap();
    assert_ne!(
        listed.status,
        200,
        "a tampered image reached the registry: {}",
        listed.text()
    );
}
