//! [`Netlink`]: the overlay's [`Kernel`] on rtnetlink, in the network namespace of the thread
//! that connected it.
//!
//! `connect` must run inside a tokio runtime: the netlink connection is driven by a task
//! spawned there and lives as long as the [`Netlink`] value's handles. To work in another
//! namespace, enter it on a dedicated OS thread and connect from a runtime on that thread.

use crate::error::NetError;
use crate::mac::Mac;
use crate::overlay::{Kernel, LinkKind, Observed, ObservedLink, Op, VxlanAttrs, vni_of_device};
use futures::future::BoxFuture;
use futures::stream::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVxlan};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kernel's overlay state over a netlink socket.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

fn failed(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let what = what.into();
    move |e| NetError::Netlink {
        what,
        reason: e.to_string(),
    }
}

impl Netlink {
    /// Opens a netlink socket in the calling thread's network namespace and drives it on the
    /// current tokio runtime.
    pub fn connect() -> Result<Self, NetError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetError::Connect(e.to_string()))?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// The index of link `name`.
    async fn index(&self, what: &str, name: &str) -> Result<u32, NetError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(link.header.index),
            Ok(None) => Err(NetError::NoSuchLink {
                what: what.to_string(),
                link: name.to_string(),
            }),
            // The kernel answers ENODEV for an unknown name.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => {
                Err(NetError::NoSuchLink {
                    what: what.to_string(),
                    link: name.to_string(),
                })
            }
            Err(e) => Err(failed(what)(e)),
        }
    }

    async fn observe_links(&self) -> Result<(Observed, BTreeMap<u32, String>), NetError> {
        let mut observed = Observed::default();
        let mut names = BTreeMap::new();
        let mut links = self.handle.link().get().execute();
        while let Some(msg) = links.try_next().await.map_err(failed("listing links"))? {
            if let Some(link) = observed_link(&msg) {
                names.insert(link.index, link.name.clone());
                observed.links.insert(link.name.clone(), link);
            }
        }
        Ok((observed, names))
    }

    async fn apply_op(&self, op: &Op) -> Result<(), NetError> {
        let link = self.handle.link();
        match op {
            Op::DeleteLink { name } => {
                let what = format!("deleting link {name}");
                let index = match self.index(&what, name).await {
                    Err(NetError::NoSuchLink { .. }) => return Ok(()),
                    r => r?,
                };
                link.del(index).execute().await.map_err(failed(what))
            }
            Op::AddBridge { name, mac, mtu } => link
                .add(
                    LinkBridge::new(name)
                        .address(mac.0.to_vec())
                        .mtu(*mtu)
                        .build(),
                )
                .execute()
                .await
                .map_err(failed(format!("adding bridge {name}"))),
            Op::AddVxlan {
                name,
                vni,
                local,
                port,
                mtu,
            } => {
                let builder = match local {
                    IpAddr::V4(ip) => LinkVxlan::new(name, *vni).local(*ip),
                    IpAddr::V6(ip) => LinkVxlan::new(name, *vni).local6(*ip),
                };
                link.add(
                    builder
                        .port(*port)
                        .learning(false)
                        .proxy(true)
                        .mtu(*mtu)
                        .build(),
                )
                .execute()
                .await
                .map_err(failed(format!(
                    "adding VXLAN device {name} (VNI {vni}, local {local})"
                )))
            }
            Op::SetLink {
                name,
                mac,
                mtu,
                master,
            } => {
                let what = format!("setting up link {name}");
                let index = self.index(&what, name).await?;
                let mut builder = LinkUnspec::new_with_index(index).mtu(*mtu).up();
                if let Some(mac) = mac {
                    builder = builder.address(mac.0.to_vec());
                }
                if let Some(master) = master {
                    let master = self.index(&what, master).await?;
                    builder = builder.controller(master);
                }
                link.set(builder.build())
                    .execute()
                    .await
                    .map_err(failed(what))
            }
            Op::AddAddress {
                link: name,
                ip,
                prefix_len,
            } => {
                let what = format!("adding address {ip}/{prefix_len} to {name}");
                let index = self.index(&what, name).await?;
                self.handle
                    .address()
                    .add(index, IpAddr::V4(*ip), *prefix_len)
                    .replace()
                    .execute()
                    .await
                    .map_err(failed(what))
            }
            Op::DeleteAddress {
                link: name,
                ip,
                prefix_len,
            } => {
                let what = format!("removing address {ip}/{prefix_len} from {name}");
                let index = self.index(&what, name).await?;
                let mut found = self
                    .handle
                    .address()
                    .get()
                    .set_link_index_filter(index)
                    .set_address_filter(IpAddr::V4(*ip))
                    .set_prefix_length_filter(*prefix_len)
                    .execute();
                while let Some(msg) = found.try_next().await.map_err(failed(what.clone()))? {
                    self.handle
                        .address()
                        .del(msg)
                        .execute()
                        .await
                        .map_err(failed(what.clone()))?;
                }
                Ok(())
            }
            Op::AddFdb {
                link: name,
                mac,
                dst,
            } => {
                let what = format!("adding forwarding entry {mac} dst {dst} on {name}");
                let index = self.index(&what, name).await?;
                self.handle
                    .neighbours()
                    .add_bridge(index, &mac.0)
                    .destination(*dst)
                    .flags(NeighbourFlags::Own)
                    .replace()
                    .execute()
                    .await
                    .map_err(failed(what))
            }
            Op::DeleteFdb {
                link: name,
                mac,
                dst,
            } => {
                let what = format!("removing forwarding entry {mac} dst {dst} on {name}");
                let index = self.index(&what, name).await?;
                let mut msg = NeighbourMessage::default();
                msg.header.family = AddressFamily::Bridge;
                msg.header.ifindex = index;
                msg.header.state = NeighbourState::Permanent;
                msg.header.flags = NeighbourFlags::Own;
                msg.attributes
                    .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
                msg.attributes
                    .push(NeighbourAttribute::Destination(NeighbourAddress::from(
                        *dst,
                    )));
                ignore_missing(self.handle.neighbours().del(msg).execute().await)
                    .map_err(failed(what))
            }
            Op::AddNeighbour {
                link: name,
                ip,
                mac,
            } => {
                let what = format!("adding neighbour {ip} lladdr {mac} on {name}");
                let index = self.index(&what, name).await?;
                self.handle
                    .neighbours()
                    .add(index, IpAddr::V4(*ip))
                    .link_layer_address(&mac.0)
                    .state(NeighbourState::Permanent)
                    .replace()
                    .execute()
                    .await
                    .map_err(failed(what))
            }
            Op::DeleteNeighbour {
                link: name,
                ip,
                mac,
            } => {
                let what = format!("removing neighbour {ip} lladdr {mac} on {name}");
                let index = self.index(&what, name).await?;
                let mut msg = NeighbourMessage::default();
                msg.header.family = AddressFamily::Inet;
                msg.header.ifindex = index;
                msg.attributes
                    .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(*ip)));
                ignore_missing(self.handle.neighbours().del(msg).execute().await)
                    .map_err(failed(what))
            }
        }
    }
}

/// A deletion of something already gone (ENOENT) succeeded.
fn ignore_missing(r: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match r {
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -2 => Ok(()),
        r => r,
    }
}

/// The link in `msg` if it carries a shoal overlay name.
fn observed_link(msg: &LinkMessage) -> Option<ObservedLink> {
    let name = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    vni_of_device(&name)?;
    let mut link = ObservedLink {
        index: msg.header.index,
        name,
        kind: LinkKind::Other,
        mac: None,
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        master: None,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(bytes) => link.mac = Mac::from_bytes(bytes),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            LinkAttribute::Controller(index) => link.master = Some(*index),
            LinkAttribute::LinkInfo(infos) => link.kind = link_kind(infos),
            _ => {}
        }
    }
    Some(link)
}

fn link_kind(infos: &[LinkInfo]) -> LinkKind {
    let mut kind = LinkKind::Other;
    for info in infos {
        match info {
            LinkInfo::Kind(InfoKind::Bridge) => kind = LinkKind::Bridge,
            LinkInfo::Data(InfoData::Vxlan(attrs)) => {
                let mut vx = VxlanAttrs {
                    vni: 0,
                    local: None,
                    port: 0,
                    learning: true,
                    proxy: false,
                };
                for a in attrs {
                    match a {
                        InfoVxlan::Id(id) => vx.vni = *id,
                        InfoVxlan::Local(ip) => vx.local = Some(IpAddr::V4(*ip)),
                        InfoVxlan::Local6(ip) => vx.local = Some(IpAddr::V6(*ip)),
                        InfoVxlan::Port(p) => vx.port = *p,
                        InfoVxlan::Learning(l) => vx.learning = *l,
                        InfoVxlan::Proxy(p) => vx.proxy = *p,
                        _ => {}
                    }
                }
                kind = LinkKind::Vxlan(vx);
            }
            _ => {}
        }
    }
    kind
}

fn address_of(msg: &AddressMessage) -> Option<Ipv4Addr> {
    msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => {
            Some(*ip)
        }
        _ => None,
    })
}

fn neighbour_parts(msg: &NeighbourMessage) -> (Option<Mac>, Option<IpAddr>) {
    let mut mac = None;
    let mut ip = None;
    for a in &msg.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = Mac::from_bytes(bytes),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                ip = Some(IpAddr::V4(*v4))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                ip = Some(IpAddr::V6(*v6))
            }
            // In AF_BRIDGE dumps the VTEP address arrives unparsed: 4 bytes for IPv4, 16 for
            // the tunnel addresses of encrypted networks.
            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(bytes.as_slice())
                        .ok()
                        .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                    16 => <[u8; 16]>::try_from(bytes.as_slice())
                        .ok()
                        .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    (mac, ip)
}

impl Kernel for Netlink {
    fn observe(&self) -> BoxFuture<'_, Result<Observed, NetError>> {
        Box::pin(async move {
            let (mut observed, names) = self.observe_links().await?;

            let mut request = self.handle.address().get();
            request.message_mut().header.family = AddressFamily::Inet;
            let mut addrs = request.execute();
            while let Some(msg) = addrs
                .try_next()
                .await
                .map_err(failed("listing addresses"))?
            {
                if let (Some(name), Some(ip)) = (names.get(&msg.header.index), address_of(&msg)) {
                    observed
                        .addresses
                        .entry(name.clone())
                        .or_default()
                        .insert((ip, msg.header.prefix_len));
                }
            }

            let mut fdb = self
                .handle
                .neighbours()
                .get()
                .set_address_family(AddressFamily::Bridge)
                .execute();
            while let Some(msg) = fdb
                .try_next()
                .await
                .map_err(failed("listing forwarding entries"))?
            {
                let Some(name) = names.get(&msg.header.ifindex) else {
                    continue;
                };
                // The VXLAN device's own entries (`self`) with a remote; the bridge's
                // entries for its ports carry no destination.
                if let (Some(mac), Some(dst)) = neighbour_parts(&msg)
                    && msg.header.state == NeighbourState::Permanent
                {
                    observed
                        .fdb
                        .entry(name.clone())
                        .or_default()
                        .insert((mac, dst));
                }
            }

            let mut neighbours = self
                .handle
                .neighbours()
                .get()
                .set_address_family(AddressFamily::Inet)
                .execute();
            while let Some(msg) = neighbours
                .try_next()
                .await
                .map_err(failed("listing neighbours"))?
            {
                let Some(name) = names.get(&msg.header.ifindex) else {
                    continue;
                };
                if msg.header.state != NeighbourState::Permanent {
                    continue;
                }
                if let (Some(mac), Some(IpAddr::V4(ip))) = neighbour_parts(&msg) {
                    observed
                        .neighbours
                        .entry(name.clone())
                        .or_default()
                        .insert((ip, mac));
                }
            }
            Ok(observed)
        })
    }

    fn apply<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(self.apply_op(op))
    }
}
