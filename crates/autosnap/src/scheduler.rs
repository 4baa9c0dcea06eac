//! The scheduler: on the active node, one task per config takes a snapshot every interval,
//! writes it to the config's destination, prunes old ones, and records the outcome in the
//! status (memory and barrier), the logs and the metrics.
//!
//! [`AutoSnapshots::start`] when the node becomes active, [`AutoSnapshots::stop`] when it
//! steps down or seals. The schedule lives in the barrier (the last attempt's start), so a
//! new active node continues it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tresor_storage::Backend;
use tresor_telemetry::Metrics;
use tresor_telemetry::names::{self, SNAPSHOT_CONFIG_NAME};

use crate::clock::{Clock, SystemClock};
use crate::config::AutoSnapshotConfig;
use crate::naming;
use crate::schedule;
use crate::source::SnapshotSource;
use crate::status::{SnapshotStatus, from_ms, to_ms};
use crate::store::ConfigStore;
use crate::target;

/// Wait before retrying after the barrier could not be read.
const STORAGE_RETRY: Duration = Duration::from_secs(5);

/// The running scheduler of the active node. Dropping it stops every task (without waiting).
pub struct AutoSnapshots {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AutoSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoSnapshots").finish_non_exhaustive()
    }
}

struct Inner {
    store: ConfigStore,
    source: Arc<dyn SnapshotSource>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// The task of each config.
    tasks: Mutex<HashMap<String, Task>>,
    /// The status of each config with a running task.
    statuses: Mutex<HashMap<String, SnapshotStatus>>,
}

/// A config's task: cancelled when the config is deleted, woken when it changes.
struct Task {
    cancel: CancellationToken,
    changed: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AutoSnapshots {
    /// Starts the scheduler over `storage` (the unsealed barrier): every stored config gets
    /// its task. Snapshots come from `source`; metrics go to `metrics`.
    pub fn start(
        storage: Arc<dyn Backend>,
        source: Arc<dyn SnapshotSource>,
        metrics: Metrics,
    ) -> AutoSnapshots {
        AutoSnapshots::start_with_clock(storage, source, metrics, Arc::new(SystemClock))
    }

    /// [`AutoSnapshots::start`] with another clock (tests run on tokio's paused clock).
    pub fn start_with_clock(
        storage: Arc<dyn Backend>,
        source: Arc<dyn SnapshotSource>,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
    ) -> AutoSnapshots {
        let inner = Arc::new(Inner {
            store: ConfigStore::new(storage),
            source,
            metrics,
            clock,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            tasks: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
        });
        let sup = inner.clone();
        inner.tracker.spawn(async move { sup.load_all().await });
        AutoSnapshots { inner }
    }

    /// The config store the scheduler reads.
    pub fn store(&self) -> &ConfigStore {
        &self.inner.store
    }

    /// A config was written: its task re-reads it at once (a snapshot in progress finishes
    /// first) and reschedules from the same anchor, the last attempt; a new config gets its
    /// task.
    pub fn config_changed(&self, name: &str) {
        let existing = lock(&self.inner.tasks)
            .get(name)
            .filter(|t| !t.cancel.is_cancelled())
            .map(|t| t.changed.clone());
        match existing {
            Some(changed) => changed.notify_one(),
            None => self.inner.clone().spawn_config(name),
        }
    }

    /// A config was deleted: stops its task and forgets its status.
    pub fn config_deleted(&self, name: &str) {
        if let Some(t) = lock(&self.inner.tasks).remove(name) {
            t.cancel.cancel();
        }
        lock(&self.inner.statuses).remove(name);
    }

    /// The in-memory status of `name`, when its task runs.
    pub fn status(&self, name: &str) -> Option<SnapshotStatus> {
        lock(&self.inner.statuses).get(name).cloned()
    }

    /// Stops every task (a snapshot being written is abandoned and its partial file
    /// removed). Returns at once; [`AutoSnapshots::stopped`] waits for the tasks to end.
    pub fn stop(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
    }

    /// Stops (if not done yet) and waits until every task has ended.
    pub async fn stopped(&self) {
        self.stop();
        self.inner.tracker.wait().await;
    }
}

impl Drop for AutoSnapshots {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    /// Starts a task for every stored config (retrying while the barrier cannot be read).
    async fn load_all(self: Arc<Self>) {
        loop {
            match self.store.list().await {
                Ok(names) => {
                    for name in names {
                        self.clone().spawn_config(&name);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "automated snapshots: listing the configs failed; retrying");
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = tokio::time::sleep(STORAGE_RETRY) => {}
                    }
                }
            }
        }
    }

    fn spawn_config(self: Arc<Self>, name: &str) {
        if self.cancel.is_cancelled() {
            return;
        }
        let token = self.cancel.child_token();
        let changed = Arc::new(Notify::new());
        let task = Task {
            cancel: token.clone(),
            changed: changed.clone(),
        };
        if let Some(old) = lock(&self.tasks).insert(name.to_owned(), task) {
            old.cancel.cancel();
        }
        let name = name.to_owned();
        let tracker = self.tracker.clone();
        tracker.spawn(async move { self.run_config(name, token, changed).await });
    }

    fn set_status(&self, name: &str, status: &SnapshotStatus) {
        lock(&self.statuses).insert(name.to_owned(), status.clone());
    }

    /// Sleeps `d`; false when cancelled first.
    async fn sleep(&self, token: &CancellationToken, d: Duration) -> bool {
        tokio::select! {
            _ = token.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn run_config(
        self: Arc<Self>,
        name: String,
        token: CancellationToken,
        changed: Arc<Notify>,
    ) {
        // The error counter exists (at zero) from the start, so alerts on it see a series.
        self.metrics.counter(
            &names::AUTOSNAPSHOTS_SAVE_ERRORS,
            &[(SNAPSHOT_CONFIG_NAME, &name)],
        );
        // The status: the one in memory (a restarted task) or the persisted one.
        let existing = lock(&self.statuses).get(&name).cloned();
        let mut status = match existing {
            Some(s) => s,
            None => loop {
                match self.store.status(&name).await {
                    Ok(s) => break s,
                    Err(e) => {
                        tracing::warn!(config = %name, error = %e, "automated snapshots: reading the status failed; retrying");
                        if !self.sleep(&token, STORAGE_RETRY).await {
                            return;
                        }
                    }
                }
            },
        };
        loop {
            if token.is_cancelled() {
                return;
            }
            let cfg = match self.store.get(&name).await {
                Ok(Some(cfg)) => cfg,
                Ok(None) => {
                    lock(&self.statuses).remove(&name);
                    return;
                }
                Err(e) => {
                    tracing::warn!(config = %name, error = %e, "automated snapshots: reading the config failed; retrying");
                    if !self.sleep(&token, STORAGE_RETRY).await {
                        return;
                    }
                    continue;
                }
            };
            let anchor = from_ms(status.last_attempt_start().unwrap_or(cfg.created_ms));
            let next = schedule::next_run(anchor, cfg.interval(), self.clock.now());
            status.next_snapshot_start = Some(to_ms(next));
            self.set_status(&name, &status);
            tokio::select! {
                _ = token.cancelled() => return,
                // The config changed: read it again and reschedule.
                _ = changed.notified() => continue,
                _ = tokio::time::sleep(schedule::wait(self.clock.now(), next)) => {}
            }
            if self.clock.now() < next {
                // Woke early (the wall clock went back): compute again.
                continue;
            }
            if !self.run_once(&cfg, &mut status, &token).await {
                return;
            }
        }
    }

    /// Takes, saves and prunes one snapshot of `cfg`, recording the outcome. False when
    /// cancelled meanwhile.
    async fn run_once(
        &self,
        cfg: &AutoSnapshotConfig,
        status: &mut SnapshotStatus,
        token: &CancellationToken,
    ) -> bool {
        let labels = [(SNAPSHOT_CONFIG_NAME, cfg.name.as_str())];
        let start = self.clock.now();
        let file = naming::file_name(&cfg.file_prefix, start);
        status.snapshot_start = Some(to_ms(start));
        status.snapshot_url.clear();
        self.set_status(&cfg.name, status);

        let began = std::time::Instant::now();
        let dest = match target::open(cfg).await {
            Ok(d) => Some(d),
            Err(e) => {
                self.record_failure(cfg, status, start, e.to_string());
                None
            }
        };
        let Some(dest) = dest else {
            self.persist(&cfg.name, status).await;
            return true;
        };
        let url = dest.url(&file);
        status.snapshot_url = url.clone();
        self.set_status(&cfg.name, status);

        let saved = tokio::select! {
            r = dest.save(&file, &*self.source) => r,
            _ = token.cancelled() => {
                // The save future is dropped mid-write: remove what it left.
                dest.discard(&file).await;
                return false;
            }
        };
        self.metrics
            .summary(&names::AUTOSNAPSHOTS_SAVE_DURATION, &labels)
            .observe_since(began);
        match saved {
            Ok(bytes) => {
                let end = self.clock.now();
                status.consecutive_errors = 0;
                status.last_snapshot_start = Some(to_ms(start));
                status.last_snapshot_end = Some(to_ms(end));
                status.last_snapshot_error.clear();
                status.last_snapshot_url = url.clone();
                status.last_success_end = Some(to_ms(end));
                self.metrics
                    .gauge(&names::AUTOSNAPSHOTS_LAST_SUCCESS_TIME, &labels)
                    .set(end.unix_timestamp() as f64);
                tracing::info!(config = %cfg.name, %url, bytes, "automated snapshot saved");
                self.set_status(&cfg.name, status);
                self.prune(cfg, &*dest).await;
            }
            Err(e) => self.record_failure(cfg, status, start, e.to_string()),
        }
        self.persist(&cfg.name, status).await;
        true
    }

    fn record_failure(
        &self,
        cfg: &AutoSnapshotConfig,
        status: &mut SnapshotStatus,
        start: time::OffsetDateTime,
        error: String,
    ) {
        let labels = [(SNAPSHOT_CONFIG_NAME, cfg.name.as_str())];
        status.consecutive_errors += 1;
        status.last_snapshot_start = Some(to_ms(start));
        status.last_snapshot_end = Some(to_ms(self.clock.now()));
        status.last_snapshot_url = status.snapshot_url.clone();
        status.last_snapshot_error = error;
        self.metrics
            .counter(&names::AUTOSNAPSHOTS_SAVE_ERRORS, &labels)
            .inc();
        tracing::error!(
            config = %cfg.name,
            error = %status.last_snapshot_error,
            consecutive_errors = status.consecutive_errors,
            "automated snapshot failed"
        );
        self.set_status(&cfg.name, status);
    }

    /// Deletes this config's snapshots past `retain` (oldest first). A failure is logged;
    /// the next successful snapshot tries again.
    async fn prune(&self, cfg: &AutoSnapshotConfig, dest: &dyn target::Destination) {
        let labels = [(SNAPSHOT_CONFIG_NAME, cfg.name.as_str())];
        let began = std::time::Instant::now();
        match dest.list().await {
            Ok(names) => {
                for old in naming::to_delete(&cfg.file_prefix, &names, cfg.retain) {
                    match dest.delete(&old).await {
                        Ok(()) => {
                            tracing::info!(config = %cfg.name, file = %old, "old automated snapshot deleted")
                        }
                        Err(e) => {
                            tracing::warn!(config = %cfg.name, file = %old, error = %e, "deleting an old automated snapshot failed")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(config = %cfg.name, error = %e, "listing automated snapshots for retention failed")
            }
        }
        self.metrics
            .summary(&names::AUTOSNAPSHOTS_ROTATE_DURATION, &labels)
            .observe_since(began);
        if let Some(pct) = dest.percent_space_used().await {
            self.metrics
                .gauge(&names::AUTOSNAPSHOTS_PERCENT_MAXSPACE_USED, &labels)
                .set(pct);
        }
    }

    async fn persist(&self, name: &str, status: &SnapshotStatus) {
        // A config deleted meanwhile keeps no status.
        if !lock(&self.tasks).contains_key(name) {
            return;
        }
        if let Err(e) = self.store.put_status(name, status).await {
            tracing::warn!(config = %name, error = %e, "automated snapshots: persisting the status failed");
        }
    }
}
