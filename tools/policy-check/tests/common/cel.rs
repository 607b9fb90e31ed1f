//! Evaluates a CRD schema node's `x-kubernetes-validations` (CEL rules) the
//! way the Kubernetes API server does on create: `self` is the node's value,
//! a rule that is false reports its `message`. Kubernetes' CEL library adds
//! `isURL`/`url(..).getScheme()` on top of standard CEL; they are defined here
//! after Go's `url.ParseRequestURI`, which Kubernetes uses. A rule that cannot
//! be evaluated is an error too, so an unsupported function never passes silently.

use cel::extractors::This;
use cel::{Context, Env, Value as CelValue};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

/// Every violated rule at this node, as `path: message`.
pub fn check_rules(schema: &Value, value: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    else {
        return;
    };
    for r in rules {
        let rule = r["rule"].as_str().unwrap_or_default();
        let message = r["message"].as_str().unwrap_or(rule);
        match evaluate(rule, value) {
            Ok(true) => {}
            Ok(false) => errs.push(format!("{at}: {message}")),
            Err(e) => errs.push(format!("{at}: rule `{rule}` could not be evaluated: {e}")),
        }
    }
}

/// Whether `rule` is valid CEL for the interpreter (syntax, macros).
pub fn compile(rule: &str) -> Result<(), String> {
    env().compile(rule).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether `rule` holds for `self = value`.
pub fn evaluate(rule: &str, value: &Value) -> Result<bool, String> {
    let program = env().compile(rule).map_err(|e| e.to_string())?;
    let mut ctx = Context::with_env(env());
    ctx.add_variable("self", value.clone())
        .map_err(|e| e.to_string())?;
    ctx.add_function("isURL", |s: Arc<String>| is_url(&s))
        .map_err(|e| e.to_string())?;
    ctx.add_function("url", |s: Arc<String>| s)
        .map_err(|e| e.to_string())?;
    ctx.add_function("getScheme", |This(s): This<Arc<String>>| {
        Arc::new(scheme(&s).unwrap_or_default().to_string())
    })
    .map_err(|e| e.to_string())?;
    match program.execute(&ctx).map_err(|e| e.to_string())? {
        CelValue::Bool(b) => Ok(b),
        other => Err(format!("rule returned {other:?}, not a bool")),
    }
}

/// RFC 3986 scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`), if any.
pub fn scheme(s: &str) -> Option<&str> {
    let (head, _) = s.split_once(':')?;
    let mut chars = head.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_ok && rest_ok).then_some(head)
}

/// `url.ParseRequestURI` accepts an absolute URI (with a scheme) or an
/// absolute path, without spaces or control characters and with valid `%XX`.
pub fn is_url(s: &str) -> bool {
    let clean = !s.chars().any(|c| c.is_whitespace() || c.is_control());
    let escapes_ok = s.split('%').skip(1).all(|t| {
        t.len() >= 2 && t.is_char_boundary(2) && t[..2].chars().all(|c| c.is_ascii_hexdigit())
    });
    clean && escapes_ok && (scheme(s).is_some() || s.starts_with('/'))
}
