//! Validates a resource against a CRD's `openAPIV3Schema`: the structural
//! subset Kubernetes enforces — `type` (with `x-kubernetes-int-or-string`),
//! `required`, `enum`, `properties` with unknown fields refused unless
//! `additionalProperties` or `x-kubernetes-preserve-unknown-fields`, `items`,
//! `minimum`/`maximum`, `minLength`/`maxLength`, `maxItems`, `pattern`,
//! `oneOf`/`anyOf`/`allOf`/`not`, and the `x-kubernetes-validations` CEL
//! rules (see `cel.rs`).

use serde_json::Value;
use std::collections::BTreeMap;

/// CRD schemas by (apiVersion, kind), served versions only.
pub struct Schemas(BTreeMap<(String, String), Value>);

impl Schemas {
    pub fn from_crds(crds: &[Value]) -> Self {
        let mut map = BTreeMap::new();
        for crd in crds {
            let group = crd["spec"]["group"].as_str().unwrap();
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
            for v in crd["spec"]["versions"].as_array().unwrap() {
                if v["served"] == Value::Bool(true) {
                    let api = format!("{group}/{}", v["name"].as_str().unwrap());
                    map.insert(
                        (api, kind.to_string()),
                        v["schema"]["openAPIV3Schema"].clone(),
                    );
                }
            }
        }
        Schemas(map)
    }

    pub fn get(&self, api_version: &str, kind: &str) -> Option<&Value> {
        self.0.get(&(api_version.to_string(), kind.to_string()))
    }

    pub fn kinds(&self) -> Vec<String> {
        self.0.keys().map(|(a, k)| format!("{a} {k}")).collect()
    }
}

/// All violations, each `path: what`.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    // apiVersion, kind and metadata are validated by Kubernetes itself, not the CRD schema.
    let mut body = value.clone();
    if let Some(o) = body.as_object_mut() {
        for k in ["apiVersion", "kind", "metadata"] {
            o.remove(k);
        }
    }
    let mut errors = Vec::new();
    check(schema, &body, "", &mut errors);
    errors
}

fn check(s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let at = if path.is_empty() { "." } else { path };
    let int_or_string = s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string() || (int_or_string && v.is_i64()),
            "integer" => v.is_i64() || v.is_u64() || (int_or_string && v.is_string()),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
    } else if int_or_string && !(v.is_string() || v.is_i64()) {
        errs.push(format!("{at}: expected int or string, got {v}"));
    }
    super::cel::check_rules(s, v, at, errs);
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!(
                "{at}: {v} is not one of {}",
                Value::Array(e.clone())
            ));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if n > max {
            errs.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            errs.push(format!("{at}: longer than maxLength"));
        }
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            errs.push(format!("{at}: shorter than minLength"));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            let re = regex_lite::Regex::new(p).unwrap_or_else(|e| panic!("pattern {p}: {e}"));
            if !re.is_match(text) {
                errs.push(format!("{at}: `{text}` does not match {p}"));
            }
        }
    }
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if v.get(r).is_none() {
                errs.push(format!("{at}: `{r}` is required"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        let additional = s.get("additionalProperties");
        for (k, child) in obj {
            let child_path = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, child, &child_path, errs),
                None => match additional {
                    Some(Value::Bool(true)) => {}
                    Some(a) if a.is_object() => check(a, child, &child_path, errs),
                    // Only structural nodes with declared properties refuse
                    // unknown fields (Kubernetes prunes them; we report them).
                    _ if preserve || props.is_none() => {}
                    _ => errs.push(format!("{child_path}: unknown field")),
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if s.get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| arr.len() as u64 > m)
        {
            errs.push(format!("{at}: more than maxItems"));
        }
        if let Some(items) = s.get("items") {
            for (i, item) in arr.iter().enumerate() {
                check(items, item, &format!("{path}[{i}]"), errs);
            }
        }
    }
    let passes = |sub: &Value| validate_at(sub, v, path).is_empty();
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, v, path, errs);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(passes) {
            errs.push(format!("{at}: matches none of anyOf"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|sub| passes(sub)).count();
        if n != 1 {
            errs.push(format!("{at}: matches {n} of oneOf (expected exactly 1)"));
        }
    }
    if let Some(not) = s.get("not") {
        if passes(not) {
            errs.push(format!("{at}: matches a `not` schema"));
        }
    }
}

fn validate_at(s: &Value, v: &Value, path: &str) -> Vec<String> {
    let mut e = Vec::new();
    check(s, v, path, &mut e);
    e
}
