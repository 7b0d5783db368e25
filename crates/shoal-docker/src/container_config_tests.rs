#![allow(clippy::unwrap_used)]

use super::*;
use bollard::models::{
    Limit, Mount, MountTmpfsOptions, MountType, ResourceObject, TaskSpecResources,
};
use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};
use shoal_types::{NodeId, ServiceId, TaskId};

fn task(spec: TaskSpecContainerSpec) -> Task {
    let mut t = Task {
        id: TaskId::from("tid"),
        service_id: ServiceId::from("sid"),
        node_id: NodeId::from("nid"),
        slot: 2,
        spec: TaskSpec {
            container_spec: Some(spec),
            ..Default::default()
        },
        ..Default::default()
    };
    t.service_annotations.name = "web".into();
    t
}

fn image(i: &str) -> TaskSpecContainerSpec {
    TaskSpecContainerSpec {
        image: Some(i.into()),
        ..Default::default()
    }
}

fn node() -> NodeFacts {
    NodeFacts {
        hostname: "host1".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
    }
}

#[test]
fn swarm_labels_name_the_task_and_override_spec_labels() {
    let mut spec = image("busybox");
    spec.labels = Some(HashMap::from([
        ("mine".to_string(), "1".to_string()),
        (LABEL_TASK_ID.to_string(), "forged".to_string()),
    ]));
    let body = container_config(&task(spec), &node()).unwrap();
    let labels = body.labels.unwrap();
    assert_eq!(labels["mine"], "1");
    assert_eq!(labels[LABEL_TASK_ID], "tid");
    assert_eq!(labels[LABEL_TASK_NAME], "web.2.tid");
    assert_eq!(labels[LABEL_NODE_ID], "nid");
    assert_eq!(labels[LABEL_SERVICE_ID], "sid");
    assert_eq!(labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(labels[LABEL_TASK], "");
}

#[test]
fn command_replaces_the_entrypoint_and_args_alone_replace_cmd() {
    let mut spec = image("busybox");
    spec.command = Some(vec!["sh".into(), "-c".into()]);
    spec.args = Some(vec!["echo hi".into()]);
    let body = container_config(&task(spec.clone()), &node()).unwrap();
    assert_eq!(body.entrypoint.unwrap(), vec!["sh", "-c"]);
    assert_eq!(body.cmd.unwrap(), vec!["echo hi"]);

    spec.command = None;
    let body = container_config(&task(spec), &node()).unwrap();
    assert_eq!(body.entrypoint, None);
    assert_eq!(body.cmd.unwrap(), vec!["echo hi"]);
}

#[test]
fn hostname_env_and_mounts_are_templated() {
    let mut spec = image("busybox");
    spec.hostname = Some("{{.Service.Name}}-{{.Task.Slot}}".into());
    spec.env = Some(vec!["NODE={{.Node.Hostname}}".into()]);
    spec.mounts = Some(vec![Mount {
        typ: Some(MountType::VOLUME),
        source: Some("data-{{.Task.Slot}}".into()),
        target: Some("/data".into()),
        ..Default::default()
    }]);
    let body = container_config(&task(spec), &node()).unwrap();
    assert_eq!(body.hostname.as_deref(), Some("web-2"));
    assert_eq!(body.env.unwrap(), vec!["NODE=host1"]);
    let mounts = body.host_config.unwrap().mounts.unwrap();
    assert_eq!(mounts[0].source.as_deref(), Some("data-2"));
}

#[test]
fn a_bad_template_or_a_missing_image_rejects() {
    let mut spec = image("busybox");
    spec.hostname = Some("{{.Nope}}".into());
    assert!(
        container_config(&task(spec), &node())
            .unwrap_err()
            .is_rejection()
    );
    assert!(
        container_config(&task(TaskSpecContainerSpec::default()), &node())
            .unwrap_err()
            .is_rejection()
    );
}

#[test]
fn limits_stop_settings_and_host_options_are_carried() {
    let mut spec = image("busybox");
    spec.stop_signal = Some("SIGINT".into());
    spec.stop_grace_period = Some(3_000_000_000);
    spec.init = Some(true);
    spec.read_only = Some(true);
    spec.hosts = Some(vec!["10.0.0.1 db database".into()]);
    spec.dir = Some("/work".into());
    spec.user = Some("nobody".into());
    spec.mounts = Some(vec![Mount {
        typ: Some(MountType::TMPFS),
        target: Some("/scratch".into()),
        tmpfs_options: Some(MountTmpfsOptions {
            size_bytes: Some(1 << 20),
            mode: Some(0o1777),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let mut t = task(spec);
    t.spec.resources = Some(TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: Some(500_000_000),
            memory_bytes: Some(64 << 20),
            pids: None,
        }),
        reservations: Some(ResourceObject {
            memory_bytes: Some(32 << 20),
            ..Default::default()
        }),
        ..Default::default()
    });
    let body = container_config(&t, &node()).unwrap();
    assert_eq!(
        (body.stop_signal.as_deref(), body.stop_timeout),
        (Some("SIGINT"), Some(3))
    );
    assert_eq!(
        (body.working_dir.as_deref(), body.user.as_deref()),
        (Some("/work"), Some("nobody"))
    );
    let hc = body.host_config.unwrap();
    assert_eq!(
        (hc.nano_cpus, hc.memory, hc.memory_reservation),
        (Some(500_000_000), Some(64 << 20), Some(32 << 20))
    );
    assert_eq!((hc.init, hc.readonly_rootfs), (Some(true), Some(true)));
    assert_eq!(
        hc.extra_hosts.unwrap(),
        vec!["db:10.0.0.1", "database:10.0.0.1"]
    );
    assert_eq!(
        hc.restart_policy.unwrap().name,
        Some(RestartPolicyNameEnum::NO)
    );
    assert_eq!(
        hc.mounts.unwrap()[0]
            .tmpfs_options
            .as_ref()
            .unwrap()
            .size_bytes,
        Some(1 << 20)
    );
}

#[test]
fn the_default_stop_timeout_is_ten_seconds() {
    let body = container_config(&task(image("busybox")), &node()).unwrap();
    assert_eq!(body.stop_timeout, Some(10));
}
