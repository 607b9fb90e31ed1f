//! Type-strict comparisons between claim values and configured scalars.
//! A string never equals a number (`"1"` ≠ `1`): tokens are typed JSON and
//! loose comparison would let an issuer's type change widen access.

use serde_json::{Number, Value};

/// A configured comparison value: a string, number or boolean.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    String(String),
    Number(Number),
    Bool(bool),
}

impl Scalar {
    pub fn from_json(value: serde_json::Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self::String(s)),
            Value::Number(n) => Some(Self::Number(n)),
            Value::Bool(b) => Some(Self::Bool(b)),
            _ => None,
        }
    }

    /// Same type and same value. Numbers compare by value (`1` = `1.0`).
    pub fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::String(a), Value::String(b)) => a == b,
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Number(a), Value::Number(b)) => numbers_equal(a, b),
            _ => false,
        }
    }

    /// Matches one word of a space-separated string (only strings can).
    pub fn equals_word(&self, word: &str) -> bool {
        matches!(self, Self::String(s) if s == word)
    }
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    if a.is_f64() || b.is_f64() {
        if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
            return x == y;
        }
    }
    false
}

/// How the `contains*` operators read a claim that is a single string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringAsSet {
    /// Not as a set: only an array has members.
    No,
    /// Its space-separated words (`scope`, `scp`, or `space_separated: true`).
    Words,
    /// A set of one, the string itself: `aud` (RFC 7519 §4.1.3 allows a
    /// single audience as a string instead of a one-element array).
    One,
}

/// A claim seen as a set of members: an array's elements, or a string read
/// as [`StringAsSet`] says.
pub enum Members<'v> {
    Array(&'v [Value]),
    Words(&'v str),
}

impl<'v> Members<'v> {
    pub fn of(value: &'v Value, strings: StringAsSet) -> Option<Self> {
        match (value, strings) {
            (Value::Array(items), _) => Some(Self::Array(items)),
            (Value::String(s), StringAsSet::Words) => Some(Self::Words(s)),
            (Value::String(_), StringAsSet::One) => Some(Self::Array(std::slice::from_ref(value))),
            _ => None,
        }
    }

    pub fn contains(&self, wanted: &Scalar) -> bool {
        match self {
            Self::Array(items) => items.iter().any(|v| wanted.equals(v)),
            Self::Words(s) => s.split_ascii_whitespace().any(|w| wanted.equals_word(w)),
        }
    }
}
