//! The subset of kustomize our manifests use: `resources` (files and
//! directories with a kustomization.yaml), `namespace`, and `patches` with a
//! `path` and an optional `target {kind, name}`, applied as JSON merge patches
//! (RFC 7386) — what kustomize does for custom resources, whose schema it does
//! not know (lists are replaced, `null` deletes). Anything else is refused so
//! that a manifest using more fails here instead of rendering differently.

use super::yaml_docs;
use serde_json::Value;
use std::path::Path;

pub fn render(dir: &Path) -> Vec<Value> {
    let kfile = dir.join("kustomization.yaml");
    let k = yaml_docs(&kfile)
        .into_iter()
        .next()
        .expect("kustomization.yaml");
    let obj = k.as_object().expect("kustomization is a mapping");
    for key in obj.keys() {
        assert!(
            ["apiVersion", "kind", "resources", "namespace", "patches"].contains(&key.as_str()),
            "{}: `{key}` is not supported by the test renderer",
            kfile.display()
        );
    }
    let mut out = Vec::new();
    for r in obj
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = dir.join(r.as_str().expect("resource path"));
        if p.is_dir() {
            out.extend(render(&p));
        } else {
            out.extend(yaml_docs(&p));
        }
    }
    if let Some(ns) = obj.get("namespace").and_then(Value::as_str) {
        for res in &mut out {
            res["metadata"]["namespace"] = Value::String(ns.to_string());
        }
    }
    for p in obj
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let file = dir.join(p["path"].as_str().expect("patch path"));
        let patch = yaml_docs(&file).into_iter().next().expect("patch document");
        let (kind, name) = match p.get("target") {
            Some(t) => (t.get("kind").cloned(), t.get("name").cloned()),
            None => (
                Some(patch["kind"].clone()),
                Some(patch["metadata"]["name"].clone()),
            ),
        };
        let mut matched = 0;
        for res in &mut out {
            let kind_ok = kind.as_ref().is_none_or(|k| &res["kind"] == k);
            let name_ok = name.as_ref().is_none_or(|n| &res["metadata"]["name"] == n);
            if kind_ok && name_ok {
                let mut body = patch.clone();
                // With a target, the patch's own identity fields do not apply.
                if let Some(o) = body.as_object_mut() {
                    o.remove("apiVersion");
                    o.remove("kind");
                    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("name");
                    }
                }
                merge_patch(res, &body);
                matched += 1;
            }
        }
        assert!(matched > 0, "{}: patch matches no resource", file.display());
    }
    out
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
    // An emptied metadata stays an object: matches kustomize output.
}
