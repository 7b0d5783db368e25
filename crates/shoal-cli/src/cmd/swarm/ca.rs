//! `swarm ca [--rotate] [--detach] [--quiet] [--ca-cert F --ca-key F] [--cert-expiry D]`, as
//! docker/cli `cli/command/swarm/ca.go`: without `--rotate` print the root CA; with it send a
//! swarm update (ForceRotate + 1, or the given signing CA), then, unless detached, poll
//! `GET /swarm` and `GET /nodes` every 200 ms until every node has a certificate from the new
//! issuer and trusts the new root, and print the new root.

use super::CaArgs;
use super::tokens::post_spec;
use crate::client::Client;
use crate::cmd::emit;
use crate::output::StatusError;
use crate::values;
use anyhow::Context;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::IsTerminal;
use std::time::Duration;

/// docker/cli's poll period (`progress.RootRotationProgress`).
const POLL: Duration = Duration::from_millis(200);

fn usage(message: String) -> anyhow::Error {
    anyhow::anyhow!(StatusError { code: 1, message })
}

fn print_root(sw: &Value) -> anyhow::Result<()> {
    let root = values::str_at(sw, &["TLSInfo", "TrustRoot"]);
    if root.is_empty() {
        return Err(usage("No CA information available".into()));
    }
    emit(&format!("{}\n", root.trim()));
    Ok(())
}

fn read_pem(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {path}"))
}

pub(super) async fn ca(client: &Client, a: CaArgs) -> anyhow::Result<()> {
    let sw: Value = client.get_json("/swarm").await?;
    if !a.rotate {
        for (given, flag) in [
            (a.ca_cert.is_some(), "ca-cert"),
            (a.ca_key.is_some(), "ca-key"),
            (a.cert_expiry.is_some(), "cert-expiry"),
            (!a.external_ca.is_empty(), "external-ca"),
        ] {
            if given {
                return Err(usage(format!(
                    "`--{flag}` flag requires the `--rotate` flag to update the CA"
                )));
            }
        }
        return print_root(&sw);
    }
    if !a.external_ca.is_empty() {
        return Err(usage(
            "external CAs are not supported by shoal; give --ca-cert and --ca-key".into(),
        ));
    }
    if a.ca_cert.is_some() && a.ca_key.is_none() {
        return Err(usage(
            "the --ca-cert flag requires that a --ca-key flag and/or --external-ca flag be provided as well".into(),
        ));
    }
    let cert = a.ca_cert.as_deref().map(read_pem).transpose()?;
    let key = a.ca_key.as_deref().map(read_pem).transpose()?;
    let mut spec = values::get(&sw, &["Spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(ns) = a.cert_expiry {
        values::set(&mut spec, &["CAConfig", "NodeCertExpiry"], json!(ns));
    }
    values::set(
        &mut spec,
        &["CAConfig", "SigningCACert"],
        json!(cert.clone().unwrap_or_default()),
    );
    values::set(
        &mut spec,
        &["CAConfig", "SigningCAKey"],
        json!(key.clone().unwrap_or_default()),
    );
    if cert.is_none() && key.is_none() {
        let n = values::u64_at(&spec, &["CAConfig", "ForceRotate"]);
        values::set(&mut spec, &["CAConfig", "ForceRotate"], json!(n + 1));
    }
    post_spec(client, &sw, &spec, false, false, false).await?;
    if a.detach {
        return Ok(());
    }
    wait(client, a.quiet).await?;
    let sw: Value = client.get_json("/swarm").await?;
    print_root(&sw)
}

/// Rotation progress as docker/cli counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `sha256:<hex>` of the desired trust root PEM.
    pub digest: String,
    pub certs_right: usize,
    pub roots_right: usize,
    pub total: usize,
    pub done: bool,
}

/// docker/cli `updateProgress`: nodes whose certificate issuer is the swarm's, and (once no
/// rotation is in progress) nodes that trust the swarm's root. Pure.
pub fn progress(sw: &Value, nodes: &[Value]) -> Progress {
    let want = values::get(sw, &["TLSInfo"])
        .cloned()
        .unwrap_or(Value::Null);
    let field = |v: &Value, k: &str| values::str_at(v, &[k]).to_string();
    let (subject, key, root) = (
        field(&want, "CertIssuerSubject"),
        field(&want, "CertIssuerPublicKey"),
        field(&want, "TrustRoot"),
    );
    let mut certs_right = 0;
    let mut roots_right = 0;
    for n in nodes {
        let t = values::get(n, &["Description", "TLSInfo"])
            .cloned()
            .unwrap_or(Value::Null);
        if field(&t, "CertIssuerSubject") == subject && field(&t, "CertIssuerPublicKey") == key {
            certs_right += 1;
        }
        if field(&t, "TrustRoot") == root {
            roots_right += 1;
        }
    }
    let total = nodes.len();
    let rotating = values::bool_at(sw, &["RootRotationInProgress"]);
    let converged_certs = certs_right == total && !rotating;
    Progress {
        digest: format!("sha256:{}", hex_of(&Sha256::digest(root.as_bytes()))),
        certs_right,
        roots_right: if converged_certs { roots_right } else { 0 },
        total,
        done: converged_certs && roots_right == total,
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bar(current: usize, total: usize) -> String {
    const WIDTH: usize = 50;
    let filled = (current * WIDTH).checked_div(total).unwrap_or(0);
    let mut s = "=".repeat(filled.saturating_sub(1));
    if filled > 0 {
        s.push(if filled == WIDTH { '=' } else { '>' });
    }
    format!("[{s:<WIDTH$}] {current}/{total} nodes")
}

/// The three progress lines docker prints.
pub fn render(p: &Progress) -> String {
    format!(
        "desired root digest: {}\n  rotated TLS certificates: {}\n  rotated CA certificates:  {}\n",
        p.digest,
        bar(p.certs_right, p.total),
        bar(p.roots_right, p.total)
    )
}

async fn wait(client: &Client, quiet: bool) -> anyhow::Result<()> {
    let mut last: Option<Progress> = None;
    loop {
        let sw: Value = client.get_json("/swarm").await?;
        let nodes: Vec<Value> = client.get_json("/nodes").await?;
        let p = progress(&sw, &nodes);
        if !quiet && last.as_ref() != Some(&p) {
            // On a terminal, redraw the three lines in place as docker does.
            if last.is_some() && std::io::stdout().is_terminal() {
                emit("\x1b[3A\x1b[J");
            }
            emit(&render(&p));
        }
        if p.done {
            return Ok(());
        }
        last = Some(p);
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(subject: &str, key: &str, root: &str) -> Value {
        json!({"Description": {"TLSInfo": {"TrustRoot": root, "CertIssuerSubject": subject, "CertIssuerPublicKey": key}}})
    }

    #[test]
    fn progress_counts_roots_only_once_every_certificate_is_rotated() {
        let mut sw = json!({"TLSInfo": {"TrustRoot": "old", "CertIssuerSubject": "s", "CertIssuerPublicKey": "new"}, "RootRotationInProgress": true});
        let nodes = vec![node("s", "new", "old"), node("s", "old", "old")];
        let p = progress(&sw, &nodes);
        assert_eq!((p.certs_right, p.roots_right, p.done), (1, 0, false));
        let nodes = vec![node("s", "new", "old"), node("s", "new", "old")];
        assert!(!progress(&sw, &nodes).done, "still rotating");
        sw = json!({"TLSInfo": {"TrustRoot": "newroot", "CertIssuerSubject": "s", "CertIssuerPublicKey": "new"}, "RootRotationInProgress": false});
        let p = progress(&sw, &nodes);
        assert_eq!((p.certs_right, p.roots_right, p.done), (2, 0, false));
        let nodes = vec![node("s", "new", "newroot"), node("s", "new", "newroot")];
        let p = progress(&sw, &nodes);
        assert!(p.done);
        assert!(render(&p).contains("2/2 nodes"), "{}", render(&p));
        assert!(p.digest.starts_with("sha256:"));
    }
}
