//! The node's membership watch: every [`POLL_PERIOD`] it asks a manager (another one, when
//! this node is itself a manager) what the cluster wants of it (`/node/state`), and
//! - keeps a worker's list of manager addresses fresh (dispatcher client and `state.json`);
//! - promotes this node when its desired role became manager and a raft id was reserved;
//! - demotes it once the leader has taken it out of raft (desired worker, raft id cleared);
//! - makes a manager rejoin raft under a new raft id when the cluster reserved one for it
//!   (after `swarm init --force-new-cluster` elsewhere, see [`crate::force_new_cluster`]);
//! - leaves the swarm locally when the managers refuse it as removed, [`REMOVED_STRIKES`]
//!   times in a row (one refusal could be a manager that has not applied the join yet);
//! - renews the node certificate once it is due (random 50–80 % of its validity), or at once
//!   when a root rotation wants certificates of the new root's key;
//! - trusts what the cluster trusts (both roots during a rotation, then the new one alone)
//!   and reports its certificate's issuer, which the rotation waits on.
//!
//! A manager with no other manager to ask (a single-manager swarm) does all of that itself,
//! signing its renewal with the root key in its own store.

use crate::daemon::Daemon;
use shoal_ca::Role;
use shoal_cluster::{ClusterError, NodeStateRequest};
use std::sync::Weak;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the node asks.
pub const POLL_PERIOD: Duration = Duration::from_secs(2);
/// Deadline of one question.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive "removed" refusals before the node believes it.
pub const REMOVED_STRIKES: u32 = 3;

/// Runs until `cancel` fires or the node leaves the swarm.
pub async fn run(daemon: Weak<Daemon>, cancel: CancellationToken) {
    let mut strikes = 0u32;
    let mut cursor = 0usize;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(POLL_PERIOD) => {}
        }
        let Some(d) = daemon.upgrade() else { return };
        let Some(view) = d.membership_view() else {
            continue;
        };
        if view.targets.is_empty() {
            // A sole manager has nobody to ask: it is its own CA.
            if view.manager {
                d.local_ca_step().await;
            }
            continue;
        }
        cursor = cursor.wrapping_add(1);
        let n = view.targets.len();
        let req = NodeStateRequest {
            advertise_addr: view.advertise_addr.clone(),
            tls_info: Some(view.tls_info.clone()),
        };
        for i in 0..n {
            let addr = &view.targets[(cursor + i) % n];
            let answer = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                r = view.client.node_state(addr, &req, POLL_TIMEOUT) => r,
            };
            match answer {
                Ok(resp) => {
                    strikes = 0;
                    if cancel.is_cancelled() {
                        return;
                    }
                    if !view.manager {
                        d.note_managers(resp.managers.iter().map(|m| m.addr.clone()).collect());
                    }
                    let wrong_issuer = d.sync_trust(&resp).await;
                    match (view.manager, resp.role) {
                        (false, Role::Manager) if resp.raft_id != 0 => {
                            d.promote_self(addr, resp.raft_id).await
                        }
                        (true, Role::Worker) if resp.raft_id == 0 => d.demote_self(addr).await,
                        // A forced new cluster dropped this manager's raft id and the
                        // cluster reserved a new one: rejoin raft under it.
                        (true, Role::Manager)
                            if resp.raft_id != 0 && resp.raft_id != view.raft_id =>
                        {
                            d.rejoin_raft(resp.raft_id).await
                        }
                        (manager, role)
                            if manager == (role == Role::Manager)
                                && (view.renewal_due || wrong_issuer) =>
                        {
                            d.renew_own_cert(addr, role).await
                        }
                        _ => {}
                    }
                    break;
                }
                Err(e) => {
                    if let Some(ClusterError::Forbidden(reason)) = e.refusal()
                        && reason.contains("removed")
                    {
                        strikes += 1;
                        tracing::warn!(manager = %addr, %reason, strikes, "the swarm refuses this node");
                        if strikes >= REMOVED_STRIKES {
                            d.removed_from_swarm().await;
                            return;
                        }
                        break;
                    }
                    tracing::debug!(manager = %addr, error = %e, "node state poll failed");
                }
            }
        }
    }
}
