//! Route matcher configuration (the DTO) and its compilation.
//!
//! ```json
//! {"methods": ["GET", "HEAD"], "path": {"prefix": "/api"},
//!  "query": [{"name": "format", "one_of": ["json", "csv"]}], "case_insensitive": false}
//! ```

use crate::config::{from_json, Compile, ConfigError, FromJson, Node};

use super::matcher::{MethodSet, PathMatcher, QueryCondition, QueryTest, RouteMatcher};
use super::path::check_path;
use super::regex::FullMatchRegex;
use super::template::PathTemplate;

#[derive(Clone, Debug)]
pub struct RouteMatchConfig {
    /// HTTP methods, compared in upper case. Absent means any method.
    pub methods: Option<Vec<String>>,
    pub path: PathConfig,
    /// All constraints must hold.
    pub query: Vec<QueryConfig>,
    /// Compare path literals ignoring ASCII case. Off by default: `/API/x`
    /// does not match `/api` unless asked, so an allowlist fails closed.
    pub case_insensitive: bool,
}

from_json!(RouteMatchConfig {
    methods: optional,
    path,
    query: default,
    case_insensitive: default,
});

/// Exactly one way to match the path.
#[derive(Clone, Debug)]
pub enum PathConfig {
    /// The whole path, byte for byte (`/api` does not match `/api/`).
    Exact(String),
    /// Segment-aware prefix: `/api` matches `/api`, `/api/` and `/api/x`,
    /// not `/apix`. A trailing `/` in the prefix is ignored.
    Prefix(String),
    /// `/users/{id}/orders/{order}`, `/files/{rest=**}`.
    Template(String),
    /// A regex over the whole path (anchored, regex-lite syntax).
    Regex(String),
}

impl FromJson for PathConfig {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        let (variant, data) = node.tagged(&["exact", "prefix", "template", "regex"])?;
        let text = String::read(data)?;
        Ok(match variant {
            0 => Self::Exact(text),
            1 => Self::Prefix(text),
            2 => Self::Template(text),
            _ => Self::Regex(text),
        })
    }
}

/// One query constraint: `name` plus exactly one of `present`, `equals`, `one_of`.
#[derive(Clone, Debug)]
pub struct QueryConfig {
    pub name: String,
    /// `true`: the parameter must appear; `false`: it must not.
    pub present: Option<bool>,
    pub equals: Option<String>,
    pub one_of: Option<Vec<String>>,
}

from_json!(QueryConfig {
    name,
    present: optional,
    equals: optional,
    one_of: optional,
});

impl Compile for RouteMatchConfig {
    type Compiled = RouteMatcher;

    fn compile(self) -> Result<RouteMatcher, ConfigError> {
        let methods = compile_methods(self.methods).map_err(|e| e.under("methods"))?;
        let ci = self.case_insensitive;
        let path = compile_path(self.path, ci).map_err(|e| e.under("path"))?;
        let query = self
            .query
            .into_iter()
            .enumerate()
            .map(|(i, q)| q.compile().map_err(|e| e.under(&format!("query[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RouteMatcher::new(methods, path, query, ci))
    }
}

fn compile_methods(methods: Option<Vec<String>>) -> Result<MethodSet, ConfigError> {
    let Some(list) = methods else {
        return Ok(MethodSet::Any);
    };
    if list.is_empty() {
        return Err(ConfigError::new(".", "the method list is empty")
            .with_hint("omit `methods` to match any method"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        let is_token = !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token || m == "*" {
            return Err(
                ConfigError::new(format!("[{i}]"), format!("`{m}` is not an HTTP method"))
                    .with_hint("omit `methods` to match any method"),
            );
        }
        out.push(m.to_ascii_uppercase());
    }
    Ok(MethodSet::List(out))
}

fn compile_path(config: PathConfig, ci: bool) -> Result<PathMatcher, ConfigError> {
    let clean = |field: &str, p: &str| {
        check_path(p).map_err(|why| {
            ConfigError::new(field, format!("`{p}` can never match: {why}"))
                .with_hint("write the path as a client sends it, starting with `/`")
        })
    };
    match config {
        PathConfig::Exact(p) => {
            clean("exact", &p)?;
            Ok(PathMatcher::Exact(p))
        }
        PathConfig::Prefix(p) => {
            clean("prefix", &p)?;
            let trimmed = p.trim_end_matches('/');
            Ok(PathMatcher::Prefix(trimmed.to_string()))
        }
        PathConfig::Template(t) => Ok(PathMatcher::Template(PathTemplate::compile(
            "template", &t,
        )?)),
        PathConfig::Regex(r) => Ok(PathMatcher::Regex(FullMatchRegex::compile(
            "regex", &r, ci,
        )?)),
    }
}

impl Compile for QueryConfig {
    type Compiled = QueryCondition;

    fn compile(self) -> Result<QueryCondition, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "the parameter name is empty"));
        }
        let test = match (self.present, self.equals, self.one_of) {
            (Some(p), None, None) => QueryTest::Present(p),
            (None, Some(v), None) => QueryTest::Equals(v),
            (None, None, Some(vs)) if vs.is_empty() => {
                return Err(ConfigError::new("one_of", "the list is empty"));
            }
            (None, None, Some(vs)) => QueryTest::OneOf(vs),
            _ => {
                return Err(ConfigError::new(
                    ".",
                    "set exactly one of `present`, `equals`, `one_of`",
                ))
            }
        };
        Ok(QueryCondition {
            name: self.name,
            test,
        })
    }
}
