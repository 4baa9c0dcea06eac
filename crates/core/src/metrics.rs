//! The core's metrics: gauges derived from the node's state ([`Core::refresh_metrics`], run
//! before every scrape so they are current even while sealed), a seal wrapper that counts and
//! times every encrypt and decrypt ([`metered_seals`]), and the hooks of the auto-unseal and
//! seal-health paths. Names are in [`tresor_telemetry::names`].

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tresor_policy::Capability;
use tresor_seal::{Seal, SealError, WrappedKey};
use tresor_telemetry::names::{self, SEAL_NAME, SEAL_TYPE, SEAL_WRAPPER_NAME};
use tresor_telemetry::{Counter, Metrics, Summary};
use zeroize::Zeroizing;

use crate::core::Core;
use crate::error::CoreError;
use crate::status::SealHealth;

/// The counters and timings of one direction (encrypt or decrypt) of one seal.
#[derive(Clone, Debug)]
struct OpMetrics {
    calls: Counter,
    errors: Counter,
    time: Summary,
}

impl OpMetrics {
    fn new(metrics: &Metrics, name: &str, defs: [&tresor_telemetry::MetricDef; 3]) -> OpMetrics {
        let labels = [(SEAL_WRAPPER_NAME, name)];
        OpMetrics {
            calls: metrics.counter(defs[0], &labels),
            errors: metrics.counter(defs[1], &labels),
            time: metrics.summary(defs[2], &labels),
        }
    }

    /// Counts and times `op`, counting its failure.
    async fn record<T>(
        &self,
        op: impl Future<Output = Result<T, SealError>>,
    ) -> Result<T, SealError> {
        self.calls.inc();
        let start = Instant::now();
        let result = op.await;
        self.time.observe_since(start);
        if result.is_err() {
            self.errors.inc();
        }
        result
    }
}

/// A seal that records Vault's `vault.seal.encrypt` / `vault.seal.decrypt` counters (with
/// their `.error` counters and `.time` summaries) for every call to the seal it wraps.
pub struct MeteredSeal {
    inner: Arc<dyn Seal>,
    encrypt: OpMetrics,
    decrypt: OpMetrics,
}

impl std::fmt::Debug for MeteredSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredSeal")
            .field("seal_type", &self.inner.seal_type())
            .finish_non_exhaustive()
    }
}

impl MeteredSeal {
    /// Wraps `inner`, recording under `seal_wrapper_name = name` in `metrics` (the series
    /// exist at zero from now on).
    pub fn new(inner: Arc<dyn Seal>, name: &str, metrics: &Metrics) -> MeteredSeal {
        MeteredSeal {
            encrypt: OpMetrics::new(
                metrics,
                name,
                [
                    &names::SEAL_ENCRYPT,
                    &names::SEAL_ENCRYPT_ERROR,
                    &names::SEAL_ENCRYPT_TIME,
                ],
            ),
            decrypt: OpMetrics::new(
                metrics,
                name,
                [
                    &names::SEAL_DECRYPT,
                    &names::SEAL_DECRYPT_ERROR,
                    &names::SEAL_DECRYPT_TIME,
                ],
            ),
            inner,
        }
    }
}

#[async_trait]
impl Seal for MeteredSeal {
    fn seal_type(&self) -> &'static str {
        self.inner.seal_type()
    }

    fn is_auto(&self) -> bool {
        self.inner.is_auto()
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        self.encrypt.record(self.inner.wrap(plaintext)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.decrypt.record(self.inner.unwrap(wrapped)).await
    }
}

/// The enabled seals of a node, each wrapped in a [`MeteredSeal`] named as `sys/seal-status`
/// names it (`awskms-1`, `transit-2`, ...): pass the result as `CoreOptions::seals`.
pub fn metered_seals(seals: Vec<Arc<dyn Seal>>, metrics: &Metrics) -> Vec<Arc<dyn Seal>> {
    seals
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let name = crate::auto_seal::seal_name(s.seal_type(), i);
            Arc::new(MeteredSeal::new(s, &name, metrics)) as Arc<dyn Seal>
        })
        .collect()
}

impl Core {
    /// The registry this core records into (`CoreOptions::metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.opts.metrics
    }

    /// Sets the gauges that describe the node's state from the state itself:
    /// `vault.core.unsealed`, `vault.core.active` and, with auto seals, each seal's
    /// `vault.seal.health` (from its last health check) and the auto-unseal failure counter
    /// (created at zero). Cheap and free of I/O: meant to run before every scrape.
    pub fn refresh_metrics(&self) {
        let m = self.metrics();
        m.gauge(&names::CORE_UNSEALED, &[])
            .set_bool(!self.is_sealed());
        m.gauge(&names::CORE_ACTIVE, &[])
            .set_bool(self.is_active_node());
        if let Some(set) = self.seals.as_ref() {
            m.counter(
                &names::SEAL_AUTO_UNSEAL_FAILURE,
                &[(SEAL_TYPE, set.seal_type())],
            );
        }
        self.record_seal_health(&self.seal_health());
    }

    /// Publishes seal health-check results as `vault.seal.health` gauges (seals not checked
    /// yet have none).
    pub(crate) fn record_seal_health(&self, seals: &[SealHealth]) {
        for s in seals {
            if let Some(healthy) = s.healthy {
                self.metrics()
                    .gauge(
                        &names::SEAL_HEALTH,
                        &[(SEAL_TYPE, s.kind.as_str()), (SEAL_NAME, s.name.as_str())],
                    )
                    .set_bool(healthy);
            }
        }
    }

    /// Counts one failed automatic unseal attempt: the core's own count (read by the
    /// seal-health task) and the metric.
    pub(crate) fn record_auto_unseal_failure(&self) {
        self.auto_unseal_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let kind = self.seals.as_ref().map_or("shamir", |s| s.seal_type());
        self.metrics()
            .counter(&names::SEAL_AUTO_UNSEAL_FAILURE, &[(SEAL_TYPE, kind)])
            .inc();
    }

    /// Checks that `token` may read `sys/metrics`: Vault's rule for `GET /v1/sys/metrics`
    /// unless the listener allows unauthenticated metrics access. Needs the active state
    /// ([`CoreError::Sealed`] while sealed or standby).
    pub async fn check_metrics_access(&self, token: Option<&str>) -> Result<(), CoreError> {
        let active = self.active()?;
        let entry = self.authenticate(&active, token).await?;
        let acl = active.policies.acl(&entry.policies).await?;
        if acl.check("sys/metrics", Capability::Read).allowed {
            Ok(())
        } else {
            Err(CoreError::PermissionDenied)
        }
    }

    /// Records how long a successful unseal took (`vault.core.unseal`).
    pub(crate) fn record_unseal_time(&self, since: Instant) {
        self.metrics()
            .summary(&names::CORE_UNSEAL, &[])
            .observe_since(since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_seal::TestSeal;
    use tresor_storage::InMemBackend;
    use tresor_telemetry::{SeriesValue, Snapshot};

    use crate::{CoreOptions, SingleNode};

    /// The value of `name`'s series with exactly `labels`.
    fn value(snap: &Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<SeriesValue> {
        let family = snap.families.iter().find(|f| f.def.name == name)?;
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        family
            .series
            .iter()
            .find(|s| s.labels == want)
            .map(|s| s.value)
    }

    /// Both state gauges (`core.unsealed`, `core.active`) hold `v`.
    fn assert_state_gauges(snap: &Snapshot, v: f64) {
        for name in ["core.unsealed", "core.active"] {
            assert_eq!(
                value(snap, name, &[]),
                Some(SeriesValue::Gauge(v)),
                "{name}"
            );
        }
    }

    fn total(v: Option<SeriesValue>) -> f64 {
        match v {
            Some(SeriesValue::Counter(a) | SeriesValue::Summary(a)) => a.count as f64,
            Some(SeriesValue::Gauge(g)) => g,
            None => -1.0,
        }
    }

    #[tokio::test]
    async fn the_metered_seal_counts_calls_errors_and_times() {
        let metrics = Metrics::new();
        let inner = Arc::new(TestSeal::new());
        let seals = metered_seals(vec![inner.clone() as Arc<dyn Seal>], &metrics);
        let seal = &seals[0];
        assert_eq!(seal.seal_type(), "test");
        let label = [(SEAL_WRAPPER_NAME, "test-1")];
        // The series exist at zero before any call.
        assert_eq!(
            total(value(&metrics.snapshot(), "seal.encrypt", &label)),
            0.0
        );

        let wrapped = seal.wrap(b"root key").await.unwrap();
        assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"root key");
        inner.set_available(false);
        assert!(seal.unwrap(&wrapped).await.is_err());
        assert!(seal.wrap(b"x").await.is_err());

        let snap = metrics.snapshot();
        assert_eq!(total(value(&snap, "seal.encrypt", &label)), 2.0);
        assert_eq!(total(value(&snap, "seal.encrypt.error", &label)), 1.0);
        assert_eq!(total(value(&snap, "seal.encrypt.time", &label)), 2.0);
        assert_eq!(total(value(&snap, "seal.decrypt", &label)), 2.0);
        assert_eq!(total(value(&snap, "seal.decrypt.error", &label)), 1.0);
        assert_eq!(total(value(&snap, "seal.decrypt.time", &label)), 2.0);
    }

    #[tokio::test]
    async fn state_gauges_follow_seal_and_unseal() {
        let seal = Arc::new(TestSeal::new());
        let metrics = Metrics::new();
        let core = Core::new(
            Arc::new(InMemBackend::new()),
            CoreOptions {
                seals: metered_seals(vec![seal.clone() as Arc<dyn Seal>], &metrics),
                metrics: metrics.clone(),
                ..CoreOptions::default()
            },
            Arc::new(SingleNode::default()),
        );
        core.refresh_metrics();
        let snap = metrics.snapshot();
        assert_state_gauges(&snap, 0.0);
        let failures = [(SEAL_TYPE, "test")];
        assert_eq!(
            total(value(&snap, "seal.auto_unseal.failure", &failures)),
            0.0
        );
        assert_eq!(
            value(
                &snap,
                "seal.health",
                &[(SEAL_TYPE, "test"), (SEAL_NAME, "test-1")]
            ),
            None,
            "no health gauge before the first check"
        );

        core.init(crate::InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..crate::InitRequest::default()
        })
        .await
        .unwrap();
        seal.set_available(false);
        assert!(!core.check_seal_health().await);
        core.refresh_metrics();
        let snap = metrics.snapshot();
        assert_state_gauges(&snap, 1.0);
        let health = [(SEAL_TYPE, "test"), (SEAL_NAME, "test-1")];
        assert_eq!(
            value(&snap, "seal.health", &health),
            Some(SeriesValue::Gauge(0.0))
        );
        // Init wrapped the root and recovery keys, the failed check counted its error.
        assert!(
            total(value(
                &snap,
                "seal.encrypt",
                &[(SEAL_WRAPPER_NAME, "test-1")]
            )) >= 2.0
        );
        assert_eq!(
            total(value(
                &snap,
                "seal.encrypt.error",
                &[(SEAL_WRAPPER_NAME, "test-1")]
            )),
            1.0
        );

        seal.set_available(true);
        assert!(core.check_seal_health().await);
        core.seal().await.unwrap();
        core.refresh_metrics();
        let snap = metrics.snapshot();
        assert_state_gauges(&snap, 0.0);
        assert_eq!(
            value(&snap, "seal.health", &health),
            Some(SeriesValue::Gauge(1.0))
        );
    }
}
