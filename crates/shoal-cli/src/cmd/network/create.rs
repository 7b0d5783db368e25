//! `network create`: the `POST /networks/create` body docker sends, with its pairing of
//! `--subnet`, `--ip-range` and `--gateway` (docker/cli `consolidateIpam`).

use super::CreateArgs;
use crate::client::Client;
use crate::cmd::emit;
use crate::output::StatusError;
use crate::parse::key_value;
use crate::values::str_at;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub(super) async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<()> {
    let body = create_body(&a).map_err(|message| StatusError { code: 1, message })?;
    let resp: Value = client.post_json("/networks/create", &body).await?;
    emit(&format!("{}\n", str_at(&resp, &["Id"])));
    Ok(())
}

fn map_of(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|s| {
            let (k, v) = key_value(s);
            (k, json!(v))
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

/// The request body for `a`, or docker's message for inconsistent IPAM flags.
pub fn create_body(a: &CreateArgs) -> Result<Value, String> {
    let config = consolidate_ipam(&a.subnet, &a.ip_range, &a.gateway)?;
    Ok(json!({
        "Name": a.name,
        "Driver": a.driver,
        "Scope": a.scope.clone().unwrap_or_default(),
        "IPAM": {"Driver": a.ipam_driver, "Options": map_of(&a.ipam_opt), "Config": config},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": a.ingress,
        "ConfigOnly": false,
        "ConfigFrom": null,
        "Options": map_of(&a.opt),
        "Labels": map_of(&a.label),
    }))
}

/// Parses `a.b.c.d/n` or a bare address (as a /32) into (network, prefix length).
fn cidr(s: &str) -> Result<(u32, u8), String> {
    let (ip, len) = s.split_once('/').unwrap_or((s, "32"));
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("invalid CIDR address: {s}"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from(ip) & mask, len))
}

/// docker's `subnetMatches`: whether `addr` (an address or prefix) lies in `subnet`.
fn subnet_matches(subnet: &str, addr: &str) -> Result<bool, String> {
    let (net, len) = cidr(subnet)?;
    let (ip, _) = cidr(addr.split('/').next().unwrap_or(addr))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok(ip & mask == net)
}

fn consolidate_ipam(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
) -> Result<Vec<Value>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut data: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for s in subnets {
        for (k, _, _) in &data {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        data.push((s.clone(), None, None));
    }
    for r in ranges {
        let mut matched = false;
        for (s, range, _) in data.iter_mut() {
            if !subnet_matches(s, r)? {
                continue;
            }
            if let Some(existing) = range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {existing}) on the same subnet ({s})"
                ));
            }
            *range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for (s, _, gateway) in data.iter_mut() {
            if !subnet_matches(s, g)? {
                continue;
            }
            if let Some(existing) = gateway {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {existing}) for the same subnet ({s})"
                ));
            }
            *gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    Ok(data
        .into_iter()
        .map(|(subnet, range, gateway)| {
            let mut c = Map::new();
            c.insert("Subnet".into(), json!(subnet));
            if let Some(r) = range {
                c.insert("IPRange".into(), json!(r));
            }
            if let Some(g) = gateway {
                c.insert("Gateway".into(), json!(g));
            }
            Value::Object(c)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str) -> CreateArgs {
        CreateArgs {
            driver: "overlay".into(),
            attachable: false,
            internal: false,
            ingress: false,
            subnet: vec![],
            gateway: vec![],
            ip_range: vec![],
            ipam_driver: "default".into(),
            ipam_opt: vec![],
            label: vec![],
            opt: vec![],
            scope: None,
            name: name.into(),
        }
    }

    #[test]
    fn the_default_body_matches_dockers() {
        let body = create_body(&args("mynet")).expect("valid");
        assert_eq!(
            body,
            json!({"Name":"mynet","Driver":"overlay","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},
                   "Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,
                   "Options":{},"Labels":{}})
        );
    }

    #[test]
    fn gateways_pair_with_the_subnet_that_holds_them() {
        let mut a = args("n");
        a.subnet = vec!["10.1.0.0/24".into(), "10.2.0.0/24".into()];
        a.gateway = vec!["10.2.0.254".into()];
        a.label = vec!["team=web".into()];
        a.attachable = true;
        let body = create_body(&a).expect("valid");
        assert_eq!(
            body["IPAM"]["Config"],
            json!([{"Subnet":"10.1.0.0/24"},{"Subnet":"10.2.0.0/24","Gateway":"10.2.0.254"}])
        );
        assert_eq!(body["Labels"], json!({"team": "web"}));
        assert_eq!(body["Attachable"], true);
        a.gateway = vec!["10.3.0.1".into()];
        assert_eq!(
            create_body(&a).unwrap_err(),
            "no matching subnet for gateway 10.3.0.1"
        );
        a.subnet = vec!["10.0.0.0/16".into(), "10.0.1.0/24".into()];
        a.gateway = vec![];
        assert_eq!(
            create_body(&a).unwrap_err(),
            "multiple overlapping subnet configuration is not supported"
        );
        a.subnet = vec![];
        a.gateway = vec!["10.0.0.1".into()];
        assert_eq!(
            create_body(&a).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
    }
}
