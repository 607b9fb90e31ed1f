//! An ordered route table: the first matching entry wins.

use super::matcher::{RouteMatcher, RouteRejection, RouteRequest};
use super::path::check_path;
use super::query::ParsedQuery;

/// The outcome of looking a request up in a [`RouteTable`].
#[derive(Debug, PartialEq, Eq)]
pub enum RouteVerdict<'t, T> {
    /// The first matching entry: its index in the table and its value.
    Matched { index: usize, value: &'t T },
    /// No entry matched.
    NoMatch,
    /// The request was refused before matching (fail closed).
    Rejected(RouteRejection),
}

impl<T> RouteVerdict<'_, T> {
    /// `route_matched`, `no_route`, or the rejection's code (`suspicious_path`, `malformed_query`).
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Matched { .. } => "route_matched",
            Self::NoMatch => "no_route",
            Self::Rejected(r) => r.reason_code(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RouteTable<T> {
    entries: Vec<(RouteMatcher, T)>,
    needs_query: bool,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            needs_query: false,
        }
    }
}

impl<T> RouteTable<T> {
    pub fn new(entries: Vec<(RouteMatcher, T)>) -> Self {
        let needs_query = entries.iter().any(|(m, _)| m.needs_query());
        Self {
            entries,
            needs_query,
        }
    }

    pub fn push(&mut self, matcher: RouteMatcher, value: T) {
        self.needs_query |= matcher.needs_query();
        self.entries.push((matcher, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Finds the first entry matching `req`. A suspicious path is rejected
    /// even when no entry would match it, so callers can tell attacks apart.
    /// The query is parsed only when some entry has query constraints; a
    /// malformed query is then rejected rather than skipped.
    pub fn find(&self, req: &RouteRequest<'_>) -> RouteVerdict<'_, T> {
        if let Err(why) = check_path(req.path) {
            return RouteVerdict::Rejected(RouteRejection::SuspiciousPath(why));
        }
        let parsed = if self.needs_query {
            match ParsedQuery::parse(req.query.unwrap_or_default()) {
                Ok(q) => Some(q),
                Err(why) => return RouteVerdict::Rejected(RouteRejection::MalformedQuery(why)),
            }
        } else {
            None
        };
        self.entries
            .iter()
            .enumerate()
            .find(|(_, (m, _))| m.matches_checked(req, parsed.as_ref()))
            .map_or(RouteVerdict::NoMatch, |(index, (_, value))| {
                RouteVerdict::Matched { index, value }
            })
    }
}
