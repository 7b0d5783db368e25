//! A serde `Deserializer` over [`Node`]: types the interpolated tree into the model structs.
//!
//! Numbers are lenient: a string asked for as a number is parsed (`replicas: "${N}"` works) and
//! a number asked for as a string is printed. Booleans are strict, as docker's schema is: a
//! boolean key takes `true`/`false` (or a substituted value, cast by [`crate::interpolate`]),
//! never the text `"yes"`; and a string key refuses a boolean (`command: [echo, true]` is
//! "must be a string"), so no value silently becomes `"true"`. A `null` mapping or
//! list value reads as empty (`networks: {front: }`). Every error carries the path and the
//! position of the innermost node involved; unknown struct keys (`deny_unknown_fields`) carry
//! the position of the key itself.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::error::LoadError;
use crate::yaml::{Entry, Node, Pos, Value};

/// Why typing failed, before the file name is known.
#[derive(Debug, Clone, PartialEq)]
pub enum DeErrorKind {
    UnknownKey(String),
    Invalid(String),
}

/// A typing error with the path and position it happened at.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub kind: DeErrorKind,
    pub path: String,
    pub pos: Option<Pos>,
}

impl DeError {
    /// Fills in where the error happened, unless a deeper node already did.
    fn at(mut self, path: &str, pos: Pos) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
            self.path = path.to_string();
        }
        self
    }

    /// The error for `file`, as a [`LoadError`].
    pub fn into_load_error(self, file: &str) -> LoadError {
        let pos = self.pos.unwrap_or_default();
        let path = if self.path.is_empty() {
            "(top level)".to_string()
        } else {
            self.path
        };
        match self.kind {
            DeErrorKind::UnknownKey(key) => LoadError::UnknownKey {
                file: file.to_string(),
                line: pos.line,
                column: pos.column,
                path,
                key,
            },
            DeErrorKind::Invalid(message) => LoadError::Invalid {
                file: file.to_string(),
                line: pos.line,
                column: pos.column,
                path,
                message,
            },
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::UnknownKey(k) => write!(f, "unknown key \"{k}\" in {}", self.path),
            DeErrorKind::Invalid(m) => write!(f, "{}: {m}", self.path),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            kind: DeErrorKind::Invalid(msg.to_string()),
            path: String::new(),
            pos: None,
        }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        DeError {
            kind: DeErrorKind::UnknownKey(field.to_string()),
            path: String::new(),
            pos: None,
        }
    }
}

/// Types `node` (the root of file `file`) as `T`.
pub fn from_node<T: de::DeserializeOwned>(node: &Node, file: &str) -> Result<T, LoadError> {
    T::deserialize(NodeDe::new(node, String::new())).map_err(|e| e.into_load_error(file))
}

/// The deserializer for one node at a dotted path.
pub struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    pub fn new(node: &'a Node, path: String) -> Self {
        NodeDe { node, path }
    }

    fn fail<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(&self.path, self.node.pos))
    }

    fn scalar_text(&self) -> Option<String> {
        match &self.node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    fn invalid<T>(&self, msg: String) -> Result<T, DeError> {
        self.fail(Err(de::Error::custom(msg)))
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

macro_rules! deserialize_integer {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match &self.node.value {
                Value::Int(i) => self.fail(visitor.visit_i64(*i)),
                Value::Str(s) => match s.trim().parse::<i64>() {
                    Ok(i) => self.fail(visitor.visit_i64(i)),
                    Err(_) => match s.trim().parse::<u64>() {
                        Ok(u) => self.fail(visitor.visit_u64(u)),
                        Err(_) => self.invalid(format!("expected an integer, found \"{s}\"")),
                    },
                },
                _ => self.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe::new(items, &self.path)),
            Value::Map(entries) => visitor.visit_map(MapDe::new(entries, &self.path)),
        };
        self.fail(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => self.fail(visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Bool(b) => self.fail(visitor.visit_bool(*b)),
            Value::Str(s) => self.invalid(format!("must be a boolean, found \"{s}\"")),
            _ => self.deserialize_any(visitor),
        }
    }

    deserialize_integer! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Float(f) => self.fail(visitor.visit_f64(*f)),
            Value::Int(i) => self.fail(visitor.visit_f64(*i as f64)),
            Value::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) => self.fail(visitor.visit_f64(f)),
                Err(_) => self.invalid(format!("expected a number, found \"{s}\"")),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Value::Bool(b) = self.node.value {
            return self.invalid(format!("must be a string, found the boolean {b}"));
        }
        match self.scalar_text() {
            Some(s) => self.fail(visitor.visit_string(s)),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => self.fail(visitor.visit_seq(SeqDe::new(&[], &self.path))),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => self.fail(visitor.visit_map(MapDe::new(&[], &self.path))),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => {
                let access: StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
                self.fail(visitor.visit_enum(access))
            }
            _ => self.invalid("expected a string".to_string()),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'a str,
}

impl<'a> SeqDe<'a> {
    fn new(items: &'a [Node], path: &'a str) -> Self {
        SeqDe {
            items: items.iter(),
            index: 0,
            path,
        }
    }
}

impl<'de, 'a> SeqAccess<'de> for SeqDe<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => {
                let path = format!("{}[{}]", self.path, self.index);
                self.index += 1;
                seed.deserialize(NodeDe::new(node, path)).map(Some)
            }
            None => Ok(None),
        }
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, Entry>,
    current: Option<&'a Entry>,
    path: &'a str,
}

impl<'a> MapDe<'a> {
    fn new(entries: &'a [Entry], path: &'a str) -> Self {
        MapDe {
            entries: entries.iter(),
            current: None,
            path,
        }
    }
}

impl<'de, 'a> MapAccess<'de> for MapDe<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some(entry) => {
                self.current = Some(entry);
                let key: StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
                seed.deserialize(key)
                    .map(Some)
                    .map_err(|e| e.at(self.path, entry.key_pos))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.current.take() {
            Some(entry) => {
                let path = child_path(self.path, &entry.key);
                seed.deserialize(NodeDe::new(&entry.value, path))
            }
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::parse;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: Option<u32>,
        flag: Option<bool>,
        text: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: BTreeMap<String, Inner>,
    }

    #[test]
    fn strings_are_read_as_numbers_and_numbers_as_strings() {
        let root = parse(
            "inner:\n  a:\n    n: \"3\"\n    flag: true\n    text: 12\n",
            "f",
        )
        .unwrap();
        let o: Outer = from_node(&root, "f").unwrap();
        let a = &o.inner["a"];
        assert_eq!(
            (a.n, a.flag, a.text.as_deref()),
            (Some(3), Some(true), Some("12"))
        );
    }

    #[test]
    fn booleans_and_strings_do_not_stand_in_for_each_other() {
        let root = parse("inner:\n  a:\n    flag: yes\n", "c.yml").unwrap();
        let err = from_node::<Outer>(&root, "c.yml").unwrap_err().to_string();
        assert_eq!(
            err,
            "c.yml:3:11: inner.a.flag: must be a boolean, found \"yes\""
        );
        let root = parse("inner:\n  a:\n    text: false\n", "c.yml").unwrap();
        let err = from_node::<Outer>(&root, "c.yml").unwrap_err().to_string();
        assert_eq!(
            err,
            "c.yml:3:11: inner.a.text: must be a string, found the boolean false"
        );
        let root = parse("inner:\n  a:\n    text: on\n", "c.yml").unwrap();
        let o: Outer = from_node(&root, "c.yml").unwrap();
        assert_eq!(o.inner["a"].text.as_deref(), Some("on"));
    }

    #[test]
    fn unknown_key_names_key_path_file_line_and_column() {
        let root = parse("inner:\n  a:\n    n: 1\n    bogus: 2\n", "c.yml").unwrap();
        let err = from_node::<Outer>(&root, "c.yml").unwrap_err().to_string();
        assert_eq!(err, "c.yml:4:5: unknown key \"bogus\" in inner.a");
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let root = parse("inner:\n  a:\n    n: lots\n", "c.yml").unwrap();
        let err = from_node::<Outer>(&root, "c.yml").unwrap_err().to_string();
        assert_eq!(
            err,
            "c.yml:3:8: inner.a.n: expected an integer, found \"lots\""
        );
    }
}
