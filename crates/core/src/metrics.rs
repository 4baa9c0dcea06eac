//! The core's metrics: gauges derived from the node's state ([`Core::refresh_metrics`] and,
//! with the gauges that need the cluster layer, the token store or the kernel,
//! [`Core::refresh_scrape_metrics`], run before every scrape so they are current even while
//! sealed), a seal wrapper that counts and
//! times every encrypt and decrypt ([`metered_seals`]), and the hooks of the auto-unseal and
//! seal-health paths. Names are in [`tresor_telemetry::names`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tresor_policy::Capability;
use tresor_seal::{Seal, SealError, WrappedKey};
use tresor_telemetry::names::{self, SEAL_NAME, SEAL_TYPE, SEAL_WRAPPER_NAME};
use tresor_telemetry::{Counter, Histogram, Metrics, Summary};
use zeroize::Zeroizing;

use crate::core::{Core, lock};
use crate::error::CoreError;
use crate::status::SealHealth;

/// The default least time between two counts of the token store for `vault.token.count` (a
/// count lists every token record): Vault's default `usage_gauge_period`, 10 minutes
/// ([`CoreOptions::usage_gauge_period`](crate::CoreOptions::usage_gauge_period)). Between
/// counts a scrape reports the last one; a new active state (unseal, leadership, restore)
/// counts at its first scrape.
pub(crate) const DEFAULT_USAGE_GAUGE_PERIOD: Duration = Duration::from_secs(600);

/// Handles on the timings of requests through the pipeline, kept by the core so that a
/// request records without a registry lookup.
#[derive(Clone, Debug)]
pub(crate) struct RequestTimings {
    /// Vault `vault.core.handle_request` (ms).
    handle: Summary,
    /// Vault `vault.core.handle_login_request` (ms).
    login: Summary,
    /// Tresor's `vault_core_handle_request_duration_seconds` histogram.
    histogram: Histogram,
}

impl RequestTimings {
    pub(crate) fn new(metrics: &Metrics) -> RequestTimings {
        RequestTimings {
            handle: metrics.summary(&names::CORE_HANDLE_REQUEST, &[]),
            login: metrics.summary(&names::CORE_HANDLE_LOGIN_REQUEST, &[]),
            histogram: metrics.histogram(&names::CORE_HANDLE_REQUEST_DURATION, &[]),
        }
    }

    /// Records one request that took since `start`: a login ([`is_login_path`]) as
    /// `handle_login_request`, anything else as `handle_request`, both in the histogram.
    pub(crate) fn record(&self, login: bool, start: Instant) {
        let elapsed = start.elapsed();
        let ms = elapsed.as_secs_f64() * 1000.0;
        if login {
            self.login.observe(ms);
        } else {
            self.handle.observe(ms);
        }
        self.histogram.observe(elapsed.as_secs_f64());
    }
}

/// Whether `path` is a login: `auth/<mount...>/login` or a path below it.
pub(crate) fn is_login_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("auth/") else {
        return false;
    };
    let mut segments = rest.split('/');
    segments.next();
    segments.any(|s| s == "login")
}

/// Lets an expensive refresh run at most once per period, and again at once when the state
/// it describes was replaced (a new `epoch`).
#[derive(Debug)]
pub(crate) struct Throttle {
    period: Duration,
    last: Option<(Instant, u64)>,
}

impl Throttle {
    /// Due at the first call.
    pub(crate) const fn new(period: Duration) -> Throttle {
        Throttle { period, last: None }
    }

    /// Whether the refresh is due at `now` for `epoch`; when it is, it counts as done now.
    pub(crate) fn take(&mut self, now: Instant, epoch: u64) -> bool {
        let due = match self.last {
            Some((at, e)) => e != epoch || now.saturating_duration_since(at) >= self.period,
            None => true,
        };
        if due {
            self.last = Some((now, epoch));
        }
        due
    }

    /// Makes the next call due (after a refresh that failed).
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }
}

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

    /// Everything [`refresh_metrics`](Self::refresh_metrics) sets, plus the gauges that need
    /// the cluster layer, the token store or the kernel; `sys/metrics` runs it before every
    /// scrape. Bounded cost: one read of `/proc/self/status`, the Raft membership from
    /// memory and, on the active node, autopilot's judgement (two small storage reads) and
    /// at most once per `usage_gauge_period` a listing of the token records.
    ///
    /// - every node: `vault.runtime.alloc_bytes` / `sys_bytes` (Linux), and with Raft
    ///   `vault.raft.peers` and Tresor's `vault.raft.leader`;
    /// - active node only (removed elsewhere): `vault.token.count`, `vault.expire.num_leases`
    ///   and `vault.expire.num_irrevocable_leases` (from the expiration manager's memory; the
    ///   three absent with `usage_gauge_period = "none"`) and, with Raft,
    ///   `vault.autopilot.healthy` and `vault.autopilot.failure_tolerance`;
    /// - with Raft, the storage layer's scrape-time gauges
    ///   ([`Leadership::refresh_raft_metrics`](crate::Leadership::refresh_raft_metrics)).
    pub async fn refresh_scrape_metrics(&self) {
        self.refresh_metrics();
        let m = self.metrics();
        if let Some(mem) = tresor_telemetry::process::read_process_memory() {
            m.gauge(&names::RUNTIME_ALLOC_BYTES, &[])
                .set(mem.resident_bytes as f64);
            m.gauge(&names::RUNTIME_SYS_BYTES, &[])
                .set(mem.virtual_bytes as f64);
        }
        if let Some(raft) = self.ha.leadership.raft_summary() {
            m.gauge(&names::RAFT_PEERS, &[]).set(raft.peers as f64);
            m.gauge(&names::RAFT_LEADER, &[]).set_bool(raft.leader);
        }
        self.ha.leadership.refresh_raft_metrics().await;
        let active = if self.is_active_node() {
            self.active().ok()
        } else {
            None
        };
        let Some(active) = active else {
            lock(&self.token_count_throttle).reset();
            for def in [
                &names::TOKEN_COUNT,
                &names::EXPIRE_NUM_LEASES,
                &names::EXPIRE_NUM_IRREVOCABLE_LEASES,
                &names::AUTOPILOT_HEALTHY,
                &names::AUTOPILOT_FAILURE_TOLERANCE,
            ] {
                m.remove(def, &[]);
            }
            return;
        };
        if self.opts.usage_gauge_period.is_none() {
            m.remove(&names::TOKEN_COUNT, &[]);
            m.remove(&names::EXPIRE_NUM_LEASES, &[]);
            m.remove(&names::EXPIRE_NUM_IRREVOCABLE_LEASES, &[]);
        } else {
            self.refresh_usage_gauges(&active).await;
        }
        self.refresh_autopilot_gauges().await;
    }

    /// `vault.token.count` (at most once per `usage_gauge_period`), and
    /// `vault.expire.num_leases` and `num_irrevocable_leases` (from memory, every scrape), on
    /// the active node.
    async fn refresh_usage_gauges(&self, active: &crate::active::Active) {
        let m = self.metrics();
        m.gauge(&names::EXPIRE_NUM_LEASES, &[])
            .set(active.leases.count() as f64);
        m.gauge(&names::EXPIRE_NUM_IRREVOCABLE_LEASES, &[])
            .set(active.leases.irrevocable_count() as f64);
        let due = lock(&self.token_count_throttle).take(Instant::now(), self.activation_count());
        if due {
            match active.tokens.count().await {
                Ok(n) => m.gauge(&names::TOKEN_COUNT, &[]).set(n as f64),
                Err(e) => {
                    tracing::debug!(error = %e, "counting tokens for vault.token.count failed");
                    lock(&self.token_count_throttle).reset();
                }
            }
        }
    }

    /// `vault.autopilot.healthy` and `failure_tolerance`, on the active node with Raft.
    async fn refresh_autopilot_gauges(&self) {
        let m = self.metrics();
        match self.ha.autopilot.state(self).await {
            Ok(state) => {
                m.gauge(&names::AUTOPILOT_HEALTHY, &[])
                    .set_bool(state.healthy);
                m.gauge(&names::AUTOPILOT_FAILURE_TOLERANCE, &[])
                    .set(state.failure_tolerance as f64);
            }
            Err(e) => {
                if !matches!(e, CoreError::UnsupportedPath) {
                    tracing::debug!(error = %e, "autopilot state for the metrics failed");
                }
                m.remove(&names::AUTOPILOT_HEALTHY, &[]);
                m.remove(&names::AUTOPILOT_FAILURE_TOLERANCE, &[]);
            }
        }
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
            .map(|s| s.value.clone())
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
            Some(SeriesValue::Histogram(h)) => h.count as f64,
            None => -1.0,
        }
    }

    #[test]
    fn login_paths_are_told_apart() {
        for p in [
            "auth/userpass/login/alice",
            "auth/approle/login",
            "auth/team/ldap/login/bob",
        ] {
            assert!(is_login_path(p), "{p}");
        }
        for p in [
            "auth/token/create",
            "auth/login",
            "secret/data/login",
            "sys/auth/login",
            "auth/userpass/users/login-x",
        ] {
            assert!(!is_login_path(p), "{p}");
        }
    }

    #[test]
    fn the_throttle_lets_one_refresh_through_per_period_or_epoch() {
        let mut t = Throttle::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(t.take(t0, 1), "the first call is due");
        assert!(!t.take(t0, 1));
        assert!(!t.take(t0 + Duration::from_secs(29), 1));
        assert!(t.take(t0 + Duration::from_secs(30), 1), "a period later");
        assert!(!t.take(t0 + Duration::from_secs(31), 1));
        assert!(t.take(t0 + Duration::from_secs(31), 2), "a new epoch");
        assert!(!t.take(t0 + Duration::from_secs(32), 2));
        t.reset();
        assert!(t.take(t0 + Duration::from_secs(32), 2), "after a reset");
        // A clock reading older than the last refresh is not due (no underflow).
        assert!(!t.take(t0, 2));
    }

    #[tokio::test]
    async fn scrape_gauges_on_an_active_single_node() {
        let metrics = Metrics::new();
        let core = Core::new(
            Arc::new(InMemBackend::new()),
            CoreOptions {
                seals: metered_seals(vec![Arc::new(TestSeal::new()) as Arc<dyn Seal>], &metrics),
                metrics: metrics.clone(),
                ..CoreOptions::default()
            },
            Arc::new(SingleNode::default()),
        );
        core.refresh_scrape_metrics().await;
        let snap = metrics.snapshot();
        assert_eq!(value(&snap, "token.count", &[]), None, "sealed: no count");
        assert_eq!(value(&snap, "expire.num_leases", &[]), None);
        if cfg!(target_os = "linux") {
            assert!(total(value(&snap, "runtime.alloc_bytes", &[])) > 0.0);
            assert!(total(value(&snap, "runtime.sys_bytes", &[])) > 0.0);
        }

        core.init(crate::InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..crate::InitRequest::default()
        })
        .await
        .unwrap();
        core.refresh_scrape_metrics().await;
        let snap = metrics.snapshot();
        // The root token of init.
        assert_eq!(total(value(&snap, "token.count", &[])), 1.0);
        assert_eq!(
            value(&snap, "expire.num_leases", &[]),
            Some(SeriesValue::Gauge(0.0))
        );
        // No Raft, no autopilot: no such gauges.
        for name in [
            "raft.peers",
            "raft.leader",
            "autopilot.healthy",
            "autopilot.failure_tolerance",
        ] {
            assert_eq!(value(&snap, name, &[]), None, "{name}");
        }

        core.seal().await.unwrap();
        core.refresh_scrape_metrics().await;
        let snap = metrics.snapshot();
        assert_eq!(
            value(&snap, "token.count", &[]),
            None,
            "removed when sealed"
        );
        assert_eq!(value(&snap, "expire.num_leases", &[]), None);
    }

    #[tokio::test]
    async fn requests_and_barrier_calls_are_timed_and_usage_gauges_can_be_off() {
        let metrics = Metrics::new();
        let core = Core::new(
            Arc::new(InMemBackend::new()),
            CoreOptions {
                seals: metered_seals(vec![Arc::new(TestSeal::new()) as Arc<dyn Seal>], &metrics),
                metrics: metrics.clone(),
                usage_gauge_period: None,
                ..CoreOptions::default()
            },
            Arc::new(SingleNode::default()),
        );
        core.init(crate::InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..crate::InitRequest::default()
        })
        .await
        .unwrap();
        let before = total(value(&metrics.snapshot(), "core.handle_request", &[]));
        // A request through the pipeline (refused: no token), timed all the same.
        let req = crate::CoreRequest {
            method: crate::Method::Get,
            path: tresor_sdk::CanonicalPath::parse("sys/mounts").unwrap(),
            data: Default::default(),
            token: None,
        };
        let _ = core.handle(req).await;
        core.refresh_scrape_metrics().await;
        let snap = metrics.snapshot();
        assert_eq!(
            total(value(&snap, "core.handle_request", &[])),
            before + 1.0
        );
        assert!(total(value(&snap, "core.handle_request_duration_seconds", &[])) >= 1.0);
        assert!(
            total(value(&snap, "barrier.get", &[])) >= 1.0,
            "init read through the barrier"
        );
        assert!(total(value(&snap, "barrier.put", &[])) >= 1.0);
        for name in [
            "barrier.delete",
            "barrier.list",
            "core.handle_login_request",
        ] {
            assert!(total(value(&snap, name, &[])) >= 0.0, "{name} exists");
        }
        // usage_gauge_period = "none": no usage gauges, even on the active node.
        assert_eq!(value(&snap, "token.count", &[]), None);
        assert_eq!(value(&snap, "expire.num_leases", &[]), None);
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
