//! JSON output the way docker's Go code writes it: `json.Indent` of the daemon's raw bytes
//! (key order kept), `json.Compact`, and `json.Marshal` (sorted map keys, HTML-escaped).

use serde_json::Value;

/// Go's `json.Indent(dst, src, "", indent)`: whitespace outside strings is dropped, each
/// element goes on its own line, empty objects and arrays stay `{}`/`[]`.
pub fn indent(raw: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let text = String::from_utf8_lossy(raw);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut need_indent = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `json.Compact`: whitespace outside strings removed.
pub fn compact(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Go's `json.Marshal` of a decoded value: map keys sorted, `<`, `>`, `&` escaped.
pub fn go_marshal(v: &Value) -> String {
    let sorted = sort_keys(v);
    let s = serde_json::to_string(&sorted).unwrap_or_default();
    escape_html(&s)
}

/// Rebuilds objects through a `BTreeMap` so keys are sorted whatever serde_json's map is.
fn sort_keys(v: &Value) -> SortedValue<'_> {
    SortedValue(v)
}

struct SortedValue<'a>(&'a Value);

impl serde::Serialize for SortedValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    if let Some(v) = map.get(k) {
                        m.serialize_entry(k, &SortedValue(v))?;
                    }
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&SortedValue(i))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Go escapes these in JSON strings; in serialised JSON they can only occur inside strings,
/// so replacing them everywhere is exact.
fn escape_html(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indent_matches_go_json_indent() {
        let raw = br#"[{"ID":"x","Spec":{"Labels":{},"List":[1, 2]},"Empty":[],"S":"a, b: {c}"}]"#;
        let want = r#"[
    {
        "ID": "x",
        "Spec": {
            "Labels": {},
            "List": [
                1,
                2
            ]
        },
        "Empty": [],
        "S": "a, b: {c}"
    }
]"#;
        assert_eq!(indent(raw, "    "), want);
        assert_eq!(indent(b"[]", "    "), "[]");
    }

    #[test]
    fn compact_keeps_strings() {
        assert_eq!(compact(b"{ \"a\" : \"x y\\\" z\" }"), r#"{"a":"x y\" z"}"#);
    }

    #[test]
    fn marshal_sorts_keys_and_escapes_html() {
        let v = json!({"b": 1, "a": {"d": "<&>", "c": true}});
        assert_eq!(
            go_marshal(&v),
            r#"{"a":{"c":true,"d":"\u003c\u0026\u003e"},"b":1}"#
        );
    }
}
