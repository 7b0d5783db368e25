//! The leader supervisor: starts every leader-only controller and the dispatcher, and stops
//! them together.
//!
//! The node crate calls [`Controllers::spawn`] when this manager becomes the raft leader and
//! [`Controllers::shutdown`] (or cancels the token it passed) when it stops being the leader.
//! Each controller runs in its own task of one `JoinSet`; one that returns early (its store
//! went away) is restarted after [`RESTART_BACKOFF`] until cancellation.

use crate::dispatcher::Dispatcher;
use crate::error::ControllerError;
use crate::orchestrator::{global, jobs, replicated};
use crate::{allocator, reaper, restart, scheduler, update};
use shoal_store::StoreHandle;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Pause before restarting a controller that stopped on its own.
pub const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// The running controllers of a leader.
pub struct Controllers {
    dispatcher: Dispatcher,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl Controllers {
    /// Starts the allocator, the orchestrators (replicated, global, jobs), the restart
    /// and update supervisors, the scheduler, the task reaper, the root rotation finisher and the dispatcher on the current runtime.
    /// They stop when `cancel` fires.
    pub fn spawn(store: StoreHandle, cancel: CancellationToken) -> Self {
        let mut tasks = JoinSet::new();
        let dispatcher = Dispatcher::new(store.clone(), cancel.clone());
        macro_rules! start {
            ($name:literal, $run:path) => {{
                let (store, token) = (store.clone(), cancel.clone());
                tasks.spawn(supervised($name, cancel.clone(), move || {
                    $run(store.clone(), token.clone())
                }));
            }};
        }
        start!("allocator", allocator::run);
        start!("replicated-orchestrator", replicated::run);
        start!("global-orchestrator", global::run);
        start!("jobs-orchestrator", jobs::run);
        start!("restart-supervisor", restart::run);
        start!("update-supervisor", update::run);
        start!("scheduler", scheduler::run);
        start!("task-reaper", reaper::run);
        start!("root-rotation", crate::ca_rotation::run);
        let d = dispatcher.clone();
        tasks.spawn(supervised("dispatcher", cancel.clone(), move || {
            let d = d.clone();
            async move { d.run().await }
        }));
        tracing::info!("leader controllers started");
        Self {
            dispatcher,
            cancel,
            tasks,
        }
    }

    /// The dispatcher agents open their sessions with.
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// Stops every controller and waits for them to finish.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while let Some(res) = self.tasks.join_next().await {
            if let Err(err) = res {
                tracing::error!(error = %err, "a controller task failed while stopping");
            }
        }
        tracing::info!("leader controllers stopped");
    }
}

/// Runs `start()` until `cancel` fires, restarting it when it ends on its own.
async fn supervised<F, Fut>(name: &'static str, cancel: CancellationToken, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ControllerError>>,
{
    loop {
        let result = start().await;
        if cancel.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!(
                controller = name,
                "controller stopped unexpectedly; restarting"
            ),
            Err(err) => {
                tracing::error!(controller = name, error = %err, "controller failed; restarting")
            }
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RESTART_BACKOFF) => {}
        }
    }
}
