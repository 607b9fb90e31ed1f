//! Reads typed data from a parsed JSON tree (`serde_json::Value`), naming
//! the JSON path of the first error (`providers[1].issuer`): the plugin
//! configuration DTOs, and the JSON the plugins receive (Vault and token
//! endpoint answers, shared-data snapshots, JOSE headers).
//!
//! Why not serde derive: each derived type instantiates its own visitor and
//! deserializer code. Configuration alone was ≈ 35–60 KB of every module
//! after wasm-opt. Here a type lists its fields once in [`read_fields!`];
//! the readers per field type are shared by every type.
//!
//! Errors are [`ConfigError`]s (a path and what is wrong). Their message
//! shows the offending value, so code reading untrusted JSON that may carry
//! secrets keeps only the path (e.g. `vault::response`).

use crate::config::document::parse_document;
use crate::config::ConfigError;
use crate::secret::Secret;
use crate::vec_map::VecMap;
use serde_json::{Map, Value};
use std::fmt;

/// A type that can be read from a node of a parsed JSON document.
pub trait FromJson: Sized {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError>;
}

/// Where a node sits in the document: a chain up to the root that becomes
/// text only when something fails.
#[derive(Clone, Copy)]
pub enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("."),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(Path::Root, index) => write!(f, "[{index}]"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// One node of the document and its path.
#[derive(Clone, Copy)]
pub struct Node<'a, 'p> {
    value: &'a Value,
    path: Path<'p>,
}

impl<'a> Node<'a, 'static> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: Path::Root,
        }
    }
}

impl<'a, 'p> Node<'a, 'p> {
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.path.to_string(), message)
    }

    /// "invalid type: integer `3`, expected a string" (serde's wording).
    pub fn invalid_type(&self, expected: &str) -> ConfigError {
        self.error(format!(
            "invalid type: {}, expected {expected}",
            Shown(self.value)
        ))
    }

    pub fn str(&self) -> Result<&'a str, ConfigError> {
        match self.value {
            Value::String(s) => Ok(s),
            _ => Err(self.invalid_type("a string")),
        }
    }

    /// An object with only the `fields` listed (an unknown one is named by
    /// its own path).
    pub fn object<'n>(&'n self, fields: &[&'static str]) -> Result<Object<'a, 'n>, ConfigError> {
        self.object_of(fields, true)
    }

    /// An object that may have more members than the `fields` read (answers
    /// of servers that add fields over time).
    pub fn object_ignoring_unknown<'n>(&'n self) -> Result<Object<'a, 'n>, ConfigError> {
        self.object_of(&[], false)
    }

    fn object_of<'n>(
        &'n self,
        fields: &[&'static str],
        strict: bool,
    ) -> Result<Object<'a, 'n>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.invalid_type("an object"));
        };
        if strict {
            if let Some(unknown) = members.keys().find(|key| !fields.contains(&key.as_str())) {
                return Err(ConfigError::new(
                    Path::Key(&self.path, unknown).to_string(),
                    format!("unknown field `{unknown}`, expected {}", OneOf(fields)),
                ));
            }
        }
        Ok(Object {
            members,
            path: &self.path,
        })
    }

    /// A string naming one of `variants` (a unit enum); its index.
    pub fn one_of(&self, variants: &[&'static str]) -> Result<usize, ConfigError> {
        let name = self.str()?;
        variants
            .iter()
            .position(|v| *v == name)
            .ok_or_else(|| self.unknown_variant(name, variants))
    }

    /// An enum written as `{"variant": value}` (exactly one member): the
    /// variant's index and its value.
    pub fn tagged<'n>(
        &'n self,
        variants: &[&'static str],
    ) -> Result<(usize, Node<'a, 'n>), ConfigError> {
        let member = match self.value {
            Value::Object(members) if members.len() == 1 => members.iter().next(),
            _ => None,
        };
        let Some((name, value)) = member else {
            return Err(self.invalid_type(&format!(
                "an object with exactly one member, {}",
                OneOf(variants)
            )));
        };
        let index = variants
            .iter()
            .position(|v| *v == name)
            .ok_or_else(|| self.unknown_variant(name, variants))?;
        let node = Node {
            value,
            path: Path::Key(&self.path, name),
        };
        Ok((index, node))
    }

    fn unknown_variant(&self, name: &str, variants: &[&'static str]) -> ConfigError {
        self.error(format!(
            "unknown variant `{name}`, expected {}",
            OneOf(variants)
        ))
    }

    fn items(&self) -> Result<&'a [Value], ConfigError> {
        match self.value {
            Value::Array(items) => Ok(items),
            _ => Err(self.invalid_type("an array")),
        }
    }
}

/// The members of an object node, read by name.
pub struct Object<'a, 'n> {
    members: &'a Map<String, Value>,
    path: &'n Path<'n>,
}

impl<'a> Object<'a, '_> {
    fn node(&self, key: &'static str) -> Option<Node<'a, '_>> {
        self.members.get(key).map(|value| Node {
            value,
            path: Path::Key(self.path, key),
        })
    }

    /// A field that must be present.
    pub fn required<T: FromJson>(&self, key: &'static str) -> Result<T, ConfigError> {
        match self.node(key) {
            Some(node) => T::read(node),
            None => Err(ConfigError::new(
                self.path.to_string(),
                format!("missing field `{key}`"),
            )),
        }
    }

    /// A field that may be absent or `null`.
    pub fn optional<T: FromJson>(&self, key: &'static str) -> Result<Option<T>, ConfigError> {
        self.or(key, None)
    }

    /// A field whose `null` means something else than its absence (an
    /// override that removes a setting): absent → `None`, `null` →
    /// `Some(None)`.
    pub fn present<T: FromJson>(
        &self,
        key: &'static str,
    ) -> Result<Option<Option<T>>, ConfigError> {
        self.node(key).map(Option::<T>::read).transpose()
    }

    /// A field that takes `T::default()` when absent.
    pub fn default<T: FromJson + Default>(&self, key: &'static str) -> Result<T, ConfigError> {
        self.or_else(key, T::default)
    }

    /// A field that takes `value` when absent.
    pub fn or<T: FromJson>(&self, key: &'static str, value: T) -> Result<T, ConfigError> {
        match self.node(key) {
            Some(node) => T::read(node),
            None => Ok(value),
        }
    }

    /// A field that takes `make()` when absent.
    pub fn or_else<T: FromJson>(
        &self,
        key: &'static str,
        make: impl FnOnce() -> T,
    ) -> Result<T, ConfigError> {
        match self.node(key) {
            Some(node) => T::read(node),
            None => Ok(make()),
        }
    }
}

/// Reads an object node into `Self` (a struct, or a struct variant such as
/// `Self::Static`), one reader per field, rejecting unknown fields:
///
/// ```ignore
/// read_fields!(node => Self {
///     name,                         // required
///     scope: optional,              // absent or null → None
///     query: default,               // absent → Default::default()
///     strip_cookies: or(true),      // absent → true
///     matches as "match",           // the JSON name differs
/// })
/// ```
///
/// `read_fields!(ignore_unknown node => ..)` accepts members it does not read.
macro_rules! read_fields {
    (ignore_unknown $node:expr => $($body:tt)+) => {
        $crate::json::read_fields!(@build $node.object_ignoring_unknown(), $($body)+)
    };
    ($node:expr => $($ty:ident)::+ { $($field:ident $(as $key:literal)? $(: $how:ident $(($arg:expr))?)?),* $(,)? }) => {
        $crate::json::read_fields!(
            @build $node.object(&[$($crate::json::read_fields!(@key $field $($key)?)),*]),
            $($ty)::+ { $($field $(as $key)? $(: $how $(($arg))?)?),* }
        )
    };
    (@build $object:expr, $($ty:ident)::+ { $($field:ident $(as $key:literal)? $(: $how:ident $(($arg:expr))?)?),* $(,)? }) => {{
        let object = $object?;
        Ok($($ty)::+ {
            $($field: $crate::json::read_fields!(
                @get object, $crate::json::read_fields!(@key $field $($key)?) $(, $how $(, $arg)?)?
            )?),*
        })
    }};
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@get $object:ident, $key:expr) => { $object.required($key) };
    (@get $object:ident, $key:expr, $how:ident) => { $object.$how($key) };
    (@get $object:ident, $key:expr, $how:ident, $arg:expr) => { $object.$how($key, $arg) };
}
pub(crate) use read_fields;

/// Parses an untrusted answer (one JSON document, no duplicate keys: a
/// second `alg` or `sub` must not change what a reader sees) and reads a `T`
/// from it. The error says where the JSON went wrong (serde_json's line and
/// column, or the JSON path), never what it held: answers may carry tokens.
pub fn read_untrusted<T: FromJson>(raw: &[u8]) -> Result<T, String> {
    let value = parse_untrusted(raw)?;
    T::read(Node::root(&value)).map_err(untrusted_error)
}

/// Parses an untrusted document as [`read_untrusted`] does, into a `Value`
/// (out of line: shared by every `read_untrusted::<T>`).
#[inline(never)]
pub(crate) fn parse_untrusted(raw: &[u8]) -> Result<Value, String> {
    parse_document(raw).map_err(|e| format!("{} at `{}`", e.message, e.path))
}

#[inline(never)]
fn untrusted_error(e: ConfigError) -> String {
    // Our own field names only; a type error's message would show the value.
    if e.message.starts_with("missing field") {
        format!("{} at `{}`", e.message, e.path)
    } else {
        format!("unexpected value at `{}`", e.path)
    }
}

/// `impl FromJson` for a struct whose fields are read as in [`read_fields!`]:
/// `from_json!(TokenEndpointDto { cluster, authority, path });`, or
/// `from_json!(#[ignore_unknown] Envelope { .. })` for a server's answer.
macro_rules! from_json {
    ($(#[$how:ident])? $ty:ident { $($fields:tt)* }) => {
        impl $crate::json::FromJson for $ty {
            fn read(
                node: $crate::json::Node<'_, '_>,
            ) -> Result<Self, $crate::config::ConfigError> {
                $crate::json::read_fields!($($how)? node => Self { $($fields)* })
            }
        }
    };
}
pub(crate) use from_json;

/// `impl FromJson` for an enum written as one of a few names:
/// `from_json_names!(ArrayFormat { "joined" => Joined, "json" => Json });`
macro_rules! from_json_names {
    ($ty:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn read(
                node: $crate::json::Node<'_, '_>,
            ) -> Result<Self, $crate::config::ConfigError> {
                let index = node.one_of(&[$($name),+])?;
                [$(Self::$variant),+]
                    .into_iter()
                    .nth(index)
                    .ok_or_else(|| node.error("unknown variant"))
            }
        }
    };
}
pub(crate) use from_json_names;

/// A value as serde's errors show it.
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "boolean `{b}`"),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => write!(f, "integer `{u}`"),
                (_, Some(i)) => write!(f, "integer `{i}`"),
                // Not formatted: a float printer is ~15 KB of module.
                _ => f.write_str("a fractional number"),
            },
            Value::String(s) => write!(f, "string {s:?}"),
            Value::Array(_) => f.write_str("an array"),
            Value::Object(_) => f.write_str("an object"),
        }
    }
}

/// "one of `a`, `b`" / "`a`" / "no fields".
struct OneOf<'a>(&'a [&'static str]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("no fields"),
            [one] => write!(f, "`{one}`"),
            names => {
                f.write_str("one of ")?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{name}`")?;
                }
                Ok(())
            }
        }
    }
}

impl FromJson for String {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        node.str().map(str::to_string)
    }
}

/// A string that must never be shown (a value from shared data or an answer).
impl FromJson for Secret {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        node.str().map(Secret::new)
    }
}

impl FromJson for bool {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        node.value
            .as_bool()
            .ok_or_else(|| node.invalid_type("a boolean"))
    }
}

/// Non-negative integers, range-checked ("invalid value: integer `70000`, expected u16").
macro_rules! unsigned {
    ($($ty:ty),*) => {$(
        impl FromJson for $ty {
            fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
                let expected = stringify!($ty);
                let n = node.value.as_u64().ok_or_else(|| node.invalid_type(expected))?;
                <$ty>::try_from(n).map_err(|_| {
                    node.error(format!("invalid value: integer `{n}`, expected {expected}"))
                })
            }
        }
    )*};
}
unsigned!(u64, u32, u16, usize);

/// Any JSON value, kept as it is (claim values compared at request time).
impl FromJson for Value {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        Ok(node.value.clone())
    }
}

/// A JSON object kept as it is (published claims).
impl FromJson for Map<String, Value> {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.value {
            Value::Object(members) => Ok(members.clone()),
            _ => Err(node.invalid_type("an object")),
        }
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.value {
            Value::Null => Ok(None),
            _ => T::read(node).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        T::read(node).map(Box::new)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        let items = node.items()?;
        let mut out = Vec::with_capacity(items.len());
        for (index, value) in items.iter().enumerate() {
            out.push(T::read(Node {
                value,
                path: Path::Index(&node.path, index),
            })?);
        }
        Ok(out)
    }
}

impl<T: FromJson> FromJson for VecMap<String, T> {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        let Value::Object(members) = node.value else {
            return Err(node.invalid_type("an object"));
        };
        let mut out = VecMap::new();
        for (key, value) in members {
            let item = T::read(Node {
                value,
                path: Path::Key(&node.path, key),
            })?;
            out.insert(key.clone(), item);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_json;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug, PartialEq)]
    enum Kind {
        Kv { path: String, version: Option<u64> },
        Token { env: String },
    }

    impl FromJson for Kind {
        fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
            match node.tagged(&["kv", "token"])? {
                (0, data) => read_fields!(data => Self::Kv { path, version: optional }),
                (_, data) => read_fields!(data => Self::Token { env }),
            }
        }
    }

    #[derive(Debug, PartialEq)]
    enum Mode {
        A,
        B,
    }

    from_json_names!(Mode { "a" => A, "b" => B });

    #[derive(Debug, PartialEq)]
    struct Dto {
        name: String,
        port: u16,
        kind: Option<Kind>,
        tags: Vec<String>,
        secure: bool,
        domain: Option<Option<String>>,
        mode: Mode,
    }

    impl FromJson for Dto {
        fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
            read_fields!(node => Self {
                name,
                port: or(443),
                kind: optional,
                tags: default,
                secure: or_else(|| true),
                domain: present,
                mode as "the_mode": or(Mode::A),
            })
        }
    }

    fn err(json: &str) -> ConfigError {
        parse_json::<Dto>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn defaults_fill_absent_fields_only() {
        let dto = parse_json::<Dto>(br#"{"name":"a"}"#).unwrap();
        assert_eq!(
            dto,
            Dto {
                name: "a".into(),
                port: 443,
                kind: None,
                tags: vec![],
                secure: true,
                domain: None,
                mode: Mode::A,
            }
        );
        let dto = parse_json::<Dto>(
            br#"{"name":"a","port":8443,"kind":{"kv":{"path":"p","version":null}},"tags":["x"],"secure":false,"domain":"d"}"#,
        )
        .unwrap();
        assert_eq!(dto.port, 8443);
        assert_eq!(
            dto.kind,
            Some(Kind::Kv {
                path: "p".into(),
                version: None
            })
        );
        assert_eq!((dto.tags, dto.secure), (vec!["x".to_string()], false));
        assert_eq!(dto.domain, Some(Some("d".into())));
    }

    #[test]
    fn null_is_absent_only_where_the_dto_says_so() {
        // An override's `null` removes the setting; absence inherits it.
        let dto = parse_json::<Dto>(br#"{"name":"a","domain":null,"kind":null}"#).unwrap();
        assert_eq!((dto.domain, dto.kind), (Some(None), None));
        // A defaulted field is not optional: `null` is a type error there.
        let e = err(r#"{"name":"a","port":null}"#);
        assert_eq!(e.path, "port");
        assert_eq!(e.message, "invalid type: null, expected u16");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let e = err(r#"{"name":"a","prot":1}"#);
        assert_eq!(e.path, "prot");
        assert_eq!(
            e.message,
            "unknown field `prot`, expected one of `name`, `port`, `kind`, `tags`, `secure`, `domain`, `the_mode`"
        );
        let e = err(r#"{"port":1}"#);
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (".", "missing field `name`")
        );
        // The typo, not the field it hides, is reported.
        let e = err(r#"{"nmae":"a"}"#);
        assert_eq!(e.path, "nmae");
    }

    #[test]
    fn integers_are_range_checked() {
        let e = err(r#"{"name":"a","port":70000}"#);
        assert_eq!(e.message, "invalid value: integer `70000`, expected u16");
        let e = err(r#"{"name":"a","port":-1}"#);
        assert_eq!(e.message, "invalid type: integer `-1`, expected u16");
        let e = err(r#"{"name":"a","port":1.5}"#);
        assert_eq!(e.message, "invalid type: a fractional number, expected u16");
        let e = err(r#"{"name":"a","port":"443"}"#);
        assert_eq!(e.message, "invalid type: string \"443\", expected u16");
    }

    #[test]
    fn enums_name_their_variants() {
        let e = err(r#"{"name":"a","kind":{"kb":{}}}"#);
        assert_eq!(e.path, "kind");
        assert_eq!(
            e.message,
            "unknown variant `kb`, expected one of `kv`, `token`"
        );
        let e = err(r#"{"name":"a","kind":{"kv":{"path":"p"},"token":{"env":"E"}}}"#);
        assert_eq!(e.path, "kind");
        assert!(e.message.contains("exactly one member"), "{}", e.message);
        let e = err(r#"{"name":"a","kind":"kv"}"#);
        assert!(
            e.message.starts_with("invalid type: string \"kv\""),
            "{}",
            e.message
        );
        let e = err(r#"{"name":"a","kind":{"token":{"env":"E","path":"p"}}}"#);
        assert_eq!(e.path, "kind.token.path");
        let e = err(r#"{"name":"a","kind":{"token":{}}}"#);
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("kind.token", "missing field `env`")
        );
        let e = err(r#"{"name":"a","the_mode":"c"}"#);
        assert_eq!(e.path, "the_mode");
        assert_eq!(e.message, "unknown variant `c`, expected one of `a`, `b`");
        assert_eq!(
            parse_json::<Dto>(br#"{"name":"a","the_mode":"b"}"#)
                .unwrap()
                .mode,
            Mode::B
        );
    }

    #[test]
    fn array_items_are_named_by_index() {
        let e = err(r#"{"name":"a","tags":["x",7]}"#);
        assert_eq!(e.path, "tags[1]");
        assert_eq!(e.message, "invalid type: integer `7`, expected a string");
        let e = err(r#"{"name":"a","tags":{"x":1}}"#);
        assert_eq!(e.message, "invalid type: an object, expected an array");
    }

    #[derive(Debug)]
    struct Answer {
        #[allow(dead_code)]
        ttl: Option<u64>,
    }

    from_json!(
        #[ignore_unknown]
        Answer { ttl: optional }
    );

    #[test]
    fn untrusted_answers_ignore_extra_members_and_never_echo_a_value() {
        let answer = read_untrusted::<Answer>(br#"{"ttl":5,"added_later":true}"#).unwrap();
        assert_eq!(answer.ttl, Some(5));
        // A token where a number belongs: the error names the place only.
        let e = read_untrusted::<Answer>(br#"{"ttl":"hvs.SECRET-TOKEN"}"#).unwrap_err();
        assert_eq!(e, "unexpected value at `ttl`");
        let e = read_untrusted::<Answer>(br#"{"ttl":1,"ttl":"hvs.SECRET-TOKEN"}"#).unwrap_err();
        assert!(e.contains("duplicate key `ttl`"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        let e = read_untrusted::<Answer>(br#"{"ttl":"hvs.SECRET-TOKEN""#).unwrap_err();
        assert!(e.contains("EOF while parsing"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        let e = read_untrusted::<Answer>(b"[1]").unwrap_err();
        assert_eq!(e, "unexpected value at `.`");
    }
}
