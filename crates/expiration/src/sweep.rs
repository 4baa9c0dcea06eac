//! The background sweep: revokes due leases while the node is active.
//!
//! Each sweep runs as its own task so that a panic in a backend is contained (logged, the next
//! sweep runs on the next tick). The task stops when [`SweepTask::stop`] is called or its handle
//! is dropped; a revocation in progress is abandoned, which is safe: the lease is deleted only
//! after its backend revoked it, and revoking again is harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::manager::ExpirationManager;

/// Handle of a running sweep. Dropping it stops the task.
#[derive(Debug)]
pub struct SweepTask {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl SweepTask {
    /// How often due leases are looked for by default.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
    /// Leases one sweep looks at, at most; more due ones are left for the next tick.
    pub const BUDGET: usize = 500;

    /// Starts sweeping `manager` every `interval`. Must be called inside a Tokio runtime.
    pub fn spawn(manager: Arc<ExpirationManager>, interval: Duration) -> Self {
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run(manager, interval, cancel.clone()));
        Self { cancel, handle }
    }

    /// Asks the task to stop; it does so at its next await point.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for SweepTask {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run(manager: Arc<ExpirationManager>, interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let m = manager.clone();
        let mut sweep =
            AbortOnDropHandle::new(tokio::spawn(
                async move { m.sweep(SweepTask::BUDGET).await },
            ));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = &mut sweep => match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "lease sweep failed"),
                Err(e) => tracing::error!(error = %e, "lease sweep panicked"),
            },
        }
    }
}
