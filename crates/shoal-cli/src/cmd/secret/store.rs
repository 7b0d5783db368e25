//! What `secret` and `config` commands share: both are named blobs with the same API shape
//! (docker/cli `cli/command/secret`, `cli/command/config`); [`Kind`] says which one.

use crate::client::{Client, Query, segment};
use crate::cmd::{emit, error_text, join_errors};
use crate::format::natural_cmp;
use crate::output::{ListFormat, Row, StatusError, fields, render_inspect, render_list};
use crate::parse::{filters, filters_json, labels};
use crate::timefmt::{Timestamp, ago};
use crate::values::{get, str_at};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::io::Read;

/// Secrets or configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Secret => "/secrets",
            Kind::Config => "/configs",
        }
    }
}

/// Reads `file`, or stdin for `-`.
fn read_data(file: &str) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    if file == "-" {
        std::io::stdin().lock().read_to_end(&mut data)?;
    } else {
        data = std::fs::read(file).map_err(|e| StatusError {
            code: 1,
            message: format!("error reading content from \"{file}\": {e}"),
        })?;
    }
    Ok(data)
}

/// `create NAME FILE|-`: posts the spec and prints the new ID.
pub async fn create(
    client: &Client,
    kind: Kind,
    name: &str,
    file: &str,
    label: &[String],
) -> anyhow::Result<()> {
    let data = read_data(file)?;
    let spec = json!({
        "Name": name,
        "Labels": labels(label),
        "Data": STANDARD.encode(&data),
    });
    let resp: Value = client
        .post_json(&format!("{}/create", kind.path()), &spec)
        .await?;
    emit(&format!("{}\n", str_at(&resp, &["ID"])));
    Ok(())
}

/// `ls`: ID NAME [DRIVER] CREATED UPDATED, sorted by name.
pub async fn ls(
    client: &Client,
    kind: Kind,
    quiet: bool,
    filter: &[String],
    format: Option<&str>,
) -> anyhow::Result<()> {
    let f = filters(filter).map_err(|m| StatusError {
        code: 125,
        message: m,
    })?;
    let fjson = filters_json(&f);
    let path = Query::new()
        .push_if(fjson.is_some(), "filters", fjson.unwrap_or_default())
        .to_path(kind.path());
    let mut items: Vec<Value> = client.get_json(&path).await?;
    items.sort_by(|a, b| natural_cmp(str_at(a, &["Spec", "Name"]), str_at(b, &["Spec", "Name"])));
    let now = Timestamp::now();
    let rows: Vec<Row> = items
        .iter()
        .map(|o| {
            let id = str_at(o, &["ID"]).to_string();
            let name = str_at(o, &["Spec", "Name"]).to_string();
            let driver = str_at(o, &["Spec", "Driver", "Name"]).to_string();
            let created = ago(str_at(o, &["CreatedAt"]), &now);
            let updated = ago(str_at(o, &["UpdatedAt"]), &now);
            let mut cells = vec![id.clone(), name.clone()];
            if kind == Kind::Secret {
                cells.push(driver.clone());
            }
            cells.extend([created.clone(), updated.clone()]);
            Row {
                cells,
                fields: fields([
                    ("ID", json!(id)),
                    ("Name", json!(name)),
                    ("Driver", json!(driver)),
                    ("CreatedAt", json!(created)),
                    ("UpdatedAt", json!(updated)),
                    ("Labels", json!(label_text(o))),
                ]),
            }
        })
        .collect();
    let headers: &[(&str, &str)] = match kind {
        Kind::Secret => &[
            ("ID", "ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("CreatedAt", "CREATED"),
            ("UpdatedAt", "UPDATED"),
        ],
        Kind::Config => &[
            ("ID", "ID"),
            ("Name", "NAME"),
            ("CreatedAt", "CREATED"),
            ("UpdatedAt", "UPDATED"),
        ],
    };
    let format = ListFormat::from_flags(format, quiet)?;
    emit(&render_list(&format, headers, &rows)?);
    Ok(())
}

fn label_text(o: &Value) -> String {
    let mut pairs: Vec<String> = get(o, &["Spec", "Labels"])
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// `inspect [--pretty] NAME…`.
pub async fn inspect(
    client: &Client,
    kind: Kind,
    names: &[String],
    format: Option<&str>,
    pretty: bool,
) -> anyhow::Result<()> {
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in names {
        match client
            .get_raw(&format!("{}/{}", kind.path(), segment(n)))
            .await
        {
            Ok(raw) => raws.push(raw),
            Err(e) => errs.push(anyhow::Error::from(e)),
        }
    }
    if pretty {
        let mut out = String::new();
        for raw in &raws {
            let v: Value = serde_json::from_slice(raw)?;
            out.push_str(&pretty_text(kind, &v));
        }
        emit(&out);
    } else if !raws.is_empty() || errs.is_empty() {
        emit(&render_inspect(format, &raws)?);
    }
    join_errors(errs)
}

/// docker's `secretInspectPrettyTemplate` / `configInspectPrettyTemplate`.
pub fn pretty_text(kind: Kind, v: &Value) -> String {
    let when = |k: &str| {
        Timestamp::parse(str_at(v, &[k]))
            .map(|t| t.go_string_utc())
            .unwrap_or_default()
    };
    // The two templates differ in spacing (docker's `secretInspectPrettyTemplate` pads with
    // spaces, `configInspectPrettyTemplate` with tabs).
    let (id, name, created, updated) = match kind {
        Kind::Secret => (
            "ID:              ",
            "Name:              ",
            "Created at:        ",
            "Updated at:        ",
        ),
        Kind::Config => (
            "ID:\t\t\t",
            "Name:\t\t\t",
            "Created at:            \t",
            "Updated at:            \t",
        ),
    };
    let mut out = format!(
        "{id}{}\n{name}{}\n",
        str_at(v, &["ID"]),
        str_at(v, &["Spec", "Name"])
    );
    let labels = label_text(v);
    if !labels.is_empty() {
        out.push_str("Labels:\n");
        for pair in labels.split(',') {
            out.push_str(&format!(" - {}\n", pair.trim_end_matches('=')));
        }
    }
    if kind == Kind::Secret {
        out.push_str(&format!(
            "Driver:            {}\n",
            str_at(v, &["Spec", "Driver", "Name"])
        ));
    }
    out.push_str(&format!(
        "{created}{}\n{updated}{}\n",
        when("CreatedAt"),
        when("UpdatedAt")
    ));
    if kind == Kind::Config {
        let data = STANDARD
            .decode(str_at(v, &["Spec", "Data"]))
            .unwrap_or_default();
        if !data.is_empty() {
            out.push_str(&format!("Data:\n{}\n", String::from_utf8_lossy(&data)));
        }
    }
    out
}

/// `rm NAME…`: prints each name removed; failures are reported together.
pub async fn rm(client: &Client, kind: Kind, names: &[String]) -> anyhow::Result<()> {
    let mut errs = Vec::new();
    for n in names {
        match client
            .delete(&format!("{}/{}", kind.path(), segment(n)))
            .await
        {
            Ok(()) => emit(&format!("{n}\n")),
            Err(e) => errs.push(anyhow::Error::from(e)),
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    Err(StatusError {
        code: 1,
        message: errs.iter().map(error_text).collect::<Vec<_>>().join("\n"),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_secrets_show_no_data_and_configs_show_theirs() {
        let v = json!({
            "ID": "abc", "CreatedAt": "2026-11-25T12:00:00Z", "UpdatedAt": "2026-11-25T12:00:00Z",
            "Spec": {"Name": "db", "Labels": {"team": "a"}, "Data": STANDARD.encode("hello")},
        });
        let secret = pretty_text(Kind::Secret, &v);
        assert_eq!(
            secret,
            "ID:              abc\nName:              db\nLabels:\n - team=a\nDriver:            \nCreated at:        2026-11-25 12:00:00 +0000 utc\nUpdated at:        2026-11-25 12:00:00 +0000 utc\n"
        );
        let config = pretty_text(Kind::Config, &v);
        assert!(
            config.starts_with("ID:\t\t\tabc\nName:\t\t\tdb\n"),
            "{config}"
        );
        assert!(config.ends_with("Data:\nhello\n"), "{config}");
    }
}
