//! `service update` flags that edit the task template: mounts, resources, restart policy and
//! healthcheck (docker/cli `cli/command/service/update.go`: `updateMounts`,
//! `updateResources`-style setters, `updateRestartPolicy`, `updateHealthcheck`).
//!
//! Each edits only what its flag names, on the spec as read from the daemon, so a spec field
//! shoal does not know survives the round trip.

use super::fields;
use crate::parse::{duration_ns, nano_cpus, ram_in_bytes};
use crate::values::{self, get};
use clap::Args;
use serde_json::{Value, json};

const CS: [&str; 2] = ["TaskTemplate", "ContainerSpec"];

#[derive(Debug, Clone, Default, Args)]
pub struct TaskFlags {
    /// Add or update a mount on a service
    #[arg(long = "mount-add")]
    pub mount_add: Vec<String>,
    /// Remove a mount by its target path
    #[arg(long = "mount-rm")]
    pub mount_rm: Vec<String>,
    /// Limit CPUs
    #[arg(long = "limit-cpu", value_parser = nano_cpus)]
    pub limit_cpu: Option<i64>,
    /// Limit Memory
    #[arg(long = "limit-memory", value_parser = ram_in_bytes)]
    pub limit_memory: Option<i64>,
    /// Limit maximum number of processes (default 0 = unlimited)
    #[arg(long = "limit-pids")]
    pub limit_pids: Option<i64>,
    /// Reserve CPUs
    #[arg(long = "reserve-cpu", value_parser = nano_cpus)]
    pub reserve_cpu: Option<i64>,
    /// Reserve Memory
    #[arg(long = "reserve-memory", value_parser = ram_in_bytes)]
    pub reserve_memory: Option<i64>,
    /// Restart when condition is met ("none", "on-failure", "any")
    #[arg(long = "restart-condition")]
    pub restart_condition: Option<String>,
    /// Delay between restart attempts (ns|us|ms|s|m|h)
    #[arg(long = "restart-delay", value_parser = duration_ns)]
    pub restart_delay: Option<i64>,
    /// Maximum number of restarts before giving up
    #[arg(long = "restart-max-attempts")]
    pub restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy (ns|us|ms|s|m|h)
    #[arg(long = "restart-window", value_parser = duration_ns)]
    pub restart_window: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval", value_parser = duration_ns)]
    pub health_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout", value_parser = duration_ns)]
    pub health_timeout: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries towards unstable
    #[arg(long = "health-start-period", value_parser = duration_ns)]
    pub health_start_period: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval", value_parser = duration_ns)]
    pub health_start_interval: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

impl TaskFlags {
    fn health_any(&self) -> bool {
        self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
            || self.health_start_interval.is_some()
    }

    fn restart_any(&self) -> bool {
        self.restart_condition.is_some()
            || self.restart_delay.is_some()
            || self.restart_max_attempts.is_some()
            || self.restart_window.is_some()
    }

    /// Whether any of these flags was given (`--rollback` refuses them).
    pub fn any(&self) -> bool {
        !self.mount_add.is_empty()
            || !self.mount_rm.is_empty()
            || self.limit_cpu.is_some()
            || self.limit_memory.is_some()
            || self.limit_pids.is_some()
            || self.reserve_cpu.is_some()
            || self.reserve_memory.is_some()
            || self.restart_any()
            || self.health_any()
            || self.no_healthcheck
    }

    /// Applies the flags to `spec` (the service spec as JSON).
    pub fn apply(&self, spec: &mut Value) -> Result<(), String> {
        self.apply_mounts(spec)?;
        let res = ["TaskTemplate", "Resources"];
        for (key, value) in [
            ("Limits", ("NanoCPUs", self.limit_cpu)),
            ("Limits", ("MemoryBytes", self.limit_memory)),
            ("Limits", ("Pids", self.limit_pids)),
            ("Reservations", ("NanoCPUs", self.reserve_cpu)),
            ("Reservations", ("MemoryBytes", self.reserve_memory)),
        ] {
            if let (field, Some(v)) = value {
                values::set(spec, &[res[0], res[1], key, field], json!(v));
            }
        }
        self.apply_restart(spec)?;
        self.apply_health(spec)
    }

    /// docker's `updateMounts`: removals by target, then additions replacing a mount with the
    /// same target.
    fn apply_mounts(&self, spec: &mut Value) -> Result<(), String> {
        if self.mount_add.is_empty() && self.mount_rm.is_empty() {
            return Ok(());
        }
        let mut mounts: Vec<Value> = get(spec, &[CS[0], CS[1], "Mounts"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let target = |m: &Value| m["Target"].as_str().unwrap_or_default().to_string();
        mounts.retain(|m| !self.mount_rm.contains(&target(m)));
        for add in &self.mount_add {
            let m = serde_json::to_value(fields::mount(add)?).map_err(|e| e.to_string())?;
            mounts.retain(|old| target(old) != target(&m));
            mounts.push(m);
        }
        values::set(spec, &[CS[0], CS[1], "Mounts"], json!(mounts));
        Ok(())
    }

    /// docker's `updateRestartPolicy`: sets the given fields on the current policy.
    fn apply_restart(&self, spec: &mut Value) -> Result<(), String> {
        if !self.restart_any() {
            return Ok(());
        }
        let policy = values::object_mut(spec, &["TaskTemplate", "RestartPolicy"]);
        if let Some(c) = &self.restart_condition {
            if !matches!(c.as_str(), "none" | "on-failure" | "any") {
                return Err(format!(
                    "invalid restart condition \"{c}\": must be one of \"none\", \"on-failure\", \"any\""
                ));
            }
            policy.insert("Condition".into(), json!(c));
        }
        if let Some(d) = self.restart_delay {
            policy.insert("Delay".into(), json!(d));
        }
        if let Some(n) = self.restart_max_attempts {
            policy.insert("MaxAttempts".into(), json!(n));
        }
        if let Some(w) = self.restart_window {
            policy.insert("Window".into(), json!(w));
        }
        Ok(())
    }

    /// docker's `updateHealthcheck`.
    fn apply_health(&self, spec: &mut Value) -> Result<(), String> {
        if !self.health_any() && !self.no_healthcheck {
            return Ok(());
        }
        if self.no_healthcheck && self.health_any() {
            return Err("--no-healthcheck conflicts with --health-* options".to_string());
        }
        let cs = values::object_mut(spec, &CS);
        // The daemon answers with the swagger name; docker's own JSON says `Healthcheck`.
        let mut hc = cs
            .remove("HealthCheck")
            .or_else(|| cs.remove("Healthcheck"))
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        if self.no_healthcheck {
            cs.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            return Ok(());
        }
        if let Some(h) = hc.as_object_mut() {
            if h.get("Test")
                .and_then(|t| t.get(0))
                .is_some_and(|t| t == "NONE")
            {
                h.remove("Test");
            }
            for (key, v) in [
                ("Interval", self.health_interval),
                ("Timeout", self.health_timeout),
                ("StartPeriod", self.health_start_period),
                ("StartInterval", self.health_start_interval),
                ("Retries", self.health_retries),
            ] {
                if let Some(v) = v {
                    h.insert(key.into(), json!(v));
                }
            }
            match self.health_cmd.as_deref() {
                Some("") => {
                    h.remove("Test");
                }
                Some(cmd) => {
                    h.insert("Test".into(), json!(["CMD-SHELL", cmd]));
                }
                None => {}
            }
        }
        cs.insert("Healthcheck".into(), hc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        f: TaskFlags,
    }

    fn flags(v: &[&str]) -> TaskFlags {
        let mut all = vec!["t"];
        all.extend_from_slice(v);
        T::try_parse_from(all).expect("valid").f
    }

    #[test]
    fn health_flags_edit_the_current_healthcheck() {
        let mut spec = json!({"TaskTemplate": {"ContainerSpec": {
            "HealthCheck": {"Test": ["CMD-SHELL", "old"], "Retries": 3}}}});
        flags(&["--health-cmd", "true", "--health-interval", "2s"])
            .apply(&mut spec)
            .expect("valid");
        assert_eq!(
            spec["TaskTemplate"]["ContainerSpec"],
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Retries": 3, "Interval": 2_000_000_000i64}})
        );
        flags(&["--no-healthcheck"])
            .apply(&mut spec)
            .expect("valid");
        assert_eq!(
            spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"],
            json!({"Test": ["NONE"]})
        );
        assert!(
            flags(&["--no-healthcheck", "--health-retries", "2"])
                .apply(&mut spec)
                .is_err()
        );
    }

    #[test]
    fn mounts_resources_and_restart_policy_change_field_by_field() {
        let mut spec = json!({"TaskTemplate": {
            "ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "a", "Target": "/a"},
                                         {"Type": "volume", "Source": "b", "Target": "/b"}]},
            "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000i64},
            "Resources": {"Limits": {"MemoryBytes": 1}}}});
        flags(&[
            "--mount-rm",
            "/a",
            "--mount-add",
            "type=volume,source=c,target=/b",
            "--limit-cpu",
            "0.5",
            "--reserve-memory",
            "64M",
            "--restart-condition",
            "on-failure",
            "--restart-max-attempts",
            "3",
        ])
        .apply(&mut spec)
        .expect("valid");
        let t = &spec["TaskTemplate"];
        let mounts = t["ContainerSpec"]["Mounts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            (&mounts[0]["Source"], &mounts[0]["Target"]),
            (&json!("c"), &json!("/b"))
        );
        assert_eq!(
            t["Resources"],
            json!({"Limits": {"MemoryBytes": 1, "NanoCPUs": 500_000_000},
                   "Reservations": {"MemoryBytes": 64 << 20}})
        );
        assert_eq!(
            t["RestartPolicy"],
            json!({"Condition": "on-failure", "Delay": 5_000_000_000i64, "MaxAttempts": 3})
        );
        assert!(
            flags(&["--restart-condition", "never"])
                .apply(&mut spec)
                .is_err()
        );
    }
}
