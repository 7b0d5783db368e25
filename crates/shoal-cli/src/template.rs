//! The small part of Go's `text/template` that `--format` needs: `{{.X}}`, `{{.X.Y}}`,
//! `{{json .}}`, `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{join .X ", "}}`,
//! `{{index .X "key"}}`, and `{{-`/`-}}` trimming. Data is a JSON value (the object
//! itself for inspect, the row's fields for lists).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Action {
        func: Option<String>,
        path: Vec<String>,
        arg: Option<String>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `src`; `\t` and `\n` escapes become real tabs and newlines as docker does.
    pub fn parse(src: &str) -> Result<Template, String> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let mut pieces = Vec::new();
        let mut rest = src.as_str();
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut text = rest[..start].to_string();
            if trim_next {
                text = text.trim_start().to_string();
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "template parsing error: unclosed action".to_string())?;
            let mut inner = &after[..end];
            if let Some(stripped) = inner.strip_prefix('-') {
                text = text.trim_end().to_string();
                inner = stripped;
            }
            trim_next = false;
            if let Some(stripped) = inner.strip_suffix('-') {
                trim_next = true;
                inner = stripped;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text));
            }
            pieces.push(parse_action(inner.trim())?);
            rest = &after[end + 2..];
        }
        let text = if trim_next { rest.trim_start() } else { rest };
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Renders against `data`.
    pub fn render(&self, data: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Action { func, path, arg } => {
                    let v = lookup(data, path);
                    out.push_str(&apply(func.as_deref(), v, arg.as_deref())?);
                }
            }
        }
        Ok(out)
    }

    /// Renders the header row of a `table` format: each `.Field` becomes its header.
    pub fn render_header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Action { path, .. } => out.push_str(&header(&path.join("."))),
            }
        }
        out
    }
}

fn parse_action(inner: &str) -> Result<Piece, String> {
    let words = split_words(inner);
    let (func, path_word, arg) = match words.as_slice() {
        [p] => (None, p.as_str(), None),
        [f, p] => (Some(f.clone()), p.as_str(), None),
        [f, p, a] => (Some(f.clone()), p.as_str(), Some(unquote(a))),
        _ => {
            return Err(format!(
                "template parsing error: unsupported action {{{{{inner}}}}}"
            ));
        }
    };
    if let Some(f) = &func
        && !matches!(
            f.as_str(),
            "json" | "upper" | "lower" | "join" | "index" | "title"
        )
    {
        return Err(format!(
            "template parsing error: function \"{f}\" not defined"
        ));
    }
    if !path_word.starts_with('.') {
        return Err(format!(
            "template parsing error: unsupported action {{{{{inner}}}}}"
        ));
    }
    let path = path_word
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Piece::Action { func, path, arg })
}

fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = data;
    for key in path {
        v = v.get(key)?;
    }
    Some(v)
}

fn apply(func: Option<&str>, v: Option<&Value>, arg: Option<&str>) -> Result<String, String> {
    match func {
        None => Ok(go_print(v)),
        Some("json") => Ok(v
            .map(crate::jsonfmt::go_marshal)
            .unwrap_or_else(|| "null".to_string())),
        Some("upper") => Ok(go_print(v).to_uppercase()),
        Some("lower") => Ok(go_print(v).to_lowercase()),
        Some("title") => Ok(crate::format::capitalize(&go_print(v))),
        Some("join") => {
            let sep = arg.unwrap_or("");
            match v {
                Some(Value::Array(items)) => Ok(items
                    .iter()
                    .map(|i| go_print(Some(i)))
                    .collect::<Vec<_>>()
                    .join(sep)),
                other => Ok(go_print(other)),
            }
        }
        Some("index") => {
            let key = arg.unwrap_or("");
            Ok(go_print(v.and_then(|v| v.get(key))))
        }
        Some(f) => Err(format!(
            "template parsing error: function \"{f}\" not defined"
        )),
    }
}

/// How Go's `fmt` prints a decoded JSON value inside a template.
fn go_print(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<no value>".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| go_print(Some(i)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Some(Value::Object(map)) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_print(map.get(*k))))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_nested_paths_render() {
        let t = Template::parse("{{.ID}}: {{.Spec.Name}}").expect("valid");
        let v = json!({"ID": "abc", "Spec": {"Name": "web"}});
        assert_eq!(t.render(&v).expect("renders"), "abc: web");
    }

    #[test]
    fn json_and_trimming_work() {
        let t = Template::parse("{{- json .Spec -}}  \n").expect("valid");
        let v = json!({"Spec": {"Name": "a<b"}});
        assert_eq!(t.render(&v).expect("renders"), r#"{"Name":"a\u003cb"}"#);
    }

    #[test]
    fn table_headers_come_from_field_names() {
        let t = Template::parse("{{.ID}}\\t{{.Name}}").expect("valid");
        assert_eq!(t.render_header(&|f| f.to_uppercase()), "ID\tNAME");
    }

    #[test]
    fn missing_fields_print_no_value_and_bad_functions_fail() {
        let t = Template::parse("{{.Nope}}").expect("valid");
        assert_eq!(t.render(&json!({})).expect("renders"), "<no value>");
        assert!(Template::parse("{{printf .X}}").is_err());
        assert!(Template::parse("{{.X").is_err());
    }
}
