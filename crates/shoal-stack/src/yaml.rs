//! YAML text → a [`Node`] tree that remembers where every key and value came from.
//!
//! serde-saphyr does the parsing (`0440` octal modes as go-yaml reads them, `<<` merge keys,
//! alias budgets). Booleans are YAML 1.2's `true`/`false` only, as docker's go-yaml v3 reads
//! them: an unquoted `yes`, `no`, `on`, `off`, `y` or `n` is the text written, so
//! `environment: {A: yes}` stays `A=yes` and `networks: [n]` names a network `n`. We keep our own small tree instead of typing straight
//! into structs because interpolation must run on string values *before* typing, and because
//! error messages need the line of the offending key.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::error::LoadError;

/// A 1-based line and column in a compose file; `0:0` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// A YAML value. Mapping keys are always strings (`8: x` has the key `"8"`), in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry: the key, where the key is, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Self {
        Node { value, pos }
    }

    /// The entries of a mapping node, or `None`.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match &self.value {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(text) => s.serialize_str(text),
            Value::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for e in entries {
                    map.serialize_entry(&e.key, &e.value)?;
                }
                map.end()
            }
        }
    }
}

/// Parses one compose file. `file` only names the file in errors.
pub fn parse(text: &str, file: &str) -> Result<Node, LoadError> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true, strict_booleans: true };
    let raw: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        LoadError::Yaml {
            file: file.to_string(),
            line,
            column,
            message: yaml_message(&e.to_string()),
        }
    })?;
    Ok(from_raw(raw))
}

/// serde-saphyr's message, without its `error: line L column C:` prefix (we print our own).
fn yaml_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or(full);
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ") {
        Some(after) => match after.find(": ") {
            Some(i) => after[i + 2..].to_string(),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    }
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos {
        line: s.referenced.line(),
        column: s.referenced.column(),
    }
}

fn from_raw(raw: Spanned<Raw>) -> Node {
    let pos = pos_of(&raw);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(from_raw).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| Entry {
                    key_pos: pos_of(&k),
                    key: k.value,
                    value: from_raw(v),
                })
                .collect(),
        ),
    };
    Node { value, pos }
}

/// What serde-saphyr hands us; `Spanned` children keep every position.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        // Beyond i64 only huge literals land here; keep their spelling.
        Ok(i64::try_from(v).map_or_else(|_| Raw::Str(v.to_string()), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_merge_keys_and_octal_modes_are_kept() {
        let text = "x-base: &b\n  image: foo\nservices:\n  web:\n    <<: *b\n    mode: 0440\n";
        let root = parse(text, "a.yml").unwrap();
        let services = &root.as_map().unwrap()[1];
        assert_eq!(services.key, "services");
        assert_eq!(services.key_pos, Pos { line: 3, column: 1 });
        let web = services.value.as_map().unwrap()[0].value.as_map().unwrap();
        let mode = web.iter().find(|e| e.key == "mode").unwrap();
        assert_eq!(mode.value.value, Value::Int(0o440));
        assert!(web.iter().any(|e| e.key == "image"));
    }

    #[test]
    fn yaml_1_1_booleans_are_text_and_1_2_booleans_are_booleans() {
        let root = parse(
            "a: [yes, no, on, off, y, n, Y, N, true, False, TRUE]
",
            "f",
        )
        .unwrap();
        let items = match &root.as_map().unwrap()[0].value.value {
            Value::Seq(items) => items.iter().map(|n| n.value.clone()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let text = |s: &str| Value::Str(s.to_string());
        assert_eq!(
            items,
            vec![
                text("yes"),
                text("no"),
                text("on"),
                text("off"),
                text("y"),
                text("n"),
                text("Y"),
                text("N"),
                Value::Bool(true),
                Value::Bool(false),
                Value::Bool(true),
            ]
        );
    }

    #[test]
    fn malformed_yaml_names_file_line_and_column() {
        let err = parse("services:\n  web: [\n", "bad.yml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("bad.yml:2:"), "{text}");
        assert!(text.contains("unclosed"), "{text}");
    }
}
