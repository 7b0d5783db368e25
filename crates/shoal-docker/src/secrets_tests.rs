use super::*;
use base64::Engine as _;
use shoal_types::api::{
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets,
};
use shoal_types::{Config, Secret};

fn secret_ref(id: &str, target: &str, mode: u32) -> TaskSpecContainerSpecSecrets {
    TaskSpecContainerSpecSecrets {
        file: Some(TaskSpecContainerSpecFile {
            name: Some(target.into()),
            uid: Some("0".into()),
            gid: Some("0".into()),
            mode: Some(mode),
        }),
        secret_id: Some(id.into()),
        secret_name: Some("db".into()),
    }
}

fn store() -> SecretStore {
    let enc = |d: &[u8]| Some(base64::engine::general_purpose::STANDARD.encode(d));
    let mut s = Secret {
        id: "s1".into(),
        ..Default::default()
    };
    s.spec.data = enc(b"PAY\0LOAD");
    let mut c = Config {
        id: "c1".into(),
        ..Default::default()
    };
    c.spec.data = enc(b"conf");
    let store = SecretStore::new();
    store.replace(&[s], &[c]);
    store
}

fn task(
    secrets: Vec<TaskSpecContainerSpecSecrets>,
    configs: Vec<TaskSpecContainerSpecConfigs>,
) -> Task {
    let mut t = Task::default();
    t.spec.container_spec = Some(TaskSpecContainerSpec {
        secrets: Some(secrets),
        configs: Some(configs),
        ..Default::default()
    });
    t
}

#[test]
fn relative_targets_share_one_bind_on_run_secrets() {
    let t = task(
        vec![
            secret_ref("s1", "db", 0o444),
            secret_ref("s1", "alias", 0o400),
        ],
        vec![],
    );
    let p = plan(&t, &store(), Path::new("/b/t")).unwrap();
    assert_eq!(p.mounts.len(), 1);
    assert_eq!(p.mounts[0].target.as_deref(), Some("/run/secrets"));
    assert_eq!(
        p.mounts[0].source.as_deref(),
        Some("/b/t/secrets/run-secrets")
    );
    // read-only through the tmpfs (see `bind`), so the bind keeps nosuid,nodev,noexec
    assert_eq!(p.mounts[0].read_only, Some(false));
    assert_eq!(p.files[1].rel, PathBuf::from("secrets/run-secrets/alias"));
    assert_eq!(p.files[1].mode, 0o400);
    assert_eq!(&p.files[1].data[..], b"PAY\0LOAD");
}

#[test]
fn configs_and_absolute_secret_targets_get_one_bind_each() {
    let conf = TaskSpecContainerSpecConfigs {
        file: Some(TaskSpecContainerSpecFile1 {
            name: Some("app.conf".into()),
            ..Default::default()
        }),
        config_id: Some("c1".into()),
        config_name: Some("app".into()),
        runtime: None,
    };
    let t = task(vec![secret_ref("s1", "/etc/db", 0o444)], vec![conf]);
    let p = plan(&t, &store(), Path::new("/b/t")).unwrap();
    let targets: Vec<_> = p.mounts.iter().map(|m| m.target.clone().unwrap()).collect();
    assert_eq!(targets, ["/etc/db", "/app.conf"]);
    assert_eq!(p.files[1].mode, DEFAULT_MODE);
}

#[test]
fn escaping_targets_and_unsent_secrets_reject_the_task() {
    let t = task(vec![secret_ref("s1", "../x", 0o444)], vec![]);
    assert!(
        plan(&t, &store(), Path::new("/b/t"))
            .unwrap_err()
            .is_rejection()
    );
    let t = task(vec![secret_ref("other", "db", 0o444)], vec![]);
    assert!(
        plan(&t, &store(), Path::new("/b/t"))
            .unwrap_err()
            .is_rejection()
    );
}

#[test]
fn setuid_setgid_and_sticky_bits_are_dropped_from_file_modes() {
    let conf = TaskSpecContainerSpecConfigs {
        file: Some(TaskSpecContainerSpecFile1 {
            name: Some("/app.conf".into()),
            mode: Some(0o7775),
            ..Default::default()
        }),
        config_id: Some("c1".into()),
        config_name: Some("app".into()),
        runtime: None,
    };
    let t = task(vec![secret_ref("s1", "db", 0o4755)], vec![conf]);
    let p = plan(&t, &store(), Path::new("/b/t")).unwrap();
    let modes: Vec<u32> = p.files.iter().map(|f| f.mode).collect();
    assert_eq!(modes, [0o755, 0o775]);
}
