//! Claim condition configuration (the DTO) and its compilation.
//!
//! ```json
//! {"all": [
//!   {"claim": "realm_access.roles", "contains": "admin"},
//!   {"any": [{"claim": "scope", "contains_all": ["read", "write"]},
//!            {"not": {"claim": "email_verified", "equals": false}}]}
//! ]}
//! ```

use crate::config::{from_json, Compile, ConfigError};
use serde_json::Value;

use super::condition::{Condition, Leaf, Operator};
use super::path::{ClaimPath, ClaimPathConfig};
use super::value::{Scalar, StringAsSet};
use crate::routes::FullMatchRegex;

/// Deepest nesting of `all`/`any`/`not` we accept (bounds evaluation recursion).
pub const MAX_NESTING: usize = 16;

/// One condition: a combinator (`all`, `any`, `not`) or a `claim` with
/// exactly one operator.
#[derive(Clone, Debug, Default)]
pub struct ConditionConfig {
    pub all: Option<Vec<ConditionConfig>>,
    pub any: Option<Vec<ConditionConfig>>,
    pub not: Option<Box<ConditionConfig>>,

    pub claim: Option<ClaimPathConfig>,
    /// Treat a string claim as a space-separated set for the `contains*`
    /// operators. Defaults to true for the top-level `scope` and `scp` claims.
    /// Otherwise a string top-level `aud` is a set of one.
    pub space_separated: Option<bool>,

    pub equals: Option<Value>,
    pub one_of: Option<Vec<Value>>,
    pub contains: Option<Value>,
    pub contains_any: Option<Vec<Value>>,
    pub contains_all: Option<Vec<Value>>,
    pub regex: Option<String>,
    /// Only `true` is accepted; write `absent: true` for the opposite.
    pub present: Option<bool>,
    pub absent: Option<bool>,
}

from_json!(ConditionConfig {
    all: optional,
    any: optional,
    not: optional,
    claim: optional,
    space_separated: optional,
    equals: optional,
    one_of: optional,
    contains: optional,
    contains_any: optional,
    contains_all: optional,
    regex: optional,
    present: optional,
    absent: optional,
});

impl Compile for ConditionConfig {
    type Compiled = Condition;

    fn compile(self) -> Result<Condition, ConfigError> {
        compile_at(self, 0)
    }
}

fn compile_at(c: ConditionConfig, depth: usize) -> Result<Condition, ConfigError> {
    if depth > MAX_NESTING {
        return Err(ConfigError::new(
            ".",
            format!("conditions are nested deeper than {MAX_NESTING}"),
        ));
    }
    let combinators = [c.all.is_some(), c.any.is_some(), c.not.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let leaf_fields = c.claim.is_some() || c.space_separated.is_some() || has_operator(&c);
    match (combinators, leaf_fields) {
        (0, true) => compile_leaf(c).map(Condition::Leaf),
        (1, false) => {
            if let Some(list) = c.all {
                compile_list("all", list, depth).map(Condition::All)
            } else if let Some(list) = c.any {
                compile_list("any", list, depth).map(Condition::Any)
            } else if let Some(inner) = c.not {
                let inner = compile_at(*inner, depth + 1).map_err(|e| e.under("not"))?;
                Ok(Condition::Not(Box::new(inner)))
            } else {
                Err(empty_condition())
            }
        }
        (0, false) => Err(empty_condition()),
        _ => Err(ConfigError::new(
            ".",
            "a condition is either one of `all`, `any`, `not`, or a `claim` with an operator",
        )
        .with_hint("nest conditions: {\"all\": [{...}, {...}]}")),
    }
}

fn empty_condition() -> ConfigError {
    ConfigError::new(".", "the condition is empty")
        .with_hint("write e.g. {\"claim\": \"realm_access.roles\", \"contains\": \"admin\"}")
}

fn has_operator(c: &ConditionConfig) -> bool {
    c.equals.is_some()
        || c.one_of.is_some()
        || c.contains.is_some()
        || c.contains_any.is_some()
        || c.contains_all.is_some()
        || c.regex.is_some()
        || c.present.is_some()
        || c.absent.is_some()
}

fn compile_list(
    field: &str,
    list: Vec<ConditionConfig>,
    depth: usize,
) -> Result<Vec<Condition>, ConfigError> {
    if list.is_empty() {
        // An empty `all` is vacuously true: almost surely a mistake that would allow everyone.
        return Err(ConfigError::new(field, "the list is empty"));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, c)| compile_at(c, depth + 1).map_err(|e| e.under(&format!("{field}[{i}]"))))
        .collect()
}

fn compile_leaf(c: ConditionConfig) -> Result<Leaf, ConfigError> {
    let Some(claim) = c.claim else {
        return Err(ConfigError::new(".", "an operator needs a `claim`"));
    };
    let path = ClaimPath::compile("claim", claim)?;
    let strings = match c.space_separated {
        Some(true) => StringAsSet::Words,
        None if path.is_top_level("scope") || path.is_top_level("scp") => StringAsSet::Words,
        _ if path.is_top_level("aud") => StringAsSet::One,
        _ => StringAsSet::No,
    };
    let mut ops = Vec::new();
    if let Some(v) = c.equals {
        ops.push(scalar("equals", v).map(Operator::Equals));
    }
    if let Some(vs) = c.one_of {
        ops.push(scalars("one_of", vs).map(Operator::OneOf));
    }
    if let Some(v) = c.contains {
        ops.push(scalar("contains", v).map(Operator::Contains));
    }
    if let Some(vs) = c.contains_any {
        ops.push(scalars("contains_any", vs).map(Operator::ContainsAny));
    }
    if let Some(vs) = c.contains_all {
        ops.push(scalars("contains_all", vs).map(Operator::ContainsAll));
    }
    if let Some(r) = c.regex {
        ops.push(FullMatchRegex::compile("regex", &r, false).map(Operator::Regex));
    }
    if let Some(p) = c.present {
        ops.push(only_true("present", p, "absent").map(|()| Operator::Present));
    }
    if let Some(a) = c.absent {
        ops.push(only_true("absent", a, "present").map(|()| Operator::Absent));
    }
    let mut ops = ops.into_iter();
    match (ops.next(), ops.next()) {
        (Some(op), None) => Ok(Leaf {
            path,
            op: op?,
            strings,
        }),
        (None, _) => Err(ConfigError::new(".", "the claim has no operator").with_hint(
            "add one of equals, one_of, contains, contains_any, contains_all, regex, present, absent",
        )),
        (Some(_), Some(_)) => Err(ConfigError::new(".", "a claim takes exactly one operator")
            .with_hint("combine several with {\"all\": [...]}")),
    }
}

fn only_true(field: &str, value: bool, opposite: &str) -> Result<(), ConfigError> {
    if value {
        Ok(())
    } else {
        Err(ConfigError::new(field, "only `true` is accepted")
            .with_hint(format!("write `\"{opposite}\": true`")))
    }
}

fn scalar(field: &str, value: Value) -> Result<Scalar, ConfigError> {
    Scalar::from_json(value)
        .ok_or_else(|| ConfigError::new(field, "expected a string, number or boolean"))
}

fn scalars(field: &str, values: Vec<Value>) -> Result<Vec<Scalar>, ConfigError> {
    if values.is_empty() {
        return Err(ConfigError::new(field, "the list is empty"));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| scalar(&format!("{field}[{i}]"), v))
        .collect()
}
