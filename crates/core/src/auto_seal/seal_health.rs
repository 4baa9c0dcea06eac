//! Health of the auto-seal set, for `sys/seal-status` (`seals`) and `sys/health`
//! (`seal_degraded`): a background task wraps and unwraps a test value with every configured
//! seal — soon after each unseal, then every [`SealHealthTiming::interval`] while all seals
//! pass ([`SealHealthTiming::retry`] while one fails) — and status requests only read the last
//! results, so they never call the key service.
//!
//! The results live in a process-wide board keyed by the core (a `Weak` pointer, so a dropped
//! core's entry is pruned and its address cannot be reused while listed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::{Core, lock};
use crate::error::CoreError;
use crate::status::{HealthReport, SealHealth, SealStatusReport, is_degraded};

/// The value each seal wraps and unwraps in a health check (not secret).
const PROBE: &[u8] = b"tresor seal health check";

/// When the seal health checks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SealHealthTiming {
    /// Between checks while every seal passed the last one.
    pub(crate) interval: Duration,
    /// Between checks while some seal failed the last one (so a recovery shows soon).
    pub(crate) retry: Duration,
    /// How often the task looks at the node's state (no seal call).
    pub(crate) poll: Duration,
}

impl Default for SealHealthTiming {
    /// Every minute while healthy, every 10 s while degraded; looks every second.
    fn default() -> Self {
        SealHealthTiming {
            interval: Duration::from_secs(60),
            retry: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// The last check result of each seal of one core, in seal order (kept in
/// `Core::seal_health_results`).
pub(crate) type Results = Vec<Option<bool>>;

/// Stores `results` as `core`'s latest check.
fn publish(core: &Arc<Core>, results: Results) {
    *lock(&core.seal_health_results) = results;
}

/// `core`'s latest results (empty before the first check).
fn latest(core: &Core) -> Results {
    lock(&core.seal_health_results).clone()
}

/// What the check loop remembers about its last run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LastCheck {
    at: Instant,
    /// Whether the node was sealed when it ran.
    sealed: bool,
    /// Whether every seal passed.
    healthy: bool,
    /// [`Core::auto_unseal_failures`] when it ran.
    failures: u64,
}

/// Whether a check is due now. Unsealed: at once after an unseal, then after `interval`
/// (`retry` while degraded). Sealed: only after a further failed auto-unseal attempt, at most
/// every `retry` (to tell which seal is down without adding to the retries' load).
fn check_due(
    last: Option<LastCheck>,
    sealed: bool,
    failures: u64,
    now: Instant,
    timing: &SealHealthTiming,
) -> bool {
    let elapsed = |l: &LastCheck| now.saturating_duration_since(l.at);
    match last {
        None => !sealed || failures > 0,
        Some(l) if sealed => failures > l.failures && elapsed(&l) >= timing.retry,
        Some(l) if l.sealed => true,
        Some(l) => {
            let every = if l.healthy {
                timing.interval
            } else {
                timing.retry
            };
            elapsed(&l) >= every
        }
    }
}

/// Checks the seal set now and then (see [`check_due`]) until dropped.
pub(crate) async fn run_seal_health(core: Arc<Core>, timing: SealHealthTiming) {
    if core.seals.is_none() {
        return;
    }
    let mut last: Option<LastCheck> = None;
    loop {
        let sealed = core.is_sealed();
        let failures = core.auto_unseal_failures();
        if check_due(last, sealed, failures, Instant::now(), &timing) {
            let healthy = core.check_seal_health().await;
            last = Some(LastCheck {
                at: Instant::now(),
                sealed,
                healthy,
                failures,
            });
        }
        tokio::time::sleep(timing.poll).await;
    }
}

/// Runs [`run_seal_health`] on its own task for as long as this guard lives.
pub(crate) struct SealHealthTask(tokio::task::JoinHandle<()>);

impl SealHealthTask {
    /// Starts the task (needs a Tokio runtime).
    pub(crate) fn spawn(core: Arc<Core>, timing: SealHealthTiming) -> Self {
        SealHealthTask(tokio::spawn(run_seal_health(core, timing)))
    }
}

impl Drop for SealHealthTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Core {
    /// Wraps and unwraps a test value with every configured auto seal, one after the other,
    /// and publishes the results for [`Core::seal_status_report`] and
    /// [`Core::health_report`]. A seal that starts failing is logged once (with the reason),
    /// and again when it passes. Returns whether every seal passed (`true` on Shamir).
    pub async fn check_seal_health(self: &Arc<Self>) -> bool {
        let Some(set) = self.seals.as_ref() else {
            return true;
        };
        let before = latest(self);
        let mut results = Vec::with_capacity(set.seals().len());
        for (i, seal) in set.seals().iter().enumerate() {
            let outcome = match seal.wrap(PROBE).await {
                Ok(wrapped) => match seal.unwrap(&wrapped).await {
                    Ok(plain) if plain.as_slice() == PROBE => Ok(()),
                    Ok(_) => Err("unwrap returned a different value".to_owned()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let name = seal_name(seal.seal_type(), i);
            let was = before.get(i).copied().flatten();
            match &outcome {
                Err(reason) if was != Some(false) => {
                    tracing::warn!(seal = %name, "seal health check failed ({reason}); the seal set is degraded");
                }
                Ok(()) if was == Some(false) => {
                    tracing::info!(seal = %name, "seal health check passes again");
                }
                _ => {}
            }
            results.push(Some(outcome.is_ok()));
        }
        let healthy = results.iter().all(|r| *r == Some(true));
        publish(self, results);
        self.record_seal_health(&self.seal_health());
        healthy
    }

    /// The configured auto seals with their last health-check results (empty on Shamir).
    pub fn seal_health(&self) -> Vec<SealHealth> {
        let Some(set) = self.seals.as_ref() else {
            return Vec::new();
        };
        let results = latest(self);
        set.seals()
            .iter()
            .enumerate()
            .map(|(i, s)| SealHealth {
                kind: s.seal_type().to_owned(),
                name: seal_name(s.seal_type(), i),
                healthy: results.get(i).copied().flatten(),
            })
            .collect()
    }

    /// `sys/seal-status` with `seals` (the auto seals' last health-check results).
    pub async fn seal_status_report(&self) -> Result<SealStatusReport, CoreError> {
        Ok(SealStatusReport {
            status: self.seal_status().await?,
            seals: self.seal_health(),
        })
    }

    /// `sys/health` with `seal_degraded` on auto-seal nodes.
    pub async fn health_report(&self) -> Result<HealthReport, CoreError> {
        let seals = self.seal_health();
        Ok(HealthReport {
            status: self.health().await?,
            seal_degraded: (!seals.is_empty()).then(|| is_degraded(&seals)),
        })
    }
}

/// A seal's name in reports: its type and 1-based position in the configuration.
pub(crate) fn seal_name(kind: &str, index: usize) -> String {
    format!("{kind}-{}", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_seal::{Seal, TestSeal};
    use tresor_storage::InMemBackend;

    use crate::{CoreOptions, SingleNode};

    fn core_with(seals: &[Arc<TestSeal>]) -> Arc<Core> {
        let opts = CoreOptions {
            seals: seals.iter().map(|s| s.clone() as Arc<dyn Seal>).collect(),
            ..CoreOptions::default()
        };
        Core::new(
            Arc::new(InMemBackend::new()),
            opts,
            Arc::new(SingleNode::default()),
        )
    }

    fn timing() -> SealHealthTiming {
        SealHealthTiming {
            interval: Duration::from_secs(60),
            retry: Duration::from_secs(10),
            poll: Duration::from_millis(5),
        }
    }

    #[test]
    fn checks_follow_unseals_intervals_and_failed_unseals() {
        let t = timing();
        let now = Instant::now();
        let at = |ago: u64, sealed, healthy, failures| {
            Some(LastCheck {
                at: now.checked_sub(Duration::from_secs(ago)).unwrap_or(now),
                sealed,
                healthy,
                failures,
            })
        };
        // First look: check an unsealed node at once; a sealed one only once unsealing failed.
        assert!(check_due(None, false, 0, now, &t));
        assert!(!check_due(None, true, 0, now, &t));
        assert!(check_due(None, true, 1, now, &t));
        // Just unsealed: check at once.
        assert!(check_due(at(0, true, false, 3), false, 3, now, &t));
        // Unsealed and healthy: every interval; degraded: every retry.
        assert!(!check_due(at(30, false, true, 0), false, 0, now, &t));
        assert!(check_due(at(61, false, true, 0), false, 0, now, &t));
        assert!(!check_due(at(5, false, false, 0), false, 0, now, &t));
        assert!(check_due(at(11, false, false, 0), false, 0, now, &t));
        // Sealed: only after a further failed attempt, and not more often than retry.
        assert!(!check_due(at(20, true, false, 2), true, 2, now, &t));
        assert!(!check_due(at(5, true, false, 2), true, 3, now, &t));
        assert!(check_due(at(11, true, false, 2), true, 3, now, &t));
    }

    #[tokio::test]
    async fn results_track_each_seal_and_the_degraded_hint() {
        let (a, b) = (Arc::new(TestSeal::new()), Arc::new(TestSeal::new()));
        let core = core_with(&[a.clone(), b.clone()]);
        let unchecked = core.seal_health();
        assert_eq!(unchecked.len(), 2);
        assert_eq!(unchecked[1].name, "test-2");
        assert!(unchecked.iter().all(|s| s.healthy.is_none()));
        assert_eq!(
            core.health_report().await.unwrap().seal_degraded,
            Some(false)
        );

        b.set_available(false);
        assert!(!core.check_seal_health().await);
        let seals = core.seal_status_report().await.unwrap().seals;
        assert_eq!(
            seals.iter().map(|s| s.healthy).collect::<Vec<_>>(),
            vec![Some(true), Some(false)]
        );
        assert_eq!(
            core.health_report().await.unwrap().seal_degraded,
            Some(true)
        );

        b.set_available(true);
        assert!(core.check_seal_health().await);
        assert_eq!(
            core.health_report().await.unwrap().seal_degraded,
            Some(false)
        );

        // Another core's results are its own.
        let other = core_with(&[Arc::new(TestSeal::new())]);
        assert_eq!(other.seal_health()[0].healthy, None);
    }

    #[tokio::test]
    async fn shamir_nodes_report_no_seal_set() {
        let core = core_with(&[]);
        assert!(core.check_seal_health().await);
        assert!(core.seal_status_report().await.unwrap().seals.is_empty());
        assert_eq!(core.health_report().await.unwrap().seal_degraded, None);
    }

    #[tokio::test]
    async fn the_task_checks_an_unsealed_node_and_stops_with_its_guard() {
        let seal = Arc::new(TestSeal::new());
        let core = core_with(std::slice::from_ref(&seal));
        core.init(crate::InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..crate::InitRequest::default()
        })
        .await
        .unwrap();
        assert!(!core.is_sealed());
        seal.set_available(false);
        let task = SealHealthTask::spawn(core.clone(), timing());
        let deadline = Instant::now() + Duration::from_secs(20);
        while core.seal_health()[0].healthy != Some(false) {
            assert!(Instant::now() < deadline, "no check ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(task);
    }
}
