//! The compiled route matcher.

use super::path::{check_path, PathRejection};
use super::query::{ParsedQuery, QueryError};
use super::regex::FullMatchRegex;
use super::template::PathTemplate;

/// The parts of a request that routes look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRequest<'a> {
    pub method: &'a str,
    /// The path without its query.
    pub path: &'a str,
    /// The raw query string (after `?`), if any.
    pub query: Option<&'a str>,
}

impl<'a> RouteRequest<'a> {
    /// From a method and a `:path` header (`/a/b?x=1`).
    pub fn from_target(method: &'a str, target: &'a str) -> Self {
        let (path, query) = super::path::split_path_and_query(target);
        Self {
            method,
            path,
            query,
        }
    }
}

/// Why a request was refused before any route was tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteRejection {
    /// The path failed the hygiene check.
    #[error("suspicious path: {0}")]
    SuspiciousPath(PathRejection),
    /// The query string could not be parsed and a route needed it.
    #[error("malformed query: {0}")]
    MalformedQuery(QueryError),
}

impl RouteRejection {
    /// `suspicious_path` or `malformed_query`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::SuspiciousPath(p) => p.reason_code(),
            Self::MalformedQuery(q) => q.reason_code(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodSet {
    Any,
    /// Upper-case method names.
    List(Vec<String>),
}

impl MethodSet {
    fn matches(&self, method: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }
}

#[derive(Clone, Debug)]
pub enum PathMatcher {
    Exact(String),
    /// Stored without a trailing `/`; `""` matches every path.
    Prefix(String),
    Template(PathTemplate),
    Regex(FullMatchRegex),
}

impl PathMatcher {
    fn matches(&self, path: &str, ci: bool) -> bool {
        match self {
            Self::Exact(p) => eq(path, p, ci),
            Self::Prefix(p) => {
                // Segment-aware: the prefix must end at a `/` or at the end of the path.
                let Some(head) = path.get(..p.len()) else {
                    return false;
                };
                let rest = path.get(p.len()..).unwrap_or_default();
                eq(head, p, ci) && (rest.is_empty() || rest.starts_with('/'))
            }
            Self::Template(t) => t.matches(path, ci),
            Self::Regex(r) => r.is_full_match(path),
        }
    }
}

fn eq(a: &str, b: &str, ci: bool) -> bool {
    if ci {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryTest {
    /// `true`: must appear; `false`: must not appear.
    Present(bool),
    Equals(String),
    OneOf(Vec<String>),
}

/// A constraint on one query parameter. When the parameter repeats, every
/// occurrence must satisfy `equals`/`one_of` (backends differ on whether
/// they read the first or the last one, so both must be acceptable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryCondition {
    pub name: String,
    pub test: QueryTest,
}

impl QueryCondition {
    fn matches(&self, query: &ParsedQuery) -> bool {
        let mut values = query.values(&self.name).peekable();
        match &self.test {
            QueryTest::Present(want) => values.peek().is_some() == *want,
            QueryTest::Equals(expected) => values.peek().is_some() && values.all(|v| v == expected),
            QueryTest::OneOf(allowed) => {
                values.peek().is_some() && values.all(|v| allowed.iter().any(|a| a == v))
            }
        }
    }
}

/// A compiled route matcher: method set, path matcher, query constraints.
#[derive(Clone, Debug)]
pub struct RouteMatcher {
    methods: MethodSet,
    path: PathMatcher,
    query: Vec<QueryCondition>,
    case_insensitive: bool,
}

impl RouteMatcher {
    pub fn new(
        methods: MethodSet,
        path: PathMatcher,
        query: Vec<QueryCondition>,
        case_insensitive: bool,
    ) -> Self {
        Self {
            methods,
            path,
            query,
            case_insensitive,
        }
    }

    pub fn needs_query(&self) -> bool {
        !self.query.is_empty()
    }

    /// Matches a request whose path already passed [`check_path`] and whose
    /// query is parsed (`None` is only allowed when [`Self::needs_query`] is false).
    pub(crate) fn matches_checked(
        &self,
        req: &RouteRequest<'_>,
        query: Option<&ParsedQuery>,
    ) -> bool {
        if !self.methods.matches(req.method) || !self.path.matches(req.path, self.case_insensitive)
        {
            return false;
        }
        match query {
            Some(q) => self.query.iter().all(|c| c.matches(q)),
            None => self.query.is_empty(),
        }
    }

    /// Checks the path and query, then matches this single route.
    pub fn matches(&self, req: &RouteRequest<'_>) -> Result<bool, RouteRejection> {
        check_path(req.path).map_err(RouteRejection::SuspiciousPath)?;
        if !self.needs_query() {
            return Ok(self.matches_checked(req, None));
        }
        let parsed = ParsedQuery::parse(req.query.unwrap_or_default())
            .map_err(RouteRejection::MalformedQuery)?;
        Ok(self.matches_checked(req, Some(&parsed)))
    }
}
