//! `/info` and `/version` bodies: the host, the engine and this node's swarm membership.

use crate::daemon::Daemon;

impl Daemon {
    pub(crate) fn info_json(&self) -> serde_json::Value {
        let h = &self.host;
        let state = self.local_state();
        let mut swarm = serde_json::json!({
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": state.name(),
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        });
        if let Some(st) = self.worker_state() {
            swarm["NodeID"] = st.node_id.clone().into();
            swarm["NodeAddr"] = st
                .advertise_addr
                .rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_default()
                .into();
            let remotes: Vec<serde_json::Value> = st
                .managers
                .iter()
                .map(|a| serde_json::json!({ "NodeID": "", "Addr": a }))
                .collect();
            swarm["RemoteManagers"] = remotes.into();
        }
        let (mut services, mut tasks) = (0usize, 0usize);
        let mut warnings: Vec<String> = Vec::new();
        if let Some((st, rt)) = self.manager_runtime() {
            // As dockerd shows a node's error: in `Swarm.Error` and among the warnings.
            if let Some(full) = rt.raft.no_space() {
                let err = crate::forward::no_space_error(&self.paths.root, &full).to_string();
                warnings.push(format!("WARNING: {err}"));
                swarm["Error"] = err.into();
            }
            let adv_ip = st
                .advertise_addr
                .rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            swarm["NodeID"] = st.node_id.clone().into();
            swarm["NodeAddr"] = adv_ip.into();
            swarm["ControlAvailable"] = true.into();
            let (nodes, managers, cluster, remotes) = rt.store.view(|t| {
                services = t.services.len();
                tasks = t.tasks.len();
                let remotes: Vec<serde_json::Value> = t
                    .nodes
                    .iter()
                    .filter(|n| n.raft_id != 0)
                    .map(|n| serde_json::json!({ "NodeID": n.id, "Addr": n.manager_status.as_ref().and_then(|m| m.addr.clone()).unwrap_or_default() }))
                    .collect();
                (t.nodes.len(), t.nodes.iter().filter(|n| n.is_manager()).count(), t.cluster().cloned(), remotes)
            });
            swarm["Nodes"] = nodes.into();
            swarm["Managers"] = managers.into();
            swarm["RemoteManagers"] = remotes.into();
            if let Some(c) = cluster {
                let mut info = shoal_api::routes::swarm::swarm_json(&c);
                if let Some(obj) = info.as_object_mut() {
                    obj.remove("JoinTokens");
                }
                swarm["Cluster"] = info;
            }
        }
        serde_json::json!({
            "ID": "",
            "Containers": tasks,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": 0,
            "Driver": "shoal",
            "DriverStatus": [],
            "Plugins": { "Volume": [], "Network": ["overlay"], "Authorization": null, "Log": [] },
            "MemoryLimit": true,
            "SwapLimit": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": shoal_types::time::rfc3339(std::time::SystemTime::now()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "systemd",
            "CgroupVersion": "2",
            "NEventsListener": 0,
            "KernelVersion": h.kernel_version,
            "OperatingSystem": h.operating_system,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": h.arch,
            "IndexServerAddress": "",
            "RegistryConfig": null,
            "NCPU": h.ncpu,
            "MemTotal": h.mem_total,
            "GenericResources": null,
            "DockerRootDir": self.paths.root,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": h.hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": concat!(env!("CARGO_PKG_VERSION"), "-shoal"),
            "Runtimes": {},
            "DefaultRuntime": "runc",
            "Swarm": swarm,
            "Services": services,
            "Tasks": tasks,
            "LiveRestoreEnabled": false,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": { "ID": "" },
            "RuncCommit": { "ID": "" },
            "InitCommit": { "ID": "" },
            "SecurityOptions": [],
            "Warnings": if warnings.is_empty() { serde_json::Value::Null } else { warnings.into() },
            "EngineVersion": h.engine_version,
        })
    }

    pub(crate) fn version_json(&self) -> serde_json::Value {
        let h = &self.host;
        let version = env!("CARGO_PKG_VERSION");
        serde_json::json!({
            "Platform": { "Name": "shoal" },
            "Components": [{
                "Name": "Engine",
                "Version": version,
                "Details": {
                    "ApiVersion": shoal_api::API_VERSION,
                    "MinAPIVersion": shoal_api::MIN_API_VERSION,
                    "GitCommit": "",
                    "GoVersion": "",
                    "Os": h.os,
                    "Arch": h.arch,
                    "KernelVersion": h.kernel_version,
                    "Experimental": "false",
                    "BuildTime": "",
                    "ContainerEngine": h.engine_version,
                },
            }],
            "Version": version,
            "ApiVersion": shoal_api::API_VERSION,
            "MinAPIVersion": shoal_api::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": h.os,
            "Arch": h.arch,
            "KernelVersion": h.kernel_version,
            "BuildTime": "",
        })
    }
}
