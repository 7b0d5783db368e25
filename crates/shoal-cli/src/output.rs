//! `--format` handling for list and inspect commands, shared by every command group.
//!
//! Lists: the default table, `-q` (IDs only), `json` (one JSON object per row, the row's
//! fields with sorted keys, as docker marshals its formatter contexts), or a Go-style
//! template (`table {{.ID}}\t{{.Name}}` or plain `{{.Name}}`).
//! Inspect: the daemon's JSON as a 4-space indented array, `json` (the compact array) or a
//! template applied to each object.

use crate::format::table;
use crate::jsonfmt;
use crate::template::Template;
use serde_json::Value;
use std::collections::BTreeMap;

/// A non-zero exit with a message for stderr, like docker's `cli.StatusError`.
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// One row of a list: the fields templates and `json` see, and the cells of the default
/// table (which may differ, e.g. `node ls` puts `*` after the self ID).
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub fields: BTreeMap<String, Value>,
    pub cells: Vec<String>,
}

impl Row {
    /// The `ID` field, for `-q`.
    pub fn id(&self) -> String {
        self.fields
            .get("ID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// How a list is printed.
#[derive(Debug, Clone)]
pub enum ListFormat {
    Table,
    Quiet,
    Json,
    Custom { table: bool, template: Template },
}

impl ListFormat {
    /// Docker's rules: no format → table (or IDs with `-q`); `json`; `table …` or any other
    /// text is a template (a custom format wins over `-q`).
    pub fn from_flags(format: Option<&str>, quiet: bool) -> Result<Self, StatusError> {
        match format.map(str::trim) {
            None | Some("") | Some("table") => Ok(if quiet {
                ListFormat::Quiet
            } else {
                ListFormat::Table
            }),
            Some("json") => Ok(ListFormat::Json),
            Some(f) => {
                let (is_table, body) = match f.strip_prefix("table") {
                    Some(rest) => (true, rest.trim_start()),
                    None => (false, f),
                };
                let template = Template::parse(body).map_err(|m| StatusError {
                    code: 64,
                    message: m,
                })?;
                Ok(ListFormat::Custom {
                    table: is_table,
                    template,
                })
            }
        }
    }
}

/// Renders `rows` under `headers` (field name → column header, in table order).
pub fn render_list(
    format: &ListFormat,
    headers: &[(&str, &str)],
    rows: &[Row],
) -> Result<String, StatusError> {
    let mut out = String::new();
    match format {
        ListFormat::Table => {
            let mut all = vec![
                headers
                    .iter()
                    .map(|(_, h)| h.to_string())
                    .collect::<Vec<_>>(),
            ];
            all.extend(rows.iter().map(|r| r.cells.clone()));
            out = table(&all);
        }
        ListFormat::Quiet => {
            for r in rows {
                out.push_str(&r.id());
                out.push('\n');
            }
        }
        ListFormat::Json => {
            for r in rows {
                let v = Value::Object(r.fields.clone().into_iter().collect());
                out.push_str(&jsonfmt::go_marshal(&v));
                out.push('\n');
            }
        }
        ListFormat::Custom {
            table: is_table,
            template,
        } => {
            let mut lines = Vec::new();
            for r in rows {
                let v = Value::Object(r.fields.clone().into_iter().collect());
                lines.push(template.render(&v).map_err(|m| StatusError {
                    code: 1,
                    message: m,
                })?);
            }
            if *is_table {
                let header = template.render_header(&|field| {
                    headers
                        .iter()
                        .find(|(f, _)| *f == field)
                        .map(|(_, h)| h.to_string())
                        .unwrap_or_else(|| field.to_uppercase())
                });
                let mut all: Vec<Vec<String>> =
                    vec![header.split('\t').map(str::to_string).collect()];
                all.extend(
                    lines
                        .iter()
                        .map(|l| l.split('\t').map(str::to_string).collect()),
                );
                out = table(&all);
            } else {
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// Renders inspected objects (the raw JSON bodies from the daemon).
pub fn render_inspect(format: Option<&str>, raws: &[bytes::Bytes]) -> Result<String, StatusError> {
    match format.map(str::trim) {
        None | Some("") => {
            if raws.is_empty() {
                return Ok("[]\n".to_string());
            }
            Ok(format!("{}\n", jsonfmt::indent(&join_array(raws), "    ")))
        }
        Some("json") => {
            if raws.is_empty() {
                return Ok("[]\n".to_string());
            }
            Ok(format!("{}\n", jsonfmt::compact(&join_array(raws))))
        }
        Some(f) => {
            let t = Template::parse(f).map_err(|m| StatusError {
                code: 64,
                message: m,
            })?;
            let mut out = String::new();
            for raw in raws {
                let v: Value = serde_json::from_slice(raw).map_err(|e| StatusError {
                    code: 1,
                    message: format!("unable to read inspect data: {e}"),
                })?;
                out.push_str(&t.render(&v).map_err(|m| StatusError {
                    code: 1,
                    message: m,
                })?);
                out.push('\n');
            }
            if out.is_empty() {
                out.push('\n');
            }
            Ok(out)
        }
    }
}

fn join_array(raws: &[bytes::Bytes]) -> Vec<u8> {
    let mut buf = b"[".to_vec();
    for (i, r) in raws.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(r);
    }
    buf.push(b']');
    buf
}

/// Builds a `Row` field map from pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Row> {
        vec![Row {
            fields: fields([("ID", json!("abc")), ("Name", json!("web"))]),
            cells: vec!["abc".into(), "web".into()],
        }]
    }

    #[test]
    fn list_formats_render() {
        let h = [("ID", "ID"), ("Name", "NAME")];
        let table = render_list(
            &ListFormat::from_flags(None, false).expect("ok"),
            &h,
            &rows(),
        )
        .expect("ok");
        assert_eq!(table, "ID        NAME\nabc       web\n");
        let quiet = render_list(
            &ListFormat::from_flags(None, true).expect("ok"),
            &h,
            &rows(),
        )
        .expect("ok");
        assert_eq!(quiet, "abc\n");
        let json = render_list(
            &ListFormat::from_flags(Some("json"), false).expect("ok"),
            &h,
            &rows(),
        )
        .expect("ok");
        assert_eq!(json, "{\"ID\":\"abc\",\"Name\":\"web\"}\n");
        let custom = render_list(
            &ListFormat::from_flags(Some("table {{.Name}}"), false).expect("ok"),
            &h,
            &rows(),
        )
        .expect("ok");
        assert_eq!(custom, "NAME\nweb\n");
        let plain = render_list(
            &ListFormat::from_flags(Some("{{.Name}}"), true).expect("ok"),
            &h,
            &rows(),
        )
        .expect("ok");
        assert_eq!(plain, "web\n");
    }

    #[test]
    fn inspect_formats_render() {
        let raws = vec![bytes::Bytes::from_static(
            b"{\"ID\":\"a\",\"Spec\":{\"Name\":\"x\"}}",
        )];
        assert_eq!(
            render_inspect(None, &raws).expect("ok"),
            "[\n    {\n        \"ID\": \"a\",\n        \"Spec\": {\n            \"Name\": \"x\"\n        }\n    }\n]\n"
        );
        assert_eq!(
            render_inspect(Some("json"), &raws).expect("ok"),
            "[{\"ID\":\"a\",\"Spec\":{\"Name\":\"x\"}}]\n"
        );
        assert_eq!(
            render_inspect(Some("{{.Spec.Name}}"), &raws).expect("ok"),
            "x\n"
        );
        assert_eq!(render_inspect(None, &[]).expect("ok"), "[]\n");
    }
}
