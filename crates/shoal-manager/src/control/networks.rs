//! Networks: create (with subnet and VXLAN id allocation), list, resolve, remove; and the
//! resolution of network names in service specs.
//!
//! Only the objects live here; the overlay data plane is `shoal-net`'s. Every network is
//! swarm-scoped and uses the `overlay` driver (Docker's default for networks created on a
//! manager with `--scope swarm` or by `stack deploy`).

use super::ipam::{Ipv4Net, allocate_ipam, next_vni, subnets_of};
use super::lookup::resolve;
use super::{Control, ControlError};
use shoal_store::StoreError;
use shoal_types::api::{NetworkAttachmentConfig, NetworkCreateRequest, ServiceSpec};
use shoal_types::cluster::{DEFAULT_ADDR_POOL, DEFAULT_SUBNET_SIZE};
use shoal_types::{Kind, Network, NetworkSpec, Object, new_id};
use std::collections::BTreeSet;

/// The only network driver shoal creates.
pub const OVERLAY: &str = "overlay";
/// Docker reports an overlay network's VNI under this driver option.
pub const VXLANID_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";

/// Serialises allocation: subnets and VNIs are chosen from a read of the store, so two
/// concurrent creates must not read the same state. Writes happen on the leader only, so a
/// process-wide lock is enough.
static ALLOCATION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

    /// Names of the services attached to `net`, sorted (for `dangling` and removal).
    pub fn network_users(&self, net: &Network) -> Vec<(String, String)> {
        let mut users: Vec<(String, String)> = self.store.view(|t| {
            t.services
                .iter()
                .filter(|s| attaches_to(&s.spec, net))
                .map(|s| (s.id.to_string(), s.name().to_string()))
                .collect()
        });
        users.sort();
        users
    }

    /// `POST /networks/create`. Returns the new id.
    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<String, ControlError> {
        let spec = network_spec(req)?;
        let _guard = ALLOCATION.lock().await;
        let name = spec.name.clone();
        let name_taken =
            || ControlError::Conflict(format!("network with name {name} already exists"));
        let (pools, size, used, vnis, taken, ingress) = self.store.view(|t| {
            let (pools, size) = match t.cluster() {
                Some(c) => (c.default_addr_pool.clone(), c.subnet_size),
                None => (Vec::new(), 0),
            };
            let used: Vec<Ipv4Net> = t
                .networks
                .iter()
                .flat_map(|n| subnets_of(&n.ipam))
                .collect();
            let vnis: BTreeSet<u32> = t.networks.iter().map(|n| n.vni).collect();
            let taken = t.networks.name_owner(&spec.name).is_some();
            let ingress = t
                .networks
                .iter()
                .find(|n| n.spec.ingress)
                .map(|n| n.id.clone());
            (pools, size, used, vnis, taken, ingress)
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
        let pools: Vec<Ipv4Net> = if pools.is_empty() {
            vec![DEFAULT_ADDR_POOL.to_string()]
        } else {
            pools
        }
        .iter()
        .filter_map(|p| Ipv4Net::parse(p))
        .collect();
        let size = if size == 0 { DEFAULT_SUBNET_SIZE } else { size };
        let size =
            u8::try_from(size).map_err(|_| invalid(format!("invalid subnet size {size}")))?;
        let ipam = allocate_ipam(spec.ipam.as_ref(), &pools, size, &used)
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let vni = next_vni(&vnis).map_err(|e| ControlError::Unavailable(e.to_string()))?;
        let id = new_id(&mut rand::rng());
        let network = Network {
            id: id.clone(),
            spec,
            ipam,
            vni,
            ..Network::default()
        };
        match self
            .store
            .update(|tx| tx.create(Object::Network(network)))
            .await
        {
            Ok(_) => Ok(id),
            Err(StoreError::NameConflict { .. }) => Err(name_taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// `DELETE /networks/{id}`: refused while a service uses the network (swarmkit's
    /// FailedPrecondition, a 400).
    pub async fn remove_network(&self, input: &str) -> Result<(), ControlError> {
        let net = self.resolve_network(input)?;
        if let Some((svc, _)) = self.network_users(&net).into_iter().next() {
            return Err(ControlError::Invalid(format!(
                "rpc error: code = FailedPrecondition desc = network {} is in use by service {svc}",
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
