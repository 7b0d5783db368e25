//! The pure decisions of `stack deploy`, after docker/cli `deploy_composefile.go`: which
//! services to prune, secret and config ids in service specs, what an update sends, and how
//! a registry answer pins an image.

use super::ResolveImage;
use serde_json::Value;
use shoal_stack::{LABEL_IMAGE, LABEL_NAMESPACE};
use shoal_types::api::{Platform, ServiceSpec, TaskSpecPlacement};
use std::collections::{BTreeSet, HashMap};

use crate::values::{get, str_at};

/// The existing services of the stack that the files no longer name (for `--prune`).
pub fn stale_services<'a>(existing: &'a [Value], wanted: &BTreeSet<String>) -> Vec<&'a Value> {
    existing
        .iter()
        .filter(|s| !wanted.contains(str_at(s, &["Spec", "Name"])))
        .collect()
}

/// Fills `SecretID`/`ConfigID` of `spec` from name → id maps; docker's `ParseSecrets`
/// error for a name that does not exist.
pub fn set_reference_ids(
    spec: &mut ServiceSpec,
    secrets: &HashMap<String, String>,
    configs: &HashMap<String, String>,
) -> Result<(), String> {
    let Some(cs) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    else {
        return Ok(());
    };
    for s in cs.secrets.iter_mut().flatten() {
        let name = s.secret_name.clone().unwrap_or_default();
        let id = secrets
            .get(&name)
            .ok_or_else(|| format!("secret not found: {name}"))?;
        s.secret_id = Some(id.clone());
    }
    for c in cs.configs.iter_mut().flatten() {
        let name = c.config_name.clone().unwrap_or_default();
        let id = configs
            .get(&name)
            .ok_or_else(|| format!("config not found: {name}"))?;
        c.config_id = Some(id.clone());
    }
    Ok(())
}

/// Names of all secrets (or configs) the specs refer to.
pub fn referenced(specs: &[(String, ServiceSpec)], configs: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, spec) in specs {
        let Some(cs) = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
        else {
            continue;
        };
        if configs {
            out.extend(
                cs.configs
                    .iter()
                    .flatten()
                    .filter_map(|c| c.config_name.clone()),
            );
        } else {
            out.extend(
                cs.secrets
                    .iter()
                    .flatten()
                    .filter_map(|s| s.secret_name.clone()),
            );
        }
    }
    out
}

fn image_of(spec: &ServiceSpec) -> String {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn set_image(spec: &mut ServiceSpec, image: String) {
    let cs = spec
        .task_template
        .get_or_insert_with(Default::default)
        .container_spec
        .get_or_insert_with(Default::default);
    cs.image = Some(image);
}

/// The image reference with `:latest` added when it names neither a tag nor a digest, as the
/// Docker client does on every service create and update (so `busybox` is sent as
/// `busybox:latest`, also with `--resolve-image never`).
pub fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.is_empty() || image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Applies [`with_default_tag`] to the image of `spec`.
pub fn tag_image(spec: &mut ServiceSpec) {
    let image = image_of(spec);
    let tagged = with_default_tag(&image);
    if tagged != image {
        set_image(spec, tagged);
    }
}

/// What to send to update `existing` to `spec`, and whether to ask the registry for the
/// image digest first. As docker: an unchanged image (the `com.docker.stack.image` label
/// equals the compose image) keeps the pinned image of the last deploy unless
/// `--resolve-image=always`; `ForceUpdate` is copied so no restart is forced.
pub fn prepare_update(
    mut spec: ServiceSpec,
    existing: &Value,
    resolve: ResolveImage,
) -> (ServiceSpec, bool) {
    let image = image_of(&spec);
    let label = str_at(existing, &["Spec", "Labels", LABEL_IMAGE]);
    let current = str_at(
        existing,
        &["Spec", "TaskTemplate", "ContainerSpec", "Image"],
    );
    let query = match resolve {
        ResolveImage::Always => true,
        ResolveImage::Changed | ResolveImage::Never => {
            if image == label {
                set_image(&mut spec, current.to_string());
                false
            } else {
                resolve == ResolveImage::Changed
            }
        }
    };
    let force = get(existing, &["Spec", "TaskTemplate", "ForceUpdate"]).and_then(Value::as_u64);
    spec.task_template
        .get_or_insert_with(Default::default)
        .force_update = force;
    (spec, query)
}

/// docker's `resolveContainerSpecImage` with a `GET /distribution` answer: the image pinned
/// to the digest (an already pinned reference is kept) and the platforms as placement.
pub fn pin_image(spec: &mut ServiceSpec, distribution: &Value) -> bool {
    let digest = str_at(distribution, &["Descriptor", "digest"]);
    if digest.is_empty() {
        return false;
    }
    let image = image_of(spec);
    if !image.contains('@') {
        set_image(spec, format!("{image}@{digest}"));
    }
    let platforms: Vec<Platform> = distribution
        .get("Platforms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let arch = str_at(p, &["architecture"]);
            let arch = if arch.eq_ignore_ascii_case("arm") {
                ""
            } else {
                arch
            };
            Platform {
                architecture: (!arch.is_empty()).then(|| arch.to_string()),
                os: Some(str_at(p, &["os"]).to_string()).filter(|s| !s.is_empty()),
            }
        })
        .collect();
    if !platforms.is_empty()
        && let Some(tt) = spec.task_template.as_mut()
    {
        tt.placement
            .get_or_insert_with(TaskSpecPlacement::default)
            .platforms = Some(platforms);
    }
    true
}

/// The namespace of a service (for `stack ls`), if labelled.
pub fn namespace_of(service: &Value) -> Option<&str> {
    get(service, &["Spec", "Labels", LABEL_NAMESPACE]).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_untagged_image_is_sent_as_latest_like_the_docker_client_sends_it() {
        use super::with_default_tag as t;
        assert_eq!(t("busybox"), "busybox:latest");
        assert_eq!(t("busybox:1.36"), "busybox:1.36");
        assert_eq!(t("registry:5000/team/app"), "registry:5000/team/app:latest");
        assert_eq!(t("registry:5000/team/app:2"), "registry:5000/team/app:2");
        assert_eq!(t("busybox@sha256:abc"), "busybox@sha256:abc");
        assert_eq!(t(""), "");
    }

    use super::*;
    use serde_json::json;
    use shoal_types::api::{TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecSecrets};

    fn spec(image: &str) -> ServiceSpec {
        ServiceSpec {
            name: Some("app_web".into()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.into()),
                    secrets: Some(vec![TaskSpecContainerSpecSecrets {
                        secret_name: Some("app_pass".into()),
                        secret_id: Some(String::new()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn existing(label: &str, image: &str, force: Option<u64>) -> Value {
        let mut tt = json!({"ContainerSpec": {"Image": image}});
        if let Some(f) = force {
            tt["ForceUpdate"] = json!(f);
        }
        json!({"ID": "s1", "Version": {"Index": 7},
               "Spec": {"Name": "app_web", "Labels": {LABEL_IMAGE: label}, "TaskTemplate": tt}})
    }

    #[test]
    fn an_unchanged_image_keeps_the_pinned_one_unless_always() {
        let pinned = "busybox:latest@sha256:aa";
        let ex = existing("busybox:latest", pinned, Some(2));
        let (s, query) = prepare_update(spec("busybox:latest"), &ex, ResolveImage::Changed);
        assert!(!query);
        assert_eq!(image_of(&s), pinned);
        assert_eq!(
            s.task_template.as_ref().and_then(|t| t.force_update),
            Some(2)
        );
        let (s, query) = prepare_update(spec("busybox:latest"), &ex, ResolveImage::Never);
        assert!(!query);
        assert_eq!(image_of(&s), pinned);
        let (s, query) = prepare_update(spec("busybox:latest"), &ex, ResolveImage::Always);
        assert!(query);
        assert_eq!(image_of(&s), "busybox:latest");
        let (s, query) = prepare_update(spec("busybox:1.36"), &ex, ResolveImage::Changed);
        assert!(query);
        assert_eq!(image_of(&s), "busybox:1.36");
        let (_, query) = prepare_update(spec("busybox:1.36"), &ex, ResolveImage::Never);
        assert!(!query);
        // No ForceUpdate on the service: none is sent (Some(0) would differ from the spec).
        let ex = existing("busybox:latest", pinned, None);
        let (s, _) = prepare_update(spec("busybox:latest"), &ex, ResolveImage::Always);
        assert_eq!(s.task_template.as_ref().and_then(|t| t.force_update), None);
    }

    #[test]
    fn distribution_answers_pin_the_image_and_set_platforms() {
        let mut s = spec("busybox:latest");
        let d = json!({"Descriptor": {"digest": "sha256:bb"},
                       "Platforms": [{"architecture": "amd64", "os": "linux"}]});
        assert!(pin_image(&mut s, &d));
        assert_eq!(image_of(&s), "busybox:latest@sha256:bb");
        let platforms = s
            .task_template
            .as_ref()
            .and_then(|t| t.placement.as_ref())
            .and_then(|p| p.platforms.clone())
            .unwrap_or_default();
        assert_eq!(platforms.len(), 1);
        assert_eq!(platforms[0].architecture.as_deref(), Some("amd64"));
        assert!(!pin_image(&mut spec("x"), &json!({})));
    }

    #[test]
    fn reference_ids_come_from_the_name_maps() {
        let mut s = spec("x");
        let secrets: HashMap<String, String> = [("app_pass".to_string(), "id1".to_string())].into();
        set_reference_ids(&mut s, &secrets, &HashMap::new()).expect("found");
        let refs = s
            .task_template
            .and_then(|t| t.container_spec)
            .and_then(|c| c.secrets)
            .unwrap_or_default();
        assert_eq!(refs[0].secret_id.as_deref(), Some("id1"));
        let mut s = spec("x");
        assert_eq!(
            set_reference_ids(&mut s, &HashMap::new(), &HashMap::new()).unwrap_err(),
            "secret not found: app_pass"
        );
        assert_eq!(
            referenced(&[("app_web".into(), spec("x"))], false),
            ["app_pass".to_string()].into()
        );
    }

    #[test]
    fn prune_keeps_only_services_still_in_the_files() {
        let ex = vec![
            json!({"Spec": {"Name": "app_web"}}),
            json!({"Spec": {"Name": "app_old"}}),
        ];
        let wanted: BTreeSet<String> = ["app_web".to_string()].into();
        let stale = stale_services(&ex, &wanted);
        assert_eq!(stale.len(), 1);
        assert_eq!(str_at(stale[0], &["Spec", "Name"]), "app_old");
        assert_eq!(
            namespace_of(&json!({"Spec": {"Labels": {LABEL_NAMESPACE: "app"}}})),
            Some("app")
        );
    }
}
