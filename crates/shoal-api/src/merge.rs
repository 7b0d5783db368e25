//! Where Docker merges the engine's answer with the swarm's, as a manager's dockerd does:
//! `/info` is the engine's with the swarm section, `/version` the engine's with shoal as a
//! component, `GET /networks` the engine's local networks beside the swarm's. Pure functions
//! over the two JSON answers; the routes fetch them.

use serde_json::{Value, json};

/// Label on the engine bridge networks shoal makes to carry overlay networks on a node: they
/// are the swarm network's local plumbing, listed once as the swarm network.
pub const NETWORK_ID_LABEL: &str = shoal_types::network::ENGINE_NETWORK_LABEL;

/// The engine's `/info` with shoal's `Swarm` section (membership, cluster, managers).
pub fn info(mut engine: Value, shoal: &Value) -> Value {
    if let Some(obj) = engine.as_object_mut() {
        obj.insert("Swarm".into(), shoal["Swarm"].clone());
    }
    engine
}

/// The engine's `/version` with a `shoal` component. The top-level API versions stay shoal's:
/// they are what this socket serves (its `/_ping` says so), and the passthrough lowers a newer
/// request to what the engine speaks.
pub fn version(mut engine: Value, shoal: &Value) -> Value {
    let component = json!({
        "Name": "shoal",
        "Version": shoal["Version"],
        "Details": {
            "ApiVersion": shoal["ApiVersion"],
            "MinAPIVersion": shoal["MinAPIVersion"],
            "GitCommit": shoal["GitCommit"],
        },
    });
    if let Some(obj) = engine.as_object_mut() {
        match obj.get_mut("Components").and_then(Value::as_array_mut) {
            Some(list) => list.push(component),
            None => {
                obj.insert("Components".into(), json!([component]));
            }
        }
        obj.insert("ApiVersion".into(), shoal["ApiVersion"].clone());
        obj.insert("MinAPIVersion".into(), shoal["MinAPIVersion"].clone());
    }
    engine
}

/// The engine's networks without shoal's overlay plumbing, then the swarm's.
pub fn networks(engine: Value, swarm: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = match engine {
        Value::Array(list) => list
            .into_iter()
            .filter(|n| n["Labels"].get(NETWORK_ID_LABEL).is_none())
            .collect(),
        _ => Vec::new(),
    };
    out.extend(swarm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_the_engines_with_the_swarm_section() {
        let engine = json!({"Containers": 3, "ServerVersion": "20.10.24", "Swarm": {"LocalNodeState": "inactive"}});
        let shoal = json!({"Containers": 0, "Swarm": {"LocalNodeState": "active", "NodeID": "n1"}});
        let v = info(engine, &shoal);
        assert_eq!(v["Containers"], 3);
        assert_eq!(v["ServerVersion"], "20.10.24");
        assert_eq!(v["Swarm"]["LocalNodeState"], "active");
        assert_eq!(v["Swarm"]["NodeID"], "n1");
    }

    #[test]
    fn version_adds_shoal_as_a_component_and_keeps_the_engines() {
        let engine = json!({
            "Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
            "Components": [{"Name": "Engine", "Version": "20.10.24"}],
        });
        let shoal = json!({"Version": "0.1.0", "ApiVersion": "1.44", "MinAPIVersion": "1.24"});
        let v = version(engine, &shoal);
        assert_eq!(v["Version"], "20.10.24");
        assert_eq!(v["ApiVersion"], "1.44");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(v["Components"][0]["Name"], "Engine");
        assert_eq!(v["Components"][1]["Name"], "shoal");
        assert_eq!(v["Components"][1]["Version"], "0.1.0");
        assert_eq!(v["Components"][1]["Details"]["ApiVersion"], "1.44");
    }

    #[test]
    fn networks_list_local_ones_but_not_shoals_bridges_then_the_swarms() {
        let engine = json!([
            {"Name": "bridge", "Scope": "local", "Labels": {}},
            {"Name": "shoal-1234", "Scope": "local", "Labels": {NETWORK_ID_LABEL: "abc"}},
            {"Name": "mine", "Scope": "local", "Labels": null},
        ]);
        let swarm = vec![json!({"Name": "ingress", "Scope": "swarm"})];
        let names: Vec<Value> = networks(engine, swarm)
            .into_iter()
            .map(|n| n["Name"].clone())
            .collect();
        assert_eq!(names, [json!("bridge"), json!("mine"), json!("ingress")]);
    }
}
