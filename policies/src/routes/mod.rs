//! Request route matching, used by the oidc-auth rules and the
//! credential-injector allowlist.
//!
//! Matching is plain string comparison on the path as received, so the path
//! is first put through a hygiene check ([`check_path`]): anything a backend
//! could resolve differently (`..`, `//`, `%2e`, `%2f`, `%5c`, `\`, `;`, `#`,
//! non-ASCII, controls, absolute-form) is rejected with `suspicious_path`
//! before any route is tried. Literal comparison is case-sensitive unless a
//! route sets `case_insensitive`.

mod config;
mod matcher;
mod path;
mod query;
pub mod regex;
mod table;
mod template;

pub use config::{PathConfig, QueryConfig, RouteMatchConfig};
pub use matcher::{
    MethodSet, PathMatcher, QueryCondition, QueryTest, RouteMatcher, RouteRejection, RouteRequest,
};
pub use path::{check_path, split_path_and_query, PathRejection, MAX_PATH_LEN};
pub use query::{ParsedQuery, QueryError, MAX_QUERY_PARAMS};
pub use regex::FullMatchRegex;
pub use table::{RouteTable, RouteVerdict};
pub use template::PathTemplate;

#[cfg(test)]
mod tests;
