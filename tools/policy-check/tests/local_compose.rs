//! mesh-config/local/docker-compose.yaml must stay equivalent to the no-Docker
//! stack (scripts/stack.sh, mesh-config/local/envoy.yaml and the SPA gate
//! mesh-config/envoy/browser-gate.yaml). No Docker engine here: a static check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{repo_root, yaml_docs};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn local(file: &str) -> Value {
    yaml_docs(&repo_root().join("mesh-config/local").join(file)).remove(0)
}

/// (compose service, Envoy config the no-Docker stack runs, relative to mesh-config/local).
const ENVOYS: [(&str, &str); 2] = [
    ("envoy", "./envoy.yaml"),
    ("spa-gate", "../envoy/browser-gate.yaml"),
];

/// Every `port_value` under `v`.
fn ports(v: &Value, out: &mut BTreeSet<u64>) {
    match v {
        Value::Object(o) => {
            if let Some(p) = o.get("port_value").and_then(Value::as_u64) {
                out.insert(p);
            }
            o.values().for_each(|c| ports(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| ports(c, out)),
        _ => {}
    }
}

/// Every value of `key` anywhere under `v`.
fn find<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if let Some(x) = o.get(key) {
                out.push(x);
            }
            o.values().for_each(|c| find(c, key, out));
        }
        Value::Array(a) => a.iter().for_each(|c| find(c, key, out)),
        _ => {}
    }
}

fn served_ports(compose: &Value) -> BTreeSet<u64> {
    compose["services"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s["labels"]["mesh.local/ports"].as_str())
        .flat_map(|p| p.split(',').map(|n| n.trim().parse::<u64>().unwrap()))
        .collect()
}

#[test]
fn compose_envoys_run_the_same_config_files_and_modules() {
    let compose = local("docker-compose.yaml");
    for (service, file) in ENVOYS {
        check_envoy(&compose["services"][service], file);
    }
}

fn check_envoy(envoy: &Value, file: &str) {
    let workdir = Path::new(envoy["working_dir"].as_str().unwrap());
    let mounts: Vec<(String, String)> = envoy["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let parts: Vec<&str> = m.as_str().unwrap().split(':').collect();
            (parts[0].to_string(), parts[1].to_string())
        })
        .collect();
    // The config file mounted is the stack's own file, and envoy is started with it.
    let (_, target) = mounts
        .iter()
        .find(|(src, _)| src == file)
        .unwrap_or_else(|| panic!("{file} not mounted"));
    let cmd: Vec<&str> = envoy["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let c = cmd.iter().position(|a| *a == "-c").expect("-c");
    assert_eq!(cmd[c + 1], target, "envoy must run the mounted {file}");

    // Each `dist/x.wasm` in the config resolves inside a mount of ../../dist.
    let config = local(file);
    let mut files = Vec::new();
    find(&config, "filename", &mut files);
    assert!(!files.is_empty());
    for f in files {
        let resolved = workdir.join(f.as_str().unwrap());
        let ok = mounts
            .iter()
            .any(|(src, dst)| src == "../../dist" && resolved.starts_with(dst));
        assert!(ok, "{} is not under a ../../dist mount", resolved.display());
    }

    // The variables the plugins read (host_env_keys) are set for the container.
    let mut keys = Vec::new();
    find(&config, "host_env_keys", &mut keys);
    for k in keys.iter().flat_map(|k| k.as_array().unwrap()) {
        let name = k.as_str().unwrap();
        assert!(
            envoy["environment"].get(name).is_some(),
            "envoy service lacks env {name}"
        );
    }
}

#[test]
fn compose_services_serve_every_port_envoy_yaml_listens_on_or_calls() {
    let compose = local("docker-compose.yaml");
    let mut in_envoy = BTreeSet::new();
    for (_, file) in ENVOYS {
        ports(&local(file), &mut in_envoy);
    }
    let mut served = served_ports(&compose);
    // The SPA itself is in no Envoy config: checked against stack.sh below.
    assert!(served.remove(&5173));
    assert_eq!(
        served, in_envoy,
        "compose ports (labels mesh.local/ports) vs the Envoy configs' port_value"
    );
    // Host networking keeps 127.0.0.1 in envoy.yaml meaningful.
    for (name, s) in compose["services"].as_object().unwrap() {
        assert_eq!(s["network_mode"], "host", "{name}");
    }
}

#[test]
fn compose_uses_the_same_ports_as_the_no_docker_stack() {
    let stack = std::fs::read_to_string(repo_root().join("scripts/stack.sh")).unwrap();
    let served = served_ports(&local("docker-compose.yaml"));
    for var in [
        "IDP_PORT",
        "BAO_PORT",
        "ENVOY_PORT",
        "GATE_PORT",
        "ADMIN_PORT",
        "SPA_PORT",
        "SPA_GATE_PORT",
    ] {
        let line = stack
            .lines()
            .find(|l| l.starts_with(&format!("{var}=")))
            .unwrap_or_else(|| panic!("{var} in stack.sh"));
        let port: u64 = line.split('=').nth(1).unwrap().trim().parse().unwrap();
        assert!(
            served.contains(&port),
            "stack.sh {var}={port} not served in compose"
        );
    }
}
