//! The configuration pattern every plugin uses: raw JSON → DTO read by
//! [`FromJson`] (unknown fields rejected) → validated, compiled policy,
//! built once at configure time. Every error names the JSON path of the offending field.

pub(crate) mod document;

pub(crate) use crate::json::{from_json, read_fields};
pub use crate::json::{FromJson, Node, Object};

use crate::secret::Secret;
use std::fmt;

/// A configuration error, rejected at configure time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the bad field, e.g. `providers[1].issuer` (`.` for the root).
    pub path: String,
    /// What is wrong, e.g. `expected an https URL`.
    pub message: String,
    /// How to fix it, when we know.
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the path with the parent field, for nested validation.
    pub fn under(mut self, parent: &str) -> Self {
        self.path = join_path(parent, &self.path);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Joins a parent path and a child path: `join_path("a", "b[0]") == "a.b[0]"`.
pub fn join_path(parent: &str, child: &str) -> String {
    match (parent, child) {
        ("" | ".", c) => c.to_string(),
        (p, "" | ".") => p.to_string(),
        (p, c) if c.starts_with('[') => format!("{p}{c}"),
        (p, c) => format!("{p}.{c}"),
    }
}

/// Parses the plugin configuration bytes into a DTO. Empty input is an
/// error: a plugin without configuration would silently enforce nothing.
pub fn parse_json<T: FromJson>(raw: &[u8]) -> Result<T, ConfigError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::new(".", "the plugin configuration is empty")
            .with_hint("set `configuration` (Envoy) or `pluginConfig` (Istio WasmPlugin)"));
    }
    let document = document::parse_document(raw)?;
    T::read(Node::root(&document))
}

/// Compiles a DTO into its runtime form, the single entry point used by the
/// filters' `on_configure` and by the offline validator.
pub trait Compile {
    type Compiled;
    fn compile(self) -> Result<Self::Compiled, ConfigError>;
}

/// Parses and compiles in one go.
pub fn load<T: FromJson + Compile>(raw: &[u8]) -> Result<T::Compiled, ConfigError> {
    parse_json::<T>(raw)?.compile()
}

/// Longest accepted callout timeout. proxy-wasm hands Envoy the timeout as
/// `u32` milliseconds: from 2^32 ms (~49.7 days) it wraps around, to 0
/// ("no timeout") or a few ms. A minute is far longer than any IdP, Vault or
/// token endpoint call should take.
pub const MAX_CALLOUT_TIMEOUT_MS: u64 = 60_000;

/// Checks a callout timeout in milliseconds: 1 ms ..= [`MAX_CALLOUT_TIMEOUT_MS`].
pub fn check_callout_timeout(path: &str, timeout_ms: u64) -> Result<(), ConfigError> {
    if (1..=MAX_CALLOUT_TIMEOUT_MS).contains(&timeout_ms) {
        return Ok(());
    }
    let hint = if timeout_ms == 0 {
        "Envoy treats a 0 callout timeout as no timeout at all"
    } else {
        "proxy-wasm passes it to Envoy as 32-bit milliseconds, which a longer value would wrap around"
    };
    Err(ConfigError::new(path, "must be greater than 0 and at most 60s").with_hint(hint))
}

/// Checks an Envoy cluster name used for callouts (IdP, Vault, token endpoints).
pub fn check_cluster(path: &str, cluster: &str) -> Result<(), ConfigError> {
    if cluster.trim().is_empty() || cluster.chars().any(char::is_control) {
        return Err(ConfigError::new(
            path,
            "must be a non-empty Envoy cluster name",
        ));
    }
    Ok(())
}

/// Checks a callout `:authority` (`host[:port]`).
pub fn check_authority(path: &str, authority: &str) -> Result<(), ConfigError> {
    if authority.is_empty()
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(ConfigError::new(
            path,
            "must be a host[:port] without spaces or `/`",
        ));
    }
    Ok(())
}

/// A duration written as `"30s"`, `"5m"`, `"1h"`, `"250ms"` or a bare number of seconds.
pub fn parse_duration_ms(path: &str, text: &str) -> Result<u64, ConfigError> {
    let t = text.trim();
    let (digits, unit_ms) = if let Some(d) = t.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = t.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = t.strip_suffix('m') {
        (d, 60_000)
    } else if let Some(d) = t.strip_suffix('h') {
        (d, 3_600_000)
    } else {
        (t, 1_000)
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_ms))
        .ok_or_else(|| {
            ConfigError::new(path, format!("`{text}` is not a duration"))
                .with_hint("write e.g. \"250ms\", \"30s\", \"5m\" or \"1h\"")
        })
}

/// The plugin's view of its VM environment (Istio `vmConfig.env`, Envoy
/// `environment_variables`): a variable's value by name. Secrets come only from here.
pub type EnvResolver<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The secret held by environment variable `var`, configured at `at`. Errors
/// name the field and the variable, never a value.
pub fn secret_from_env(env: EnvResolver<'_>, at: &str, var: &str) -> Result<Secret, ConfigError> {
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ConfigError::new(
            at,
            "must be an environment variable name [A-Za-z0-9_]",
        ));
    }
    match env(var) {
        Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        _ => Err(ConfigError::new(
            at,
            format!("environment variable `{var}` is not set or empty"),
        )
        .with_hint("list it in vm_config.environment_variables (Istio: vmConfig.env)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug)]
    struct Outer {
        #[allow(dead_code)]
        items: Vec<Inner>,
    }

    impl FromJson for Outer {
        fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
            read_fields!(node => Self { items })
        }
    }

    #[derive(Debug)]
    struct Inner {
        #[allow(dead_code)]
        name: String,
    }

    impl FromJson for Inner {
        fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
            read_fields!(node => Self { name })
        }
    }

    #[test]
    fn unknown_field_error_names_its_json_path() {
        let err = parse_json::<Outer>(br#"{"items":[{"name":"a"},{"nmae":"b"}]}"#).unwrap_err();
        assert_eq!(err.path, "items[1].nmae");
        assert!(
            err.message.contains("unknown field `nmae`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_type_error_names_its_json_path() {
        let err = parse_json::<Outer>(br#"{"items":[{"name":3}]}"#).unwrap_err();
        assert_eq!(err.path, "items[0].name");
        assert!(err.message.contains("expected a string"), "{}", err.message);
    }

    #[test]
    fn empty_configuration_is_rejected() {
        let err = parse_json::<Outer>(b"  \n").unwrap_err();
        assert!(err.message.contains("empty"));
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        assert!(parse_json::<Outer>(br#"{"items":[]} x"#).is_err());
    }

    #[test]
    fn syntax_error_says_line_and_column() {
        let err = parse_json::<Outer>(b"{\"items\": [\n  {\"name\": \"a\",}]}").unwrap_err();
        assert_eq!(err.path, ".");
        assert!(err.message.contains("line 2 column"), "{}", err.message);
    }

    #[test]
    fn duplicate_key_is_rejected_with_its_path() {
        // A derived struct refuses a duplicate field; the document parsed
        // first must not quietly keep the last one instead.
        let err = parse_json::<Outer>(br#"{"items":[{"name":"a"},{"name":"b","name":"c"}]}"#)
            .unwrap_err();
        assert_eq!(err.path, "items[1].name");
        assert!(
            err.message.contains("duplicate key `name`"),
            "{}",
            err.message
        );
        let err = parse_json::<Outer>(br#"{"items":[],"items":[]}"#).unwrap_err();
        assert_eq!(err.path, "items");
    }

    #[test]
    fn numbers_and_nesting_survive_the_document_step() {
        #[derive(Debug, PartialEq)]
        struct Shape {
            count: u32,
            ratio: Value,
            negative: Value,
            flag: Option<bool>,
            nested: Vec<Vec<String>>,
        }
        impl FromJson for Shape {
            fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
                read_fields!(node => Self { count, ratio, negative, flag: optional, nested })
            }
        }
        let shape: Shape = parse_json(
            br#"{"count":7,"ratio":0.25,"negative":-3,"flag":null,"nested":[["x"],[]]}"#,
        )
        .unwrap();
        assert_eq!(
            shape,
            Shape {
                count: 7,
                ratio: json!(0.25),
                negative: json!(-3),
                flag: None,
                nested: vec![vec!["x".into()], vec![]],
            }
        );
        let err =
            parse_json::<Shape>(br#"{"count":-1,"ratio":0,"negative":0,"nested":[]}"#).unwrap_err();
        assert_eq!(err.path, "count");
    }

    #[test]
    fn durations_parse_with_units() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("7", 7_000),
        ] {
            assert_eq!(parse_duration_ms("d", text).unwrap(), ms, "{text}");
        }
        for bad in ["", "s", "-1s", "1.5s", "10 days", "99999999999999999999h"] {
            let e = parse_duration_ms("x.timeout", bad).unwrap_err();
            assert_eq!(e.path, "x.timeout");
        }
    }

    #[test]
    fn join_path_handles_roots_and_indexes() {
        assert_eq!(join_path(".", "a"), "a");
        assert_eq!(join_path("a", "[2].b"), "a[2].b");
        assert_eq!(join_path("a", "b"), "a.b");
        assert_eq!(join_path("a", "."), "a");
    }
}
