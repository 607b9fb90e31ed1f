//! The plugin configuration read once into a `serde_json::Value`, rejecting
//! duplicate object keys.
//!
//! Why a tree first: the DTOs are then deserialized from the tree by
//! `tree::Node`, which names the JSON path of an error without wrapping every
//! derived visitor (see `tree.rs`). Syntax errors keep serde_json's
//! "line L column C".
//!
//! Why reject duplicates: a derived struct refuses a duplicate field, but a
//! `Value` map keeps the last one silently, so `{"issuer": "a", "issuer": "b"}`
//! would be accepted with whichever came last.

use super::ConfigError;
use crate::json::Path;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Parses one JSON document (nothing but whitespace after it).
pub(crate) fn parse_document(raw: &[u8]) -> Result<Value, ConfigError> {
    let duplicate_at = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let seed = StrictValue {
        path: Path::Root,
        duplicate_at: &duplicate_at,
    };
    let value = seed.deserialize(&mut de).map_err(|e| {
        let path = duplicate_at.borrow_mut().take();
        ConfigError::new(path.unwrap_or_else(|| ".".to_string()), e.to_string())
    })?;
    de.end().map_err(|e| {
        ConfigError::new(".", format!("trailing data after the JSON document: {e}"))
    })?;
    Ok(value)
}

/// Builds a `Value` for the node at `path`; on a duplicate key, records the
/// key's path for the error (the path becomes text only then).
struct StrictValue<'a, 'p> {
    path: Path<'p>,
    duplicate_at: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot hold NaN or infinities, so this is always Some.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue {
            path: Path::Index(&self.path, items.len()),
            duplicate_at: self.duplicate_at,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path::Key(&self.path, &key);
            if members.contains_key(&key) {
                *self.duplicate_at.borrow_mut() = Some(path.to_string());
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(StrictValue {
                path,
                duplicate_at: self.duplicate_at,
            })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}
