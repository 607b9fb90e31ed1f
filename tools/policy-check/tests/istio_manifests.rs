//! What operators apply to Istio: every kustomization renders (test renderer,
//! cross-checked with `kubectl kustomize` when one is installed), every
//! resource validates against the vendored Istio CRD schemas, and every
//! embedded `pluginConfig` loads with the plugin's own code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::cel;
use common::openapi::{validate, Schemas};
use common::{kustomize, repo_root, yaml_docs};
use policy_check::env::{EnvStatus, OfflineEnv};
use policy_check::{check, Plugin};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const KUSTOMIZATIONS: [&str; 4] = [
    "mesh-config/istio/base",
    "mesh-config/istio/overlays/sidecar",
    "mesh-config/istio/overlays/ingress-gateway",
    "mesh-config/istio/sticky-session",
];
/// What operators apply through an overlay (the base alone has no selector).
const OVERLAYS: [&str; 2] = [
    "mesh-config/istio/overlays/sidecar",
    "mesh-config/istio/overlays/ingress-gateway",
];

fn dir(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn schemas() -> Schemas {
    let data = repo_root().join("tools/policy-check/tests/data");
    let mut crds = yaml_docs(&data.join("istio-crds/crds.yaml"));
    crds.extend(yaml_docs(&data.join("gateway-api-crds/httproutes.yaml")));
    Schemas::from_crds(&crds)
}

fn id(r: &Value) -> String {
    format!(
        "{}/{}/{}",
        r["kind"].as_str().unwrap_or("?"),
        r["metadata"]["namespace"].as_str().unwrap_or(""),
        r["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn wasmplugins(resources: &[Value]) -> Vec<&Value> {
    resources
        .iter()
        .filter(|r| r["kind"] == "WasmPlugin")
        .collect()
}

#[test]
fn vendored_schemas_cover_every_kind_we_ship() {
    let s = schemas();
    for (api, kind) in [
        ("extensions.istio.io/v1alpha1", "WasmPlugin"),
        ("networking.istio.io/v1alpha3", "EnvoyFilter"),
        ("networking.istio.io/v1", "DestinationRule"),
        ("networking.istio.io/v1", "ServiceEntry"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ] {
        assert!(
            s.get(api, kind).is_some(),
            "{api} {kind} missing in {:?}",
            s.kinds()
        );
    }
}

#[test]
fn schema_validator_rejects_what_istio_would_reject() {
    // Guards the validator itself: each of these must be refused.
    let s = schemas();
    let schema = s.get("extensions.istio.io/v1alpha1", "WasmPlugin").unwrap();
    let base = yaml_docs(&dir("mesh-config/istio/base/wasmplugin-oidc-auth.yaml")).remove(0);
    assert_eq!(validate(schema, &base), Vec::<String>::new());
    let cases: [(&str, Value, &str); 4] = [
        (
            "failStrategy",
            Value::from("FAIL_SOMETIMES"),
            ".spec.failStrategy",
        ),
        ("phase", Value::from(3), ".spec.phase: expected string"),
        (
            "sha256",
            Value::from("abc"),
            ".spec.sha256: `abc` does not match",
        ),
        (
            "pluginConfg",
            Value::from("typo"),
            ".spec.pluginConfg: unknown field",
        ),
    ];
    for (field, value, expect) in cases {
        let mut bad = base.clone();
        bad["spec"][field] = value;
        let errs = validate(schema, &bad);
        assert!(
            errs.iter().any(|e| e.starts_with(expect)),
            "{field}: {errs:?}"
        );
    }
}

/// Every `x-kubernetes-validations` rule of the vendored CRDs.
fn cel_rules(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(o) => {
            for r in o
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(r["rule"].as_str().unwrap().to_string());
            }
            o.values().for_each(|v| cel_rules(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| cel_rules(v, out)),
        _ => {}
    }
}

#[test]
fn every_cel_rule_of_the_vendored_crds_compiles() {
    let mut rules = Vec::new();
    for crd in yaml_docs(&dir("tools/policy-check/tests/data/istio-crds/crds.yaml")) {
        cel_rules(&crd, &mut rules);
    }
    assert!(rules.len() > 100, "only {} rules found", rules.len());
    for rule in rules {
        assert_eq!(cel::compile(&rule), Ok(()), "`{rule}`");
    }
    assert!(cel::compile("self.size() ==").is_err());
}

#[test]
fn kubernetes_url_functions_follow_parse_request_uri() {
    assert!(cel::is_url(
        "oci://registry.example.com/mesh/oidc-auth:0.1.0"
    ));
    assert!(cel::is_url("file:///opt/plugins/oidc_auth.wasm"));
    assert!(cel::is_url("/opt/plugins/oidc_auth.wasm"));
    assert!(!cel::is_url("registry.example.com/mesh/oidc-auth:0.1.0"));
    assert!(!cel::is_url("http://a b"));
    assert!(!cel::is_url("http://a/%zz"));
    assert_eq!(cel::scheme("oci://x"), Some("oci"));
    assert_eq!(cel::scheme("1x://x"), None);
}

#[test]
fn cel_rules_reject_what_the_api_server_would() {
    let s = schemas();
    let schema = s.get("extensions.istio.io/v1alpha1", "WasmPlugin").unwrap();
    let base = yaml_docs(&dir("mesh-config/istio/base/wasmplugin-oidc-auth.yaml")).remove(0);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        validate(schema, &v)
    };
    let cases: [(&str, Vec<String>, &str); 5] = [
        (
            "selector and targetRefs",
            with(&|v| {
                v["spec"]["selector"] = serde_json::json!({"matchLabels": {"app": "api"}});
                v["spec"]["targetRefs"] = serde_json::json!([{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]);
            }),
            ".spec: only one of targetRefs or selector can be set",
        ),
        (
            "ftp url",
            with(&|v| v["spec"]["url"] = Value::from("ftp://registry/x")),
            ".spec.url: url must have schema one of",
        ),
        (
            "wildcard label",
            with(&|v| v["spec"]["selector"] = serde_json::json!({"matchLabels": {"app": "*"}})),
            ".spec.selector.matchLabels.app: wildcard not allowed",
        ),
        (
            "cross-namespace targetRef",
            with(&|v| {
                v["spec"]["targetRefs"] = serde_json::json!([
                    {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw", "namespace": "other"}
                ])
            }),
            "cross namespace referencing is not currently supported",
        ),
        (
            "host env with inline value",
            with(&|v| {
                v["spec"]["vmConfig"]["env"] =
                    serde_json::json!([{"name": "K", "valueFrom": "HOST", "value": "inline"}])
            }),
            "value may only be set when valueFrom is INLINE",
        ),
    ];
    for (case, errs, expect) in cases {
        assert!(errs.iter().any(|e| e.contains(expect)), "{case}: {errs:?}");
    }
    // The shipped file itself passes every rule it reaches.
    assert_eq!(validate(schema, &base), Vec::<String>::new());
}

#[test]
fn every_rendered_resource_validates_against_the_istio_crd_schema() {
    let s = schemas();
    for k in KUSTOMIZATIONS {
        for r in kustomize::render(&dir(k)) {
            let api = r["apiVersion"].as_str().unwrap();
            let kind = r["kind"].as_str().unwrap();
            if api == "v1" {
                continue; // core Service (sticky-session option A): not an Istio CRD
            }
            let schema = s
                .get(api, kind)
                .unwrap_or_else(|| panic!("{k}: no schema for {api} {kind}"));
            let errs = validate(schema, &r);
            assert!(errs.is_empty(), "{k}: {}: {errs:#?}", id(&r));
            assert!(
                r["metadata"]["name"].is_string(),
                "{k}: {} has no name",
                id(&r)
            );
        }
    }
}

#[test]
fn test_renderer_matches_kubectl_kustomize_when_installed() {
    let Ok(probe) = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    else {
        eprintln!("kubectl not installed: renderer cross-check skipped");
        return;
    };
    if !probe.status.success() {
        return;
    }
    for k in KUSTOMIZATIONS {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir(k))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let theirs: BTreeMap<String, Value> = serde_norway::Deserializer::from_str(&text)
            .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
            .map(|v| (id(&v), v))
            .collect();
        let ours: BTreeMap<String, Value> = kustomize::render(&dir(k))
            .into_iter()
            .map(|v| (id(&v), v))
            .collect();
        assert_eq!(
            ours, theirs,
            "{k}: test renderer and kubectl kustomize disagree"
        );
    }
}

fn plugin_of(wp: &Value) -> Plugin {
    let url = wp["spec"]["url"].as_str().unwrap();
    Plugin::ALL
        .into_iter()
        .find(|p| url.contains(&format!("/{}:", p.name())))
        .unwrap_or_else(|| panic!("{url}: no known plugin"))
}

#[test]
fn every_plugin_config_loads_with_the_plugins_own_code_and_reads_only_listed_env() {
    for k in KUSTOMIZATIONS {
        for wp in wasmplugins(&kustomize::render(&dir(k))) {
            let plugin = plugin_of(wp);
            let raw = serde_json::to_vec(&wp["spec"]["pluginConfig"]).unwrap();
            let env = OfflineEnv::new(BTreeMap::new(), false, false);
            if let Err(e) = check(plugin, &raw, &env) {
                panic!("{k}: {}: {e}", id(wp));
            }
            let listed: Vec<(&str, &str)> = wp["spec"]["vmConfig"]["env"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap(),
                        e["valueFrom"].as_str().unwrap_or("INLINE"),
                    )
                })
                .collect();
            for (name, status) in env.referenced() {
                assert_eq!(status, EnvStatus::Unknown);
                assert!(
                    listed.contains(&(name.as_str(), "HOST")),
                    "{k}: {} reads env {name}: list it in vmConfig.env with valueFrom: HOST (secrets never inline)",
                    id(wp)
                );
            }
            for (_, from) in &listed {
                assert_eq!(
                    *from,
                    "HOST",
                    "{k}: {}: secrets come from the host env",
                    id(wp)
                );
            }
        }
    }
}

#[test]
fn shipped_plugins_are_pinned_fail_reload_and_attached_to_one_workload_set() {
    // sticky-session must read its cookie before credential-injector strips
    // the browser's cookies (strip_cookies), and after oidc-auth publishes the
    // identity it binds cookies to.
    let order = |p: Plugin| match p {
        Plugin::OidcAuth => 0,
        Plugin::StickySession => 1,
        Plugin::CredentialInjector => 2,
    };
    let phase_rank = |wp: &Value| {
        let phase = match wp["spec"]["phase"].as_str() {
            Some("AUTHN") => 0,
            Some("AUTHZ") => 1,
            Some("STATS") => 2,
            other => panic!("{}: phase {other:?}", id(wp)),
        };
        // Higher priority runs first within a phase.
        (phase, -wp["spec"]["priority"].as_i64().unwrap_or(0))
    };
    for k in OVERLAYS {
        let rendered = kustomize::render(&dir(k));
        let mut plugins = wasmplugins(&rendered);
        assert_eq!(plugins.len(), 3, "{k}");
        for wp in &plugins {
            let spec = &wp["spec"];
            assert_eq!(spec["failStrategy"], "FAIL_RELOAD", "{k}: {}", id(wp));
            assert!(
                spec["url"].as_str().unwrap().starts_with("oci://REGISTRY/"),
                "{k}: {}",
                id(wp)
            );
            assert_eq!(
                spec["sha256"].as_str().map(str::len),
                Some(64),
                "{k}: {} not pinned",
                id(wp)
            );
            assert!(
                wp["metadata"]["namespace"].is_string(),
                "{k}: {} has no namespace",
                id(wp)
            );
            // The CRD's CEL rule (evaluated by the schema test) allows at most one of
            // selector/targetRef/targetRefs. We also require one: a WasmPlugin without
            // one applies to every workload.
            let attached = ["selector", "targetRef", "targetRefs"]
                .iter()
                .filter(|f| spec.get(**f).is_some())
                .count();
            assert_eq!(
                attached,
                1,
                "{k}: {} must have exactly one of selector/targetRefs",
                id(wp)
            );
        }
        plugins.sort_by_key(|wp| phase_rank(wp));
        let names: Vec<Plugin> = plugins.iter().map(|wp| plugin_of(wp)).collect();
        let mut expected = names.clone();
        expected.sort_by_key(|p| order(*p));
        assert_eq!(
            names, expected,
            "{k}: filter order must be oidc-auth, sticky-session, credential-injector"
        );
    }
}

#[test]
fn callout_clusters_name_hosts_the_manifests_declare() {
    // `outbound|PORT||HOST` exists only when Istio knows HOST: a ServiceEntry
    // here, or a Kubernetes Service (in-mesh, `*.svc.cluster.local`).
    for k in OVERLAYS {
        let rendered = kustomize::render(&dir(k));
        let declared: Vec<(String, u64)> = rendered
            .iter()
            .filter(|r| r["kind"] == "ServiceEntry")
            .flat_map(|se| {
                let hosts: Vec<String> = se["spec"]["hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap().to_string())
                    .collect();
                let ports: Vec<u64> = se["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["number"].as_u64().unwrap())
                    .collect();
                hosts
                    .into_iter()
                    .flat_map(move |h| ports.clone().into_iter().map(move |p| (h.clone(), p)))
            })
            .collect();
        for wp in wasmplugins(&rendered) {
            let c = &wp["spec"]["pluginConfig"];
            let mut clusters: Vec<&str> = c["providers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["cluster"].as_str())
                .collect();
            clusters.extend(c["vault"]["connection"]["cluster"].as_str());
            for cluster in clusters {
                let parts: Vec<&str> = cluster.split('|').collect();
                assert!(
                    parts.len() == 4 && parts[0] == "outbound" && parts[2].is_empty(),
                    "{k}: {}: cluster `{cluster}` is not `outbound|PORT||HOST`",
                    id(wp)
                );
                let port: u64 = parts[1].parse().unwrap();
                let host = parts[3];
                assert!(
                    host.ends_with(".svc.cluster.local")
                        || declared.contains(&(host.to_string(), port)),
                    "{k}: {}: `{cluster}` needs a ServiceEntry for {host}:{port}",
                    id(wp)
                );
                assert!(
                    rendered
                        .iter()
                        .any(|r| r["kind"] == "DestinationRule" && r["spec"]["host"] == host),
                    "{k}: {}: no DestinationRule for {host}",
                    id(wp)
                );
            }
        }
    }
}

/// The sticky-session EnvoyFilters patch the proxy the plugins run in: the pods of the
/// Gateway API gateway the ingress overlay attaches them to. Istio labels those pods
/// `gateway.networking.k8s.io/gateway-name: <gateway>` (not `istio: ingressgateway`), and
/// routes to them with an HTTPRoute (a VirtualService does not bind to a Gateway API gateway).
#[test]
fn sticky_pinning_targets_the_gateway_the_plugins_run_in() {
    let overlay = kustomize::render(&dir("mesh-config/istio/overlays/ingress-gateway"));
    let gateway = wasmplugins(&overlay)[0]["spec"]["targetRefs"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let sticky = kustomize::render(&dir("mesh-config/istio/sticky-session"));
    let mut filters = yaml_docs(&dir(
        "mesh-config/istio/sticky-session/envoyfilter-override-host.yaml",
    ));
    filters.extend(
        sticky
            .iter()
            .filter(|r| r["kind"] == "EnvoyFilter")
            .cloned(),
    );
    assert_eq!(filters.len(), 2, "both pinning options");
    for f in &filters {
        assert_eq!(
            f["spec"]["workloadSelector"]["labels"]["gateway.networking.k8s.io/gateway-name"],
            gateway.as_str(),
            "{}",
            id(f)
        );
    }
    let route = sticky.iter().find(|r| r["kind"] == "HTTPRoute").unwrap();
    assert_eq!(route["spec"]["parentRefs"][0]["name"], gateway.as_str());
    assert!(!sticky.iter().any(|r| r["kind"] == "VirtualService"));
}
