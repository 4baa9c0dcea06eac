//! The background expiry task: runs [`TokenStore::expire_due`] every few seconds while the
//! node is active, so expired tokens and their children disappear without anyone touching
//! them (and interrupted revocations finish).
//!
//! The task is supervised: a failed or panicking sweep is logged and the next one runs on the
//! next tick. It stops when [`ExpiryTask::stop`] is called or the handle is dropped; a sweep
//! in progress is abandoned, which is safe because every step of a revocation is an atomic
//! batch and an interrupted revocation is resumed.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::store::TokenStore;

/// Handle of a running expiry task. Dropping it stops the task.
#[derive(Debug)]
pub struct ExpiryTask {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl ExpiryTask {
    /// How often the active node sweeps by default.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

    /// Index entries one sweep examines at most; when more are due the next sweep starts
    /// right away instead of waiting for the next tick.
    pub const BUDGET: usize = 1000;

    /// Starts sweeping `store` every `interval` (the first sweep runs at once). Must be called
    /// inside a Tokio runtime.
    pub fn spawn(store: Arc<TokenStore>, interval: Duration) -> Self {
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run(store, interval, cancel.clone()));
        Self { cancel, handle }
    }

    /// Asks the task to stop; it does so at its next await point.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Stops the task and waits until it has ended.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        // Ends with `()` or because it was cancelled or panicked: stopped either way.
        let _ = (&mut self.handle).await;
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for ExpiryTask {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run(store: Arc<TokenStore>, interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tracing::debug!(?interval, "token expiry task started");
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        // Each sweep runs as its own task so that a panic in it is contained; the guard aborts
        // it if this loop is stopped or dropped mid-sweep.
        let sweep_store = store.clone();
        let mut sweep = AbortOnDropHandle::new(tokio::spawn(async move {
            sweep_store.expire_due(ExpiryTask::BUDGET).await
        }));
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            outcome = &mut sweep => outcome,
        };
        match outcome {
            Ok(Ok(s)) => {
                if s.changed() {
                    tracing::debug!(
                        expired = s.expired,
                        resumed = s.resumed,
                        stale = s.stale,
                        "token expiry sweep"
                    );
                }
                if s.more {
                    ticker.reset_immediately();
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "token expiry sweep failed; retrying"),
            Err(e) => tracing::error!(error = %e, "token expiry sweep panicked; retrying"),
        }
    }
    tracing::debug!("token expiry task stopped");
}

#[cfg(test)]
mod tests {
    use tresor_storage::{InMemBackend, View};

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::entry::{TokenEntry, TtlLimits};

    const START: u64 = 1_700_000_000;
    const TICK: Duration = Duration::from_secs(5);

    fn store() -> (Arc<ManualClock>, Arc<TokenStore>) {
        let clock = Arc::new(ManualClock::new(START));
        let store = TokenStore::with_clock(
            View::new(Arc::new(InMemBackend::new()), "sys/token/"),
            TtlLimits {
                default_lease_ttl: 3600,
                max_lease_ttl: 7200,
            },
            clock.clone(),
        );
        (clock, Arc::new(store))
    }

    /// A token living `ttl` seconds under `parent`.
    async fn token(store: &TokenStore, parent: Option<&str>, ttl: u64) -> TokenEntry {
        let now = store.now();
        let entry = TokenEntry {
            creation_time: now,
            ttl,
            expire_time: (ttl > 0).then_some(now + ttl),
            ..TokenEntry::default()
        };
        store.create(entry, parent).await.unwrap()
    }

    async fn stored(store: &TokenStore, t: &TokenEntry) -> bool {
        store.load_stored_for_tests(&t.id).await
    }

    /// Lets the (paused) Tokio clock run `ticks` task intervals, checking `done` after each;
    /// returns whether it held.
    async fn within_ticks<F, Fut>(ticks: usize, mut done: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..ticks {
            if done().await {
                return true;
            }
            tokio::time::sleep(TICK).await;
        }
        done().await
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_revokes_expired_tokens_with_their_children() {
        let (clock, store) = store();
        let root = store.create_root(None).await.unwrap();
        let parent = token(&store, Some(&root.id), 60).await;
        let child = token(&store, Some(&parent.id), 0).await;
        let task = ExpiryTask::spawn(store.clone(), TICK);
        // A few sweeps while nothing is due change nothing.
        tokio::time::sleep(TICK * 3).await;
        assert!(stored(&store, &parent).await && stored(&store, &child).await);

        clock.advance(60);
        let gone = within_ticks(10, || async {
            !stored(&store, &parent).await && !stored(&store, &child).await
        })
        .await;
        assert!(gone, "the expired token and its child must be revoked");
        assert!(stored(&store, &root).await);
        assert!(!task.is_finished());
        task.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_stops_when_asked_and_when_dropped() {
        let (clock, store) = store();
        let task = ExpiryTask::spawn(store.clone(), TICK);
        task.stop();
        let stopped = within_ticks(3, || {
            let finished = task.is_finished();
            async move { finished }
        })
        .await;
        assert!(stopped, "stop() must end the task");

        // A stopped task revokes nothing any more.
        let tok = token(&store, None, 60).await;
        clock.set(START + 3600);
        tokio::time::sleep(TICK * 5).await;
        assert!(stored(&store, &tok).await);

        // Dropping the handle stops a running task too: the store is released.
        let task = ExpiryTask::spawn(store.clone(), TICK);
        tokio::time::sleep(TICK).await;
        assert!(Arc::strong_count(&store) > 1);
        drop(task);
        let released = within_ticks(3, || {
            let count = Arc::strong_count(&store);
            async move { count == 1 }
        })
        .await;
        assert!(released, "dropping the handle must end the task");
        assert_eq!(clock.now(), START + 3600);
    }
}
