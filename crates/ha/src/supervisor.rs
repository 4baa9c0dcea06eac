//! Every background task of a node runs under one [`Supervisor`]: tracked by name, stopped
//! together on shutdown (a shared cancellation token, then a bounded wait, then abort), and a
//! task that ends with an error or a panic is logged with its name and counted in
//! `vault.ha.task_failures{task=...}`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tresor_telemetry::Metrics;
use tresor_telemetry::names::{HA_TASK_FAILURES, TASK};

/// Tracks a node's background tasks. Clones share the same tasks.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    token: CancellationToken,
    tracker: TaskTracker,
    /// The tasks spawned (finished ones are pruned on each spawn).
    running: Mutex<Vec<(String, AbortHandle)>>,
    metrics: Metrics,
    failures: AtomicU64,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("stopping", &self.inner.token.is_cancelled())
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}

/// How a supervised task ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed(String),
    Panicked(String),
    Aborted,
}

impl Supervisor {
    /// A supervisor recording its failure counts in `metrics`.
    pub fn new(metrics: Metrics) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                token: CancellationToken::new(),
                tracker: TaskTracker::new(),
                running: Mutex::new(Vec::new()),
                metrics,
                failures: AtomicU64::new(0),
            }),
        }
    }

    /// Cancelled when shutdown begins: every task watches it and returns.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Tasks that ended with an error or a panic since this supervisor was made.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// Names of the tasks still running.
    pub fn running(&self) -> Vec<String> {
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(_, h)| !h.is_finished());
        running.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Runs `task` in the background as `name`. It should return when [`Self::token`] is
    /// cancelled; an `Err` or a panic is logged and counted. After shutdown began the task
    /// is not started.
    pub fn spawn<F, E>(&self, name: &str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.is_stopping() {
            tracing::debug!(task = name, "not started: shutting down");
            return;
        }
        let work = tokio::spawn(async move { task.await.map_err(|e| e.to_string()) });
        let abort = work.abort_handle();
        let inner = self.inner.clone();
        let task_name = name.to_owned();
        self.inner.tracker.spawn(async move {
            let outcome = match work.await {
                Ok(Ok(())) => Outcome::Done,
                Ok(Err(e)) => Outcome::Failed(e),
                Err(e) if e.is_panic() => Outcome::Panicked(panic_text(e.into_panic())),
                Err(_) => Outcome::Aborted,
            };
            inner.record(&task_name, outcome);
        });
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(_, h)| !h.is_finished());
        running.push((name.to_owned(), abort));
    }

    /// Stops every task: cancels the token, waits up to `grace` for them to return, then
    /// aborts the rest (logged by name). Returns whether all returned within `grace`.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.token.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        let running =
            std::mem::take(&mut *self.inner.running.lock().unwrap_or_else(|e| e.into_inner()));
        for (name, handle) in running.iter().filter(|(_, h)| !h.is_finished()) {
            tracing::warn!(task = %name, ?grace, "task did not stop in time; aborting it");
            handle.abort();
        }
        self.inner.tracker.wait().await;
        false
    }
}

impl Inner {
    fn record(&self, name: &str, outcome: Outcome) {
        match outcome {
            Outcome::Done => tracing::debug!(task = name, "task ended"),
            Outcome::Aborted => tracing::debug!(task = name, "task aborted"),
            Outcome::Failed(e) => {
                tracing::error!(task = name, error = %e, "background task failed");
                self.count_failure(name);
            }
            Outcome::Panicked(p) => {
                tracing::error!(task = name, panic = %p, "background task panicked");
                self.count_failure(name);
            }
        }
    }

    fn count_failure(&self, name: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .counter(&HA_TASK_FAILURES, &[(TASK, name)])
            .inc();
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn failures(metrics: &Metrics, task: &str) -> u64 {
        metrics.counter(&HA_TASK_FAILURES, &[(TASK, task)]).get()
    }

    #[tokio::test]
    async fn failures_and_panics_are_counted_by_name_and_shutdown_stops_the_rest() {
        let metrics = Metrics::new();
        let sup = Supervisor::new(metrics.clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        sup.spawn("fails", async { Err::<(), _>("boom") });
        sup.spawn("panics", async {
            if true {
                panic!("kaput");
            }
            Ok::<(), String>(())
        });
        sup.spawn("ok", async move {
            let _ = done_tx.send(());
            Ok::<(), String>(())
        });
        let token = sup.token();
        sup.spawn("loops", async move {
            token.cancelled().await;
            Ok::<(), String>(())
        });
        sup.spawn("stuck", std::future::pending::<Result<(), String>>());
        done_rx.await.unwrap();
        assert!(
            !sup.shutdown(Duration::from_millis(200)).await,
            "'stuck' ignores the token"
        );
        assert_eq!(sup.failures(), 2);
        assert_eq!(failures(&metrics, "fails"), 1);
        assert_eq!(failures(&metrics, "panics"), 1);
        assert_eq!(failures(&metrics, "loops"), 0);
        assert_eq!(
            failures(&metrics, "stuck"),
            0,
            "an abort at shutdown is no failure"
        );
        assert!(sup.running().is_empty());
        sup.spawn("late", async { Err::<(), _>("never runs") });
        assert_eq!(sup.failures(), 2);
    }
}
