//! Claim conditions against random claims. The input is
//! `<condition JSON>\0<claims JSON>`; when the condition part does not
//! compile, a fixed condition using every operator is evaluated instead, so
//! random claims always meet real conditions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::claims::{Condition, ConditionConfig};
use policies::config::load;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const FIXED: &str = r#"{"any": [
  {"all": [
    {"claim": "realm_access.roles", "contains": "admin"},
    {"claim": "scope", "contains_all": ["api:read", "api:write"]},
    {"not": {"claim": "email_verified", "equals": false}}
  ]},
  {"claim": "groups", "contains_any": ["ops", "admins"]},
  {"claim": "tenant", "one_of": ["a", "b", 3]},
  {"claim": "email", "regex": "[a-z]+@example\\.com"},
  {"all": [{"claim": "acr", "present": true}, {"claim": "impersonated", "absent": true}]},
  {"claim": ["https://example.com/claims", "level"], "equals": 3}
]}"#;

fn fixed() -> Option<&'static Condition> {
    static FIXED_CONDITION: OnceLock<Option<Condition>> = OnceLock::new();
    FIXED_CONDITION
        .get_or_init(|| load::<ConditionConfig>(FIXED.as_bytes()).ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let (cond_raw, claims_raw) = match data.iter().position(|b| *b == 0) {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (&[][..], data),
    };
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(claims_raw) else {
        return;
    };
    if let Ok(cond) = load::<ConditionConfig>(cond_raw) {
        let _ = cond.evaluate(&claims).map_err(|d| d.reason_code());
    }
    if let Some(cond) = fixed() {
        let _ = cond.evaluate(&claims).map_err(|d| d.reason_code());
    }
});
