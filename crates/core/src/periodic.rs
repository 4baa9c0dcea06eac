//! The backends' periodic housekeeping: while this node is active, every secrets-engine and
//! auth mount's [`LogicalBackend::periodic`](tresor_sdk::LogicalBackend::periodic) is called
//! on a fixed tick (the database engine rotates due static-role passwords there).
//!
//! Each tick runs as its own task so that a panic in a backend is contained; a failed call is
//! logged and the next tick tries again. The task stops when [`PeriodicTask::stop`] is called
//! or its handle is dropped (seal, step-down).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::active::Active;

/// Handle of the running periodic task. Dropping it stops the task.
#[derive(Debug)]
pub(crate) struct PeriodicTask {
    cancel: CancellationToken,
    _handle: JoinHandle<()>,
}

/// How often backends' periodic functions run by default.
pub(crate) const DEFAULT_PERIODIC_INTERVAL: Duration = Duration::from_secs(5);

impl PeriodicTask {
    /// Starts calling the mounts of `active` every `interval`.
    pub(crate) fn spawn(active: Weak<Active>, interval: Duration) -> Self {
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run(active, interval, cancel.clone()));
        Self {
            cancel,
            _handle: handle,
        }
    }

    /// Asks the task to stop.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for PeriodicTask {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run(active: Weak<Active>, interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick fires at once; let activation finish first.
    ticker.tick().await;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Some(state) = active.upgrade() else { break };
        let mut tick = AbortOnDropHandle::new(tokio::spawn(tick_once(state)));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = &mut tick => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "periodic housekeeping panicked");
                }
            }
        }
    }
}

/// One round over every mount: secrets engines, then auth methods.
async fn tick_once(active: Arc<Active>) {
    let mut calls = Vec::new();
    for entry in active.mounts_snapshot().entries.into_values() {
        calls.push((active.mount_view(&entry), active.mount_info(&entry), entry));
    }
    for entry in active.auth_snapshot().entries.into_values() {
        calls.push((
            active.auth_view(&entry),
            active.auth_mount_info(&entry),
            entry,
        ));
    }
    for (view, info, entry) in calls {
        let Some(backend) = active.backend(&entry.uuid) else {
            continue;
        };
        if let Err(e) = backend.periodic(&view, &info).await {
            tracing::warn!(path = %info.path, error = %e, "periodic housekeeping failed");
        }
    }
}
