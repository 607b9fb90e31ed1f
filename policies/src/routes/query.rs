//! Query-string parsing for route query constraints.

use super::path::hex_value;

/// More parameters than this and the query is refused: it bounds the work
/// an attacker can cause per request.
pub const MAX_QUERY_PARAMS: usize = 256;

/// Why a query string could not be parsed. Reason code `malformed_query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("the query has a malformed percent-encoding")]
    MalformedEncoding,
    /// A decoded name or value is not UTF-8.
    #[error("the query decodes to invalid UTF-8")]
    InvalidUtf8,
    /// More than [`MAX_QUERY_PARAMS`] parameters.
    #[error("the query has too many parameters")]
    TooManyParams,
}

impl QueryError {
    pub fn reason_code(&self) -> &'static str {
        "malformed_query"
    }
}

/// Decoded `name=value` pairs in request order (`a=b&c` gives `("a","b")`,
/// `("c","")`). `+` decodes to a space, as in HTML forms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    pairs: Vec<(String, String)>,
}

impl ParsedQuery {
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let mut pairs = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_QUERY_PARAMS {
                return Err(QueryError::TooManyParams);
            }
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self { pairs })
    }

    /// Every value given for `name` (a parameter may repeat).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Percent-decodes one component; never panics on malformed input.
fn decode(text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|h| hex_value(*h));
                let lo = bytes.get(i + 2).and_then(|l| hex_value(*l));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(QueryError::MalformedEncoding);
                };
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::InvalidUtf8)
}
