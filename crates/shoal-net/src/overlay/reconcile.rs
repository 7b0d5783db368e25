//! The [`Kernel`] trait and the reconcile driver: observe, diff, apply, per network.

use super::diff::{Op, diff};
use super::observed::Observed;
use super::plan::Plan;
use crate::error::NetError;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use tracing::{debug, info, warn};

/// The kernel as the overlay sees it. Implemented on netlink by [`crate::Netlink`]; tests
/// use an in-memory double.
pub trait Kernel: Send + Sync {
    /// Reads shoal's overlay devices, their addresses and their permanent peer entries.
    fn observe(&self) -> BoxFuture<'_, Result<Observed, NetError>>;
    /// Applies one operation.
    fn apply<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Result<(), NetError>>;
}

/// What a reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Operations applied successfully.
    pub applied: usize,
    /// Networks that could not be set up (refused by the plan, or an operation failed):
    /// network id → the reason, for the tasks on it.
    pub failed: BTreeMap<String, String>,
}

/// Makes the kernel match `plan`. A failing operation stops the operations of its network
/// (the others go on) and is reported in [`Outcome::failed`]; a leftover that cannot be
/// removed is logged and retried at the next reconcile. Fails only when the kernel cannot
/// be read at all.
pub async fn reconcile(
    kernel: &dyn Kernel,
    plan: &Plan,
    keep: &BTreeSet<u32>,
) -> Result<Outcome, NetError> {
    let observed = kernel.observe().await?;
    let mut outcome = Outcome::default();
    for refusal in &plan.refused {
        outcome
            .failed
            .insert(refusal.network_id.clone(), refusal.reason.clone());
    }
    for group in diff(plan, &observed, keep) {
        let mut done = true;
        for op in &group.ops {
            debug!(vni = group.vni, ?op, "overlay change");
            if let Err(e) = kernel.apply(op).await {
                match &group.network_id {
                    Some(id) => {
                        warn!(network.id = %id, vni = group.vni, error = %e, "setting up overlay network failed");
                        outcome.failed.insert(id.clone(), e.to_string());
                    }
                    None => {
                        warn!(vni = group.vni, error = %e, "removing a leftover overlay network failed; retried at the next reconcile")
                    }
                }
                done = false;
                break;
            }
            outcome.applied += 1;
        }
        if done && group.network_id.is_none() {
            info!(
                vni = group.vni,
                "removed the devices of an overlay network that is gone"
            );
        }
    }
    Ok(outcome)
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
