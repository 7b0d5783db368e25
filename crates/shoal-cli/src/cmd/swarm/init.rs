//! `swarm init` and `swarm join`, and the address parsing they share.

use super::{InitArgs, JoinArgs, SpecFlags, tokens};
use crate::client::Client;
use crate::cmd::emit;
use crate::output::StatusError;
use crate::values;
use anyhow::bail;
use serde_json::{Value, json};

const DEFAULT_PORT: &str = "2377";

/// The `Spec` docker sends with `swarm init`: Go's zero `swarm.Spec` plus the given flags.
pub fn init_spec(flags: &SpecFlags) -> Value {
    let mut spec = json!({
        "Labels": null,
        "Orchestration": {},
        "Raft": {"ElectionTick": 0, "HeartbeatTick": 0},
        "Dispatcher": {},
        "CAConfig": {},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": false}
    });
    flags.merge_into(&mut spec);
    spec
}

/// The InitRequest body for `swarm init` (reference §3.7).
pub fn init_request(a: &InitArgs) -> anyhow::Result<Value> {
    let pools = a
        .default_addr_pool
        .iter()
        .map(|p| cidr_network(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "ListenAddr": node_addr(&a.listen_addr),
        "AdvertiseAddr": a.advertise_addr.clone().unwrap_or_default(),
        "DataPathAddr": a.data_path_addr.clone().unwrap_or_default(),
        "DataPathPort": a.data_path_port,
        "ForceNewCluster": a.force_new_cluster,
        "Spec": init_spec(&a.spec),
        "AutoLockManagers": a.spec.autolock.unwrap_or(false),
        "Availability": availability(a.availability.as_deref())?,
        "DefaultAddrPool": pools,
        "SubnetSize": a.default_addr_pool_mask_length,
    }))
}

pub(super) async fn init(client: &Client, a: InitArgs) -> anyhow::Result<()> {
    let body = init_request(&a)?;
    let node_id: String = match client.post_json("/swarm/init", &body).await {
        Ok(id) => id,
        Err(e) => {
            let text = e.to_string();
            if text.contains("could not choose an IP address to advertise")
                || text.contains("could not find the system's IP address")
            {
                bail!(StatusError {
                    code: 1,
                    message: format!("{text} - specify one with --advertise-addr")
                });
            }
            return Err(e.into());
        }
    };
    emit(&format!(
        "Swarm initialized: current node ({node_id}) is now a manager.\n\n"
    ));
    tokens::print_join_command(client, &node_id, true, false).await?;
    emit(
        "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n",
    );
    if a.spec.autolock == Some(true) {
        let key = tokens::unlock_key_value(client).await?;
        emit(&tokens::unlock_text(&key));
    }
    Ok(())
}

pub(super) async fn join(client: &Client, a: JoinArgs) -> anyhow::Result<()> {
    let body = json!({
        "ListenAddr": node_addr(&a.listen_addr),
        "AdvertiseAddr": a.advertise_addr.unwrap_or_default(),
        "DataPathAddr": a.data_path_addr.unwrap_or_default(),
        "RemoteAddrs": [a.remote],
        "JoinToken": a.token,
        "Availability": availability(a.availability.as_deref())?,
    });
    client.post("/swarm/join", Some(&body)).await?;
    let info: Value = client.get_json("/info").await?;
    if values::bool_at(&info, &["Swarm", "ControlAvailable"]) {
        emit("This node joined a swarm as a manager.\n");
    } else {
        emit("This node joined a swarm as a worker.\n");
    }
    Ok(())
}

/// docker's `--availability` check: lower-cased, one of active/pause/drain, `""` if absent.
fn availability(a: Option<&str>) -> anyhow::Result<String> {
    match a {
        None => Ok(String::new()),
        Some(v) => {
            let l = v.to_lowercase();
            if matches!(l.as_str(), "active" | "pause" | "drain") {
                Ok(l)
            } else {
                bail!(StatusError {
                    code: 1,
                    message: format!(
                        "invalid availability \"{v}\", only active, pause and drain are supported"
                    )
                })
            }
        }
    }
}

/// docker's `NodeAddrOption`: `ip`, `interface` or `:port` completed to `host:port` with
/// the default listen address.
pub fn node_addr(value: &str) -> String {
    let v = value.trim_start_matches("tcp://");
    if let Some(port) = v.strip_prefix(':') {
        return format!("0.0.0.0:{port}");
    }
    if v.starts_with('[') {
        return if v.contains("]:") {
            v.to_string()
        } else {
            format!("{v}:{DEFAULT_PORT}")
        };
    }
    match v.matches(':').count() {
        0 => format!("{v}:{DEFAULT_PORT}"),
        1 => v.to_string(),
        _ => format!("[{v}]:{DEFAULT_PORT}"),
    }
}

/// Parses a CIDR and returns its network (`10.20.1.5/16` → `10.20.0.0/16`), like Go's
/// `net.ParseCIDR` which the docker CLI uses for `--default-addr-pool`.
pub fn cidr_network(s: &str) -> anyhow::Result<String> {
    let bad = || StatusError {
        code: USAGE_EXIT,
        message: format!(
            "invalid argument \"{s}\" for \"--default-addr-pool\" flag: invalid CIDR address: {s}"
        ),
    };
    let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
    match ip {
        std::net::IpAddr::V4(v4) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            Ok(format!(
                "{}/{bits}",
                std::net::Ipv4Addr::from(u32::from(v4) & mask)
            ))
        }
        std::net::IpAddr::V6(v6) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            Ok(format!(
                "{}/{bits}",
                std::net::Ipv6Addr::from(u128::from(v6) & mask)
            ))
        }
        _ => Err(bad().into()),
    }
}

/// Exit status docker uses for flag errors.
const USAGE_EXIT: i32 = 125;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        cmd: super::super::SwarmCommand,
    }

    fn init_args(args: &[&str]) -> InitArgs {
        let mut v = vec!["t", "init"];
        v.extend_from_slice(args);
        match T::try_parse_from(v).expect("valid").cmd {
            super::super::SwarmCommand::Init(a) => a,
            _ => panic!("not init"),
        }
    }

    #[test]
    fn init_without_flags_sends_what_docker_sends() {
        let body = init_request(&init_args(&[])).expect("valid");
        let want = r#"{"AdvertiseAddr":"","AutoLockManagers":false,"Availability":"","DataPathAddr":"","DataPathPort":0,"DefaultAddrPool":[],"ForceNewCluster":false,"ListenAddr":"0.0.0.0:2377","Spec":{"CAConfig":{},"Dispatcher":{},"EncryptionConfig":{"AutoLockManagers":false},"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,"HeartbeatTick":0},"TaskDefaults":{}},"SubnetSize":24}"#;
        assert_eq!(crate::jsonfmt::go_marshal(&body), want);
    }

    #[test]
    fn init_flags_land_in_the_spec() {
        let a = init_args(&[
            "--advertise-addr",
            "10.0.0.2",
            "--task-history-limit",
            "10",
            "--dispatcher-heartbeat",
            "1m30s",
            "--cert-expiry",
            "2160h",
            "--autolock",
            "--default-addr-pool",
            "10.20.1.5/16",
            "--default-addr-pool-mask-length",
            "26",
            "--availability",
            "Drain",
        ]);
        let body = init_request(&a).expect("valid");
        assert_eq!(body["AdvertiseAddr"], "10.0.0.2");
        assert_eq!(
            body["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"],
            10
        );
        assert_eq!(
            body["Spec"]["Dispatcher"]["HeartbeatPeriod"],
            90_000_000_000i64
        );
        assert_eq!(
            body["Spec"]["CAConfig"]["NodeCertExpiry"],
            7_776_000_000_000_000i64
        );
        assert_eq!(body["Spec"]["EncryptionConfig"]["AutoLockManagers"], true);
        assert_eq!(body["AutoLockManagers"], true);
        assert_eq!(body["DefaultAddrPool"], json!(["10.20.0.0/16"]));
        assert_eq!(body["SubnetSize"], 26);
        assert_eq!(body["Availability"], "drain");
    }

    #[test]
    fn bad_availability_and_pools_are_refused() {
        assert!(init_request(&init_args(&["--availability", "sleepy"])).is_err());
        assert!(init_request(&init_args(&["--default-addr-pool", "10.0.0.0"])).is_err());
    }

    #[test]
    fn listen_addresses_get_the_default_port() {
        assert_eq!(node_addr("0.0.0.0:2377"), "0.0.0.0:2377");
        assert_eq!(node_addr("10.0.0.1"), "10.0.0.1:2377");
        assert_eq!(node_addr(":4000"), "0.0.0.0:4000");
        assert_eq!(node_addr("eth0"), "eth0:2377");
    }
}
