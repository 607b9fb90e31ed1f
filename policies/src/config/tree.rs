//! Deserializes a DTO from the parsed configuration document and names the
//! JSON path of the first error (`providers[1].issuer`).
//!
//! Why not `serde_path_to_error`: it wraps every derived visitor in its own
//! type, so the deserializer underneath is compiled again for each of them
//! (≈ 20–65 KB per plugin after wasm-opt). Here the path is a chain of stack
//! frames that becomes a string only when something fails.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_json::{Map, Value};
use std::fmt;

/// A deserialization error and the path where it happened (the innermost
/// node that failed).
#[derive(Debug)]
pub(super) struct TreeError {
    pub(super) path: Option<String>,
    pub(super) message: String,
}

impl TreeError {
    /// Records `path` unless a deeper node already did.
    fn at(mut self, path: Path<'_>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_string());
        }
        self
    }
}

impl de::Error for TreeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            path: None,
            message: msg.to_string(),
        }
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TreeError {}

/// Where a node sits in the document: a chain up to the root.
#[derive(Clone, Copy)]
pub(super) enum Path<'p> {
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

/// One node of the document, as a serde `Deserializer`.
pub(super) struct Node<'de, 'p> {
    value: &'de Value,
    path: Path<'p>,
}

impl<'de> Node<'de, 'static> {
    pub(super) fn root(value: &'de Value) -> Self {
        Self {
            value,
            path: Path::Root,
        }
    }
}

impl<'de> Node<'de, '_> {
    /// Any JSON value, for visitors that accept several shapes.
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        let path = self.path;
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(de::Error::custom("a number that cannot be represented"))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visit_array(items, &path, visitor),
            Value::Object(members) => visit_object(members, &path, visitor),
        }
        .map_err(|e| e.at(path))
    }

    // The typed entry points below only expand the arm their visitor can
    // accept: generated once per derived visitor, a full `visit` for each
    // struct and string field is what made the module bigger.

    fn object<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.value {
            Value::Object(members) => visit_object(members, &self.path, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e: TreeError| e.at(self.path))
    }

    fn array<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.value {
            Value::Array(items) => visit_array(items, &self.path, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e: TreeError| e.at(self.path))
    }

    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.value {
            Value::String(s) => visitor.visit_borrowed_str(s),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e: TreeError| e.at(self.path))
    }

    fn boolean<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e: TreeError| e.at(self.path))
    }
}

fn visit_array<'de, V: Visitor<'de>>(
    items: &'de [Value],
    path: &Path<'_>,
    visitor: V,
) -> Result<V::Value, TreeError> {
    let mut seq = Items {
        items: items.iter().enumerate(),
        parent: path,
    };
    let value = visitor.visit_seq(&mut seq)?;
    match seq.items.len() {
        0 => Ok(value),
        _ => Err(de::Error::invalid_length(
            items.len(),
            &"fewer elements in the array",
        )),
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    members: &'de Map<String, Value>,
    path: &Path<'_>,
    visitor: V,
) -> Result<V::Value, TreeError> {
    visitor.visit_map(Members {
        members: members.iter(),
        pending: None,
        parent: path,
    })
}

impl<'de> Deserializer<'de> for Node<'de, '_> {
    type Error = TreeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.visit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        let path = self.path;
        match self.value {
            // `"variant"`: a unit variant.
            Value::String(variant) => visitor.visit_enum(variant.as_str().into_deserializer()),
            // `{"variant": value}`: exactly one member.
            Value::Object(members) if members.len() == 1 => match members.iter().next() {
                Some((variant, value)) => visitor.visit_enum(Variant {
                    variant,
                    value,
                    parent: &path,
                }),
                None => Err(de::Error::custom("an enum needs exactly one member")),
            },
            other => Err(de::Error::invalid_type(
                unexpected(other),
                &"a string or an object with exactly one member",
            )),
        }
        .map_err(|e| e.at(path))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        visitor.visit_unit()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        self.object(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.object(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.array(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.boolean(visitor)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => de::Unexpected::Unsigned(u),
            (_, Some(i), _) => de::Unexpected::Signed(i),
            (_, _, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("a number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Items<'de, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    parent: &'p Path<'p>,
}

impl<'de> SeqAccess<'de> for &mut Items<'de, '_> {
    type Error = TreeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TreeError> {
        match self.items.next() {
            Some((index, value)) => seed
                .deserialize(Node {
                    value,
                    path: Path::Index(self.parent, index),
                })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Members<'de, 'p> {
    members: serde_json::map::Iter<'de>,
    pending: Option<(&'de String, &'de Value)>,
    parent: &'p Path<'p>,
}

impl<'de> MapAccess<'de> for Members<'de, '_> {
    type Error = TreeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TreeError> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        // An unknown field fails here, so it is named by its own path.
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
            .map_err(|e: TreeError| e.at(Path::Key(self.parent, key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TreeError> {
        match self.pending.take() {
            Some((key, value)) => seed.deserialize(Node {
                value,
                path: Path::Key(self.parent, key),
            }),
            None => Err(de::Error::custom(
                "a map value was asked for before its key",
            )),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

struct Variant<'de, 'p> {
    variant: &'de String,
    value: &'de Value,
    parent: &'p Path<'p>,
}

impl<'de: 'p, 'p> EnumAccess<'de> for Variant<'de, 'p> {
    type Error = TreeError;
    type Variant = Node<'de, 'p>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Node<'de, 'p>), TreeError> {
        let tag = seed.deserialize(de::value::BorrowedStrDeserializer::new(self.variant))?;
        Ok((
            tag,
            Node {
                value: self.value,
                path: Path::Key(self.parent, self.variant),
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for Node<'de, '_> {
    type Error = TreeError;

    fn unit_variant(self) -> Result<(), TreeError> {
        match self.value {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"unit variant")),
        }
        .map_err(|e: TreeError| e.at(self.path))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, TreeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        self.visit(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        self.visit(visitor)
    }
}
