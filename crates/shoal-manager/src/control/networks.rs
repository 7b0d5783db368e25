//! Networks: create (checked here, allocated by the leader's allocator), list, resolve,
//! remove; and the resolution of network names in service specs.
//!
//! Only the objects live here; the overlay data plane is `shoal-net`'s. Every network is
//! swarm-scoped and uses the `overlay` driver (Docker's default for networks created on a
//! manager with `--scope swarm` or by `stack deploy`).

use super::lookup::resolve;
use super::{Control, ControlError};
use crate::allocator::ipam::allocate_ipam;
use crate::allocator::state::{default_pools, is_allocated, needs_ingress, subnets_in_use};
use crate::dispatcher::assignments::network_view;
use shoal_store::{StoreError, StoreHandle};
use shoal_types::api::{NetworkAttachmentConfig, NetworkCreateRequest, ServiceSpec};
use shoal_types::dispatch::NodeNetwork;
use shoal_types::{Kind, Network, NetworkSpec, NodeId, Object, new_id};
use std::collections::BTreeMap;
use std::time::Duration;

/// The only network driver shoal creates.
pub const OVERLAY: &str = "overlay";
/// Docker reports an overlay network's VNI under this driver option.
pub const VXLANID_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";

/// How long `network create` waits for the allocator before answering.
pub const ALLOCATION_WAIT: Duration = Duration::from_secs(2);
const ALLOCATION_POLL: Duration = Duration::from_millis(10);

fn invalid(msg: impl std::fmt::Display) -> ControlError {
    ControlError::Invalid(format!("rpc error: code = InvalidArgument desc = {msg}"))
}

/// Checks a create request and turns it into a spec (no allocation yet).
pub fn network_spec(req: NetworkCreateRequest) -> Result<NetworkSpec, ControlError> {
    if req.name.is_empty() {
        return Err(invalid("meta: name must be provided"));
    }
    let driver = req
        .driver
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| OVERLAY.into());
    if driver != OVERLAY {
        return Err(ControlError::Invalid(format!(
            "network driver \"{driver}\" is not supported: shoal creates swarm-scoped \"{OVERLAY}\" networks only"
        )));
    }
    if let Some(scope) = req.scope.as_deref()
        && !matches!(scope, "" | "swarm")
    {
        return Err(ControlError::Invalid(format!(
            "scope \"{scope}\" is not supported: shoal networks are swarm-scoped"
        )));
    }
    if req.config_only == Some(true)
        || req
            .config_from
            .is_some_and(|c| c.network.as_deref().is_some_and(|n| !n.is_empty()))
    {
        return Err(ControlError::Invalid(
            "config-only networks are not supported".into(),
        ));
    }
    Ok(NetworkSpec {
        name: req.name,
        labels: req.labels.unwrap_or_default(),
        driver,
        options: req.options.unwrap_or_default(),
        ipam: req.ipam,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        ingress: req.ingress.unwrap_or(false),
        enable_ipv6: req.enable_ipv6.unwrap_or(false),
    })
}

/// Whether `spec` attaches to network `id` (or names it, for specs stored before names
/// were resolved).
fn attaches_to(spec: &ServiceSpec, net: &Network) -> bool {
    spec.task_template
        .as_ref()
        .and_then(|t| t.networks.as_ref())
        .into_iter()
        .flatten()
        .chain(spec.networks.iter().flatten())
        .any(|a| {
            a.target
                .as_deref()
                .is_some_and(|t| t == net.id || t == net.spec.name)
        })
}

/// Waits up to [`ALLOCATION_WAIT`] for the leader's allocator to fill network `id` (every
/// network with `None`), so an `inspect` right after a create or a `swarm init` shows its
/// subnet and VNI. Returns whether they are allocated (a network removed meanwhile counts).
pub async fn wait_allocated(store: &StoreHandle, id: Option<&str>) -> bool {
    let deadline = tokio::time::Instant::now() + ALLOCATION_WAIT;
    loop {
        let done = store.view(|t| match id {
            Some(id) => t.networks.get(id).is_none_or(is_allocated),
            None => t.networks.iter().all(is_allocated),
        });
        if done || tokio::time::Instant::now() >= deadline {
            return done;
        }
        tokio::time::sleep(ALLOCATION_POLL).await;
    }
}

impl Control {
    pub fn networks(&self) -> Vec<Network> {
        self.store.view(|t| t.networks.iter().cloned().collect())
    }

    /// `{id}` of `/networks/{id}`: full id, exact name, then unique id prefix.
    pub fn resolve_network(&self, input: &str) -> Result<Network, ControlError> {
        self.store.view(|t| {
            resolve(
                t.networks.iter(),
                input,
                "network",
                |n| n.id.as_str(),
                |n| Some(n.spec.name.as_str()),
            )
            .cloned()
        })
    }

    /// Who is on `net` now, as every member node is sent it (`network inspect` shows it as
    /// `Peers` and, verbose, `Services`): its endpoints, the nodes that have it up and its
    /// services, plus each of those nodes' names.
    pub fn network_members(&self, net: &Network) -> (NodeNetwork, BTreeMap<NodeId, String>) {
        self.store.view(|t| {
            let view = network_view(t, net);
            let names = view
                .nodes
                .iter()
                .filter_map(|n| {
                    let node = t.nodes.get(n.node_id.as_str())?;
                    Some((n.node_id.clone(), node.display_name().to_string()))
                })
                .collect();
            (view, names)
        })
    }

    /// Names of the services attached to `net` (for the ingress network: those publishing
    /// a port in ingress mode), sorted (for `dangling` and removal).
    pub fn network_users(&self, net: &Network) -> Vec<(String, String)> {
        let mut users: Vec<(String, String)> = self.store.view(|t| {
            t.services
                .iter()
                .filter(|s| {
                    attaches_to(&s.spec, net) || (net.is_ingress() && needs_ingress(&s.spec))
                })
                .map(|s| (s.id.to_string(), s.name().to_string()))
                .collect()
        });
        users.sort();
        users
    }

    /// `POST /networks/create`: checks the request as the allocator will (so a bad subnet,
    /// gateway or IP range, or one overlapping another network, is refused at once), stores
    /// the spec, then waits up to [`ALLOCATION_WAIT`] for the leader's allocator to fill the
    /// subnet and VNI so an `inspect` right after shows them. Returns the new id.
    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<String, ControlError> {
        let spec = network_spec(req)?;
        let name = spec.name.clone();
        let name_taken =
            || ControlError::Conflict(format!("network with name {name} already exists"));
        let (pools, size, used, taken, ingress) = self.store.view(|t| {
            let (pools, size) = default_pools(t.cluster());
            let used = subnets_in_use(t.networks.iter(), "");
            let taken = t.networks.name_owner(&spec.name).is_some();
            let ingress = t
                .networks
                .iter()
                .find(|n| n.spec.ingress)
                .map(|n| n.id.clone());
            (pools, size, used, taken, ingress)
        });
        if taken {
            return Err(name_taken());
        }
        if spec.ingress
            && let Some(id) = ingress
        {
            return Err(ControlError::Conflict(format!(
                "rpc error: code = AlreadyExists desc = ingress network ({id}) is already present"
            )));
        }
        allocate_ipam(spec.ipam.as_ref(), &pools, size, &used)
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let id = new_id(&mut rand::rng());
        let network = Network {
            id: id.clone(),
            spec,
            ..Network::default()
        };
        match self
            .store
            .update(|tx| tx.create(Object::Network(network)))
            .await
        {
            Ok(_) => {}
            Err(StoreError::NameConflict { .. }) => return Err(name_taken()),
            Err(e) => return Err(e.into()),
        }
        wait_allocated(&self.store, Some(&id)).await;
        Ok(id)
    }

    /// `DELETE /networks/{id}`: refused while a service or a container's attachment uses the
    /// network (swarmkit's FailedPrecondition, a 400), and for the ingress network while a service publishes a
    /// port in ingress mode.
    pub async fn remove_network(&self, input: &str) -> Result<(), ControlError> {
        let net = self.resolve_network(input)?;
        if net.is_ingress()
            && let Some(svc) = self.store.view(|t| {
                t.services
                    .iter()
                    .find(|s| needs_ingress(&s.spec))
                    .map(|s| s.id.clone())
            })
        {
            return Err(ControlError::Invalid(format!(
                "rpc error: code = FailedPrecondition desc = ingress network cannot be removed because service {svc} depends on it"
            )));
        }
        if let Some((svc, _)) = self.network_users(&net).into_iter().next() {
            return Err(ControlError::Invalid(format!(
                "rpc error: code = FailedPrecondition desc = network {} is in use by service {svc}",
                net.id
            )));
        }
        if let Some(task) = self.store.view(|t| {
            t.tasks
                .find("network", &net.id)
                .into_iter()
                .find(|t| t.is_attachment())
                .map(|t| t.id.clone())
        }) {
            return Err(ControlError::Invalid(format!(
                "rpc error: code = FailedPrecondition desc = network {} is in use by task {task}",
                net.id
            )));
        }
        let id = net.id.clone();
        self.store
            .update(move |tx| tx.delete(Kind::Network, &id))
            .await?;
        Ok(())
    }

    /// Replaces network names in `spec`'s attachments with ids (moby resolves them before
    /// handing the spec to swarmkit): full id, exact name, then unique id prefix.
    pub fn resolve_spec_networks(&self, spec: &mut ServiceSpec) -> Result<(), ControlError> {
        let Some(attachments) = spec
            .task_template
            .as_mut()
            .and_then(|t| t.networks.as_mut())
        else {
            return Ok(());
        };
        let nets = self.networks();
        resolve_attachments(attachments, &nets)
    }
}

/// The pure half of [`Control::resolve_spec_networks`].
pub fn resolve_attachments(
    attachments: &mut [NetworkAttachmentConfig],
    nets: &[Network],
) -> Result<(), ControlError> {
    for a in attachments.iter_mut() {
        let target = a.target.clone().unwrap_or_default();
        let found = resolve(
            nets.iter(),
            &target,
            "network",
            |n| n.id.as_str(),
            |n| Some(n.spec.name.as_str()),
        )
        .map_err(|e| match e {
            // moby reports an unknown network in a service spec as a plain error.
            ControlError::NotFound(m) => ControlError::Invalid(m),
            other => other,
        })?;
        if found.spec.ingress {
            // moby's check, before the spec reaches swarmkit.
            return Err(ControlError::Invalid(format!(
                "Service cannot be explicitly attached to the ingress network \"{}\"",
                found.spec.name
            )));
        }
        a.target = Some(found.id.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::TaskSpec;

    fn net(id: &str, name: &str) -> Network {
        Network {
            id: id.into(),
            spec: NetworkSpec {
                name: name.into(),
                ..NetworkSpec::default()
            },
            ..Network::default()
        }
    }

    fn attach(target: &str) -> NetworkAttachmentConfig {
        NetworkAttachmentConfig {
            target: Some(target.into()),
            aliases: Some(vec!["web".into()]),
            driver_opts: None,
        }
    }

    #[test]
    fn attachment_targets_resolve_by_id_name_then_prefix() {
        let nets = [net("abc123", "app_default"), net("abd456", "front")];
        let mut a = vec![attach("app_default"), attach("abd"), attach("abc123")];
        resolve_attachments(&mut a, &nets).expect("resolves");
        let targets: Vec<_> = a
            .iter()
            .map(|x| x.target.clone().unwrap_or_default())
            .collect();
        assert_eq!(targets, ["abc123", "abd456", "abc123"]);
        assert_eq!(a[0].aliases, Some(vec!["web".to_string()]));
        let err = resolve_attachments(&mut [attach("nope")], &nets).unwrap_err();
        assert_eq!(err, ControlError::Invalid("network nope not found".into()));
        let err = resolve_attachments(&mut [attach("ab")], &nets).unwrap_err();
        assert_eq!(err.to_string(), "network ab is ambiguous (2 matches found)");
    }

    #[test]
    fn specs_default_to_overlay_and_refuse_other_drivers() {
        let spec = network_spec(NetworkCreateRequest {
            name: "n".into(),
            attachable: Some(true),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(spec.driver, "overlay");
        assert!(spec.attachable);
        for bad in [
            NetworkCreateRequest::default(),
            NetworkCreateRequest {
                name: "n".into(),
                driver: Some("bridge".into()),
                ..Default::default()
            },
            NetworkCreateRequest {
                name: "n".into(),
                scope: Some("local".into()),
                ..Default::default()
            },
        ] {
            assert!(matches!(network_spec(bad), Err(ControlError::Invalid(_))));
        }
    }

    #[test]
    fn a_service_uses_a_network_by_id_or_legacy_name() {
        let n = net("abc123", "front");
        let spec = |target: &str| ServiceSpec {
            task_template: Some(TaskSpec {
                networks: Some(vec![attach(target)]),
                ..TaskSpec::default()
            }),
            ..ServiceSpec::default()
        };
        assert!(attaches_to(&spec("abc123"), &n));
        assert!(attaches_to(&spec("front"), &n));
        assert!(!attaches_to(&spec("abc"), &n));
        assert!(!attaches_to(&ServiceSpec::default(), &n));
    }
}
