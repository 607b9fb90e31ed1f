//! Where a bearer token is read from, and the rule that a request carries
//! at most one: two tokens in two places (or two Authorization headers) are
//! ambiguous, and an attacker could hope each check reads a different one.

use crate::config::{from_json, ConfigError};
use crate::secret::Secret;

/// Raw form: `{"header":"authorization","prefix":"Bearer "}`, `{"cookie":"at"}`, `{"query":"access_token"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSourceConfig {
    pub header: Option<String>,
    pub prefix: Option<String>,
    pub cookie: Option<String>,
    pub query: Option<String>,
}

from_json!(TokenSourceConfig {
    header: optional,
    prefix: optional,
    cookie: optional,
    query: optional,
});

/// Compiled, in one canonical form per place, so that two providers listing
/// the same place (`Bearer ` and `bearer`, say) share one source: a token
/// there is found once, not twice (`ambiguous_token`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// Header (lower-case name) with a required prefix: lower case, without
    /// surrounding spaces, compared case-insensitively. A prefix ending in a
    /// letter or digit is a scheme (`bearer`): a space must follow it.
    Header {
        name: String,
        prefix: String,
    },
    Cookie(String),
    Query(String),
}

impl TokenSource {
    pub fn authorization_bearer() -> Self {
        Self::Header {
            name: "authorization".into(),
            prefix: "bearer".into(),
        }
    }

    pub fn compile(raw: &TokenSourceConfig, path: &str) -> Result<Self, ConfigError> {
        let set = [
            raw.header.is_some(),
            raw.cookie.is_some(),
            raw.query.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(ConfigError::new(
                path,
                "a token source names exactly one of `header`, `cookie`, `query`",
            ));
        }
        if raw.prefix.is_some() && raw.header.is_none() {
            return Err(ConfigError::new(
                format!("{path}.prefix"),
                "`prefix` only applies to `header`",
            ));
        }
        let non_empty = |field: &str, v: &str| {
            if v.trim().is_empty() || v.contains(|c: char| c.is_ascii_control() || c == ' ') {
                Err(ConfigError::new(
                    format!("{path}.{field}"),
                    "must be a non-empty name without spaces",
                ))
            } else {
                Ok(v.to_string())
            }
        };
        Ok(match (&raw.header, &raw.cookie, &raw.query) {
            (Some(h), _, _) => Self::Header {
                name: non_empty("header", h)?.to_ascii_lowercase(),
                prefix: raw
                    .prefix
                    .as_deref()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase(),
            },
            (_, Some(c), _) => Self::Cookie(non_empty("cookie", c)?),
            (_, _, Some(q)) => Self::Query(non_empty("query", q)?),
            _ => return Err(ConfigError::new(path, "empty token source")),
        })
    }

    /// Which request header this source reads (for stripping the token upstream).
    pub fn header_name(&self) -> Option<&str> {
        match self {
            Self::Header { name, .. } => Some(name),
            Self::Cookie(_) => Some("cookie"),
            Self::Query(_) => None,
        }
    }
}

/// The request data token extraction looks at (headers lower-case).
pub struct RequestTokens<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub query: Option<&'a str>,
}

/// Why no single token could be taken from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// A token appears in more than one place, or a header is repeated.
    Ambiguous,
    /// A configured header is present but without the required prefix (e.g. `Basic`).
    WrongScheme,
}

/// A token and the place it was read from.
#[derive(Debug)]
pub struct Found<'s> {
    pub token: Secret,
    /// One of the sources given to [`extract_with_source`].
    pub source: &'s TokenSource,
}

/// The token, if any, found in exactly one configured place.
pub fn extract(
    sources: &[TokenSource],
    req: &RequestTokens<'_>,
) -> Result<Option<Secret>, ExtractError> {
    Ok(extract_with_source(sources, req)?.map(|found| found.token))
}

/// The token, if any, found in exactly one configured place, and that place.
pub fn extract_with_source<'s>(
    sources: &'s [TokenSource],
    req: &RequestTokens<'_>,
) -> Result<Option<Found<'s>>, ExtractError> {
    // Borrowed until the one token is known: a single copy, into the `Secret`.
    let mut found: Option<(&str, &TokenSource)> = None;
    let mut wrong_scheme = false;
    for source in sources {
        for value in values_from(source, req, &mut wrong_scheme) {
            if found.is_some() {
                return Err(ExtractError::Ambiguous);
            }
            found = Some((value, source));
        }
    }
    match found {
        Some((token, source)) => Ok(Some(Found {
            token: Secret::new(token),
            source,
        })),
        None if wrong_scheme => Err(ExtractError::WrongScheme),
        None => Ok(None),
    }
}

fn values_from<'r>(
    source: &TokenSource,
    req: &RequestTokens<'r>,
    wrong_scheme: &mut bool,
) -> Vec<&'r str> {
    let mut out = Vec::new();
    match source {
        TokenSource::Header { name, prefix } => {
            for (_, v) in req.headers.iter().filter(|(n, _)| n == name) {
                // Envoy hands a repeated header to the plugin joined by `,`,
                // and a b64token never contains one: several parts are
                // several credentials, i.e. ambiguous (found by attacks.rs).
                let parts: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                if parts.len() > 1 {
                    out.extend(parts);
                    continue;
                }
                match token_after_prefix(v, prefix) {
                    Some(t) => out.push(t),
                    None => *wrong_scheme = true,
                }
            }
        }
        TokenSource::Cookie(cookie) => {
            for (_, header) in req.headers.iter().filter(|(n, _)| *n == "cookie") {
                for pair in header.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=') {
                        if k.trim() == cookie && !v.trim().is_empty() {
                            out.push(v.trim().trim_matches('"'));
                        }
                    }
                }
            }
        }
        TokenSource::Query(param) => {
            for pair in req.query.unwrap_or("").split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if k == param && !v.is_empty() {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

/// The non-empty token after `prefix` in a header `value` (compiled prefix:
/// lower case, no surrounding spaces), e.g. `token_after_prefix(v, "bearer")`
/// for `Authorization: Bearer <token>`.
pub fn token_after_prefix<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    strip_prefix_ignore_case(value.trim(), prefix)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What follows `prefix` in `value`. After a scheme (a prefix ending in a
/// letter or digit, e.g. `bearer`) a space must come: `Bearerabc` is no
/// bearer token.
fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    let rest = value.get(prefix.len()..)?;
    let scheme = prefix
        .as_bytes()
        .last()
        .is_some_and(u8::is_ascii_alphanumeric);
    (head.eq_ignore_ascii_case(prefix) && (!scheme || rest.starts_with(' '))).then_some(rest)
}

/// Removes the token from the query string (when it must not reach the upstream).
pub fn strip_query_param(query: &str, param: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && p.split_once('=').map_or(*p, |(k, _)| k) != param)
        .collect::<Vec<_>>()
        .join("&")
}

/// Removes one cookie from a Cookie header value; None when nothing is left.
pub fn strip_cookie(header: &str, cookie: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.split_once('=').map_or(*p, |(k, _)| k.trim()) != cookie)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn h<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        pairs.to_vec()
    }

    fn sources() -> Vec<TokenSource> {
        vec![
            TokenSource::authorization_bearer(),
            TokenSource::Cookie("at".into()),
            TokenSource::Query("access_token".into()),
        ]
    }

    #[test]
    fn token_is_found_in_each_configured_place() {
        type Case = (Vec<(&'static str, &'static str)>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (h(&[("authorization", "Bearer abc")]), None),
            (h(&[("authorization", "bearer abc")]), None),
            (h(&[("cookie", "x=1; at=abc")]), None),
            (vec![], Some("a=1&access_token=abc")),
        ];
        for (headers, query) in cases {
            let got = extract(
                &sources(),
                &RequestTokens {
                    headers: &headers,
                    query,
                },
            )
            .unwrap();
            assert_eq!(got.unwrap().expose(), "abc");
        }
    }

    #[test]
    fn tokens_in_two_places_are_ambiguous() {
        let headers = h(&[("authorization", "Bearer abc")]);
        let r = extract(
            &sources(),
            &RequestTokens {
                headers: &headers,
                query: Some("access_token=abc"),
            },
        );
        assert_eq!(r, Err(ExtractError::Ambiguous));
        let two = h(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(
            extract(
                &sources(),
                &RequestTokens {
                    headers: &two,
                    query: None
                }
            ),
            Err(ExtractError::Ambiguous)
        );
    }

    #[test]
    fn repeated_authorization_headers_joined_by_envoy_are_ambiguous() {
        for joined in [
            "Bearer a.b.c,Bearer d.e.f",
            "Bearer a.b.c, Bearer a.b.c",
            "Bearer a.b.c, Basic dXNlcjpwYXNz",
            "Basic dXNlcjpwYXNz,Bearer a.b.c",
        ] {
            let headers = h(&[("authorization", joined)]);
            let r = extract(
                &sources(),
                &RequestTokens {
                    headers: &headers,
                    query: None,
                },
            );
            assert_eq!(r, Err(ExtractError::Ambiguous), "{joined}");
        }
    }

    #[test]
    fn other_schemes_are_reported_not_ignored() {
        let headers = h(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(
            extract(
                &sources(),
                &RequestTokens {
                    headers: &headers,
                    query: None
                }
            ),
            Err(ExtractError::WrongScheme)
        );
        let empty = h(&[("authorization", "Bearer   ")]);
        assert_eq!(
            extract(
                &sources(),
                &RequestTokens {
                    headers: &empty,
                    query: None
                }
            ),
            Err(ExtractError::WrongScheme)
        );
    }

    #[test]
    fn no_token_is_none() {
        assert_eq!(
            extract(
                &sources(),
                &RequestTokens {
                    headers: &[],
                    query: None
                }
            ),
            Ok(None)
        );
    }

    #[test]
    fn stripping_removes_only_the_token() {
        assert_eq!(
            strip_query_param("a=1&access_token=x&b=2", "access_token"),
            "a=1&b=2"
        );
        assert_eq!(
            strip_cookie("x=1; at=abc; y=2", "at").as_deref(),
            Some("x=1; y=2")
        );
        assert_eq!(strip_cookie("at=abc", "at"), None);
    }

    /// A header prefix is compiled to one form per place (so two providers
    /// listing one place share it), and a scheme must be followed by a space.
    #[test]
    fn header_prefixes_are_normalised_and_a_scheme_needs_a_space() {
        let header = |prefix: &str| TokenSourceConfig {
            header: Some("Authorization".into()),
            prefix: Some(prefix.into()),
            cookie: None,
            query: None,
        };
        for prefix in ["Bearer ", "bearer", " BEARER  "] {
            assert_eq!(
                TokenSource::compile(&header(prefix), "s").unwrap(),
                TokenSource::authorization_bearer(),
                "{prefix:?}"
            );
        }
        let find = |prefix: &str, value: &'static str| {
            let sources = [TokenSource::compile(&header(prefix), "s").unwrap()];
            let headers = h(&[("authorization", value)]);
            extract(
                &sources,
                &RequestTokens {
                    headers: &headers,
                    query: None,
                },
            )
            .map(|t| t.map(|t| t.expose().to_string()))
        };
        assert_eq!(find("Bearer", "bearer   abc "), Ok(Some("abc".into())));
        assert_eq!(find("Bearer", "Bearerabc"), Err(ExtractError::WrongScheme));
        assert_eq!(find("Bearer", "Bearer"), Err(ExtractError::WrongScheme));
        assert_eq!(
            find("Bearer", "Bearer\tabc"),
            Err(ExtractError::WrongScheme)
        );
        // A prefix ending in punctuation needs no space; none takes the whole value.
        assert_eq!(find("Token=", "token=abc"), Ok(Some("abc".into())));
        assert_eq!(find("", "abc"), Ok(Some("abc".into())));
    }

    #[test]
    fn the_place_a_token_was_found_is_reported() {
        let sources = sources();
        for (headers, query, place) in [
            (h(&[("authorization", "Bearer abc")]), None, 0),
            (h(&[("cookie", "at=abc")]), None, 1),
            (vec![], Some("access_token=abc"), 2),
        ] {
            let found = extract_with_source(
                &sources,
                &RequestTokens {
                    headers: &headers,
                    query,
                },
            )
            .unwrap()
            .unwrap();
            assert_eq!(found.source, &sources[place]);
            assert_eq!(found.token.expose(), "abc");
        }
    }

    #[test]
    fn config_requires_exactly_one_place() {
        let both = TokenSourceConfig {
            header: Some("x".into()),
            prefix: None,
            cookie: Some("c".into()),
            query: None,
        };
        assert_eq!(
            TokenSource::compile(&both, "token_sources[0]")
                .unwrap_err()
                .path,
            "token_sources[0]"
        );
        let prefix_only = TokenSourceConfig {
            header: None,
            prefix: Some("B ".into()),
            cookie: Some("c".into()),
            query: None,
        };
        assert_eq!(
            TokenSource::compile(&prefix_only, "s").unwrap_err().path,
            "s.prefix"
        );
    }
}
