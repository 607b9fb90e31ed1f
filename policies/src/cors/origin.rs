//! Parsing and matching web origins (`scheme://host[:port]`).
//!
//! Parsing is strict: no path, no trailing slash, no userinfo, no spaces.
//! Scheme and host compare case-insensitively (browsers serialize them in
//! lower case anyway) and an explicit default port equals no port.

use std::fmt;

/// A parsed, canonical origin (lower case, default port removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses `scheme://host[:port]`; `None` for anything else, including
    /// `null`, which callers treat separately.
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, authority) = text.split_once("://")?;
        let scheme_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let (host, port) = split_host_port(authority)?;
        let host = parse_host(host)?;
        let port = match port {
            None => None,
            Some(p) => {
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: u16 = p.parse().ok()?;
                (default_port(&scheme) != Some(n)).then_some(n)
            }
        };
        Some(Self { scheme, host, port })
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The `scheme://host[:port]` part of an absolute URL such as a
    /// `Referer`. `None` when the URL has userinfo or a malformed authority.
    pub fn of_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest.get(..end)?;
        Self::parse(&format!("{scheme}://{authority}"))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = authority.get(..=close)?;
        let rest = authority.get(close + 1..)?;
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// A DNS name or IPv4 (letters, digits, `-`, dot-separated non-empty
/// labels) or a bracketed IPv6 literal. Returned in lower case.
fn parse_host(host: &str) -> Option<String> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ok = !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        return ok.then(|| host.to_ascii_lowercase());
    }
    let ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then(|| host.to_ascii_lowercase())
}

/// One configured allowed origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPattern {
    /// Exactly this origin.
    Exact(Origin),
    /// `scheme://*.domain[:port]`: any subdomain of `domain`, at any depth,
    /// with the same scheme and port; never `domain` itself.
    Subdomains {
        scheme: String,
        /// Lower case, without the leading `*.`.
        domain: String,
        port: Option<u16>,
    },
    /// The opaque origin `null` (sandboxed iframes, `file:`), only when
    /// configured literally.
    Null,
}

impl OriginPattern {
    /// Parses a configured pattern; `Err` carries a message and a hint.
    pub fn parse(text: &str) -> Result<Self, (String, &'static str)> {
        const FORM: &str = "write e.g. \"https://app.example.com\" or \"https://*.example.com\"";
        if text == "null" {
            return Ok(Self::Null);
        }
        if text == "*" {
            return Err((
                "`*` would allow every site".into(),
                "list the allowed origins",
            ));
        }
        if let Some((scheme, rest)) = text.split_once("://*.") {
            let probe = Origin::parse(&format!("{scheme}://{rest}"))
                .ok_or_else(|| (format!("`{text}` is not an origin pattern"), FORM))?;
            if !probe.host.contains('.') || probe.host.starts_with('[') {
                return Err((
                    format!("`{text}` would match a whole top-level domain"),
                    FORM,
                ));
            }
            return Ok(Self::Subdomains {
                scheme: probe.scheme,
                domain: probe.host,
                port: probe.port,
            });
        }
        if text.starts_with("*.") {
            return Err((
                format!("`{text}` has no scheme"),
                "write e.g. \"https://*.example.com\"",
            ));
        }
        if text.contains('*') {
            return Err((
                format!("`{text}`: `*` is only allowed as `scheme://*.domain`"),
                FORM,
            ));
        }
        Origin::parse(text).map(Self::Exact).ok_or_else(|| {
            (
                format!("`{text}` is not an origin (no path or trailing slash)"),
                FORM,
            )
        })
    }

    pub fn matches(&self, origin: &Origin) -> bool {
        match self {
            Self::Exact(o) => o == origin,
            Self::Subdomains {
                scheme,
                domain,
                port,
            } => {
                *scheme == origin.scheme
                    && *port == origin.port
                    && origin
                        .host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            }
            Self::Null => false,
        }
    }
}
