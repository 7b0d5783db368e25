//! `shoal version` (docker/cli `cli/command/system/version.go`).

use super::emit;
use super::system::CLIENT_VERSION;
use crate::client::Client;
use crate::format::version_block;
use crate::output::StatusError;
use crate::template::Template;
use crate::timefmt::Timestamp;
use crate::values::{get, str_at};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Go's name for this machine's architecture.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub async fn version(client: &mut Client, a: VersionArgs) -> anyhow::Result<()> {
    let server = match client.ping().await {
        Ok(()) => client.get_json::<Value>("/version").await,
        Err(e) => Err(e),
    };
    if let Some(f) = a.format.as_deref() {
        let mut v = serde_json::json!({
            "Client": {"Version": CLIENT_VERSION, "ApiVersion": client.version(), "DefaultAPIVersion": crate::client::API_VERSION,
                       "Os": std::env::consts::OS, "Arch": go_arch(), "Context": "default"},
        });
        if let Ok(s) = &server {
            v["Server"] = s.clone();
        }
        let out = if f.trim() == "json" {
            crate::jsonfmt::go_marshal(&v)
        } else {
            Template::parse(f)
                .and_then(|t| t.render(&v))
                .map_err(|m| StatusError {
                    code: 64,
                    message: m,
                })?
        };
        emit(&format!("{out}\n"));
        return server.map(|_| ()).map_err(Into::into);
    }
    let mut text = format!(
        "Client:\n Version:\t{CLIENT_VERSION}\n API version:\t{}\n OS/Arch:\t{}/{}\n Context:\tdefault",
        client.version(),
        std::env::consts::OS,
        go_arch()
    );
    if let Ok(s) = &server {
        text.push_str(&server_version(s));
    }
    text.push('\n');
    emit(&version_block(&text));
    server.map(|_| ()).map_err(Into::into)
}

/// The `Server:` half of docker's version template.
pub fn server_version(s: &Value) -> String {
    let mut o = String::from("\n\nServer:");
    let platform = str_at(s, &["Platform", "Name"]);
    if !platform.is_empty() {
        o.push(' ');
        o.push_str(platform);
    }
    let mut components: Vec<Value> = get(s, &["Components"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !components.iter().any(|c| str_at(c, &["Name"]) == "Engine") {
        components.push(serde_json::json!({
            "Name": "Engine", "Version": str_at(s, &["Version"]),
            "Details": {"ApiVersion": str_at(s, &["ApiVersion"]), "MinAPIVersion": str_at(s, &["MinAPIVersion"]),
                        "Os": str_at(s, &["Os"]), "Arch": str_at(s, &["Arch"])}
        }));
    }
    for c in &components {
        let name = str_at(c, &["Name"]);
        o.push_str(&format!("\n {name}:"));
        let d = |k: &str| str_at(c, &["Details", k]).to_string();
        if name == "Engine" {
            let built = d("BuildTime");
            let built = Timestamp::parse(&built).map(|t| t.ansic()).unwrap_or(built);
            o.push_str(&format!("\n  Version:\t{}", str_at(c, &["Version"])));
            o.push_str(&format!(
                "\n  API version:\t{} (minimum version {})",
                d("ApiVersion"),
                d("MinAPIVersion")
            ));
            o.push_str(&format!("\n  Go version:\t{}", d("GoVersion")));
            o.push_str(&format!("\n  Git commit:\t{}", d("GitCommit")));
            o.push_str(&format!("\n  Built:\t{built}"));
            o.push_str(&format!("\n  OS/Arch:\t{}/{}", d("Os"), d("Arch")));
            o.push_str(&format!("\n  Experimental:\t{}", d("Experimental")));
        } else {
            o.push_str(&format!("\n  Version:\t{}", str_at(c, &["Version"])));
            if let Some(details) = get(c, &["Details"]).and_then(Value::as_object) {
                let mut keys: Vec<&String> = details.keys().collect();
                keys.sort();
                for k in keys {
                    o.push_str(&format!(
                        "\n  {k}:\t{}",
                        details.get(k).and_then(Value::as_str).unwrap_or_default()
                    ));
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_server_block_is_aligned_like_docker() {
        let s = json!({"Version": "0.1.0", "ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                       "Components": [{"Name": "Engine", "Version": "0.1.0",
                                       "Details": {"ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                                                   "GitCommit": "abc", "GoVersion": "rust", "Experimental": "false",
                                                   "BuildTime": "2009-11-10T23:00:00Z"}}]});
        let text = format!("Client:\n Version:\t0.1.0{}\n", server_version(&s));
        let out = version_block(&text);
        assert!(out.contains("\nServer:\n Engine:\n  Version:          0.1.0\n  API version:      1.44 (minimum version 1.24)\n"), "got:\n{out}");
        assert!(
            out.contains("  Built:            Tue Nov 10 23:00:00 2009\n"),
            "got:\n{out}"
        );
        assert!(
            out.starts_with("Client:\n Version:           0.1.0\n"),
            "got:\n{out}"
        );
    }
}
