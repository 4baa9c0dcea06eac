//! The broker: hands every event to the enabled devices and decides whether it was recorded.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use tresor_sdk::audit::{AuditDevice, AuditEvent, AuditKind};
use tresor_telemetry::names;
use tresor_telemetry::{Counter, Histogram, Metrics, Summary};

/// Why an event could not be recorded: the request fails closed with it.
#[derive(Debug, thiserror::Error)]
#[error("audit: {0}")]
pub struct AuditError(pub String);

/// One enabled device.
#[derive(Clone)]
pub(crate) struct Enabled {
    /// Where it is enabled (`file/`).
    pub(crate) path: String,
    /// The device.
    pub(crate) device: Arc<dyn AuditDevice>,
    /// Records what every other device's filter leaves out.
    pub(crate) fallback: bool,
    failures: Counter,
}

/// Records events in every enabled device.
pub struct AuditBroker {
    devices: RwLock<Arc<Vec<Enabled>>>,
    metrics: Metrics,
    request_time: Summary,
    response_time: Summary,
    request_histogram: Histogram,
    response_histogram: Histogram,
    request_failures: Counter,
    response_failures: Counter,
}

impl std::fmt::Debug for AuditBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<String> = self.current().iter().map(|d| d.path.clone()).collect();
        f.debug_struct("AuditBroker")
            .field("devices", &paths)
            .finish()
    }
}

impl AuditBroker {
    /// A broker with no device, recording its metrics in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            devices: RwLock::new(Arc::new(Vec::new())),
            metrics: metrics.clone(),
            request_time: metrics.summary(&names::AUDIT_LOG_REQUEST, &[]),
            response_time: metrics.summary(&names::AUDIT_LOG_RESPONSE, &[]),
            request_histogram: metrics.histogram(&names::AUDIT_LOG_REQUEST_DURATION, &[]),
            response_histogram: metrics.histogram(&names::AUDIT_LOG_RESPONSE_DURATION, &[]),
            request_failures: metrics.counter(&names::AUDIT_LOG_REQUEST_FAILURE, &[]),
            response_failures: metrics.counter(&names::AUDIT_LOG_RESPONSE_FAILURE, &[]),
        }
    }

    fn current(&self) -> Arc<Vec<Enabled>> {
        self.devices
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut Vec<Enabled>)) {
        let mut guard = self
            .devices
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Wraps `device` for the broker.
    pub(crate) fn enabled(
        &self,
        path: &str,
        device: Arc<dyn AuditDevice>,
        fallback: bool,
    ) -> Enabled {
        Enabled {
            path: path.to_owned(),
            device,
            fallback,
            failures: self
                .metrics
                .counter(&names::AUDIT_DEVICE_FAILURE, &[("path", path)]),
        }
    }

    /// Replaces every device (unseal); an empty list disables audit (seal, step-down).
    pub(crate) fn replace(&self, devices: Vec<Enabled>) {
        self.update(|d| *d = devices);
    }

    /// Adds a device.
    pub(crate) fn add(&self, device: Enabled) {
        self.update(|d| d.push(device));
    }

    /// Removes the device at `path`.
    pub(crate) fn remove(&self, path: &str) {
        self.update(|d| d.retain(|e| e.path != path));
    }

    /// Whether any device is enabled (the pipeline builds events only then).
    pub fn is_enabled(&self) -> bool {
        !self.current().is_empty()
    }

    /// The paths of the enabled devices.
    pub fn paths(&self) -> Vec<String> {
        self.current().iter().map(|d| d.path.clone()).collect()
    }

    /// What the device at `path` records for `input`, if it is enabled.
    pub fn hash(&self, path: &str, input: &str) -> Option<String> {
        self.current()
            .iter()
            .find(|d| d.path == path)
            .map(|d| d.device.hash(input))
    }

    /// Reopens every device's file or connection (SIGHUP); failures are logged.
    pub async fn reopen(&self) {
        for d in self.current().iter() {
            if let Err(e) = d.device.reopen().await {
                tracing::error!(path = %d.path, error = %e, "could not reopen audit device");
            }
        }
    }

    /// Records `event`: `Ok` when some device wrote it, when no device is enabled, or when
    /// every device's filter left it out and there is no fallback.
    pub async fn log(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let devices = self.current();
        if devices.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let (mut written, mut failed) = (0usize, Vec::new());
        for d in devices.iter().filter(|d| !d.fallback) {
            match d.device.log(event).await {
                Ok(true) => written += 1,
                Ok(false) => {}
                Err(e) => {
                    d.failures.inc();
                    tracing::error!(path = %d.path, error = %e, "audit device failed to record");
                    failed.push(d.path.clone());
                }
            }
        }
        if written == 0 && failed.is_empty() {
            for d in devices.iter().filter(|d| d.fallback) {
                match d.device.log(event).await {
                    Ok(true) => written += 1,
                    Ok(false) => {}
                    Err(e) => {
                        d.failures.inc();
                        tracing::error!(path = %d.path, error = %e, "audit fallback device failed to record");
                        failed.push(d.path.clone());
                    }
                }
            }
        }
        let (time, histogram, failures) = match event.kind {
            AuditKind::Request => (
                &self.request_time,
                &self.request_histogram,
                &self.request_failures,
            ),
            AuditKind::Response => (
                &self.response_time,
                &self.response_histogram,
                &self.response_failures,
            ),
        };
        let elapsed = start.elapsed();
        time.observe(elapsed.as_secs_f64() * 1000.0);
        histogram.observe(elapsed.as_secs_f64());
        if written == 0 && !failed.is_empty() {
            failures.inc();
            return Err(AuditError(format!(
                "no audit device recorded the {} (failed: {})",
                event.kind.as_str(),
                failed.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;
    use tresor_sdk::audit::{AuditDeviceError, AuditRequestInfo};

    /// A device that answers what it is told and counts its calls.
    struct Fake {
        answer: Result<bool, ()>,
        calls: AtomicUsize,
    }

    impl Fake {
        fn new(answer: Result<bool, ()>) -> Arc<Self> {
            Arc::new(Self {
                answer,
                calls: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl AuditDevice for Fake {
        async fn log(&self, _event: &AuditEvent) -> Result<bool, AuditDeviceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.answer
                .map_err(|()| AuditDeviceError::Other("broken".into()))
        }
        fn hash(&self, input: &str) -> String {
            format!("h({input})")
        }
    }

    fn event() -> AuditEvent {
        AuditEvent {
            kind: AuditKind::Request,
            time: SystemTime::now(),
            auth: None,
            request: AuditRequestInfo::default(),
            response: None,
            error: None,
            forwarded_from: None,
        }
    }

    fn broker(devices: &[(&str, Arc<Fake>, bool)]) -> AuditBroker {
        let b = AuditBroker::new(&Metrics::new());
        let list = devices
            .iter()
            .map(|(p, d, fb)| b.enabled(p, d.clone(), *fb))
            .collect();
        b.replace(list);
        b
    }

    #[tokio::test]
    async fn no_device_records_nothing_and_refuses_nothing() {
        let b = AuditBroker::new(&Metrics::new());
        assert!(!b.is_enabled());
        assert!(b.log(&event()).await.is_ok());
    }

    #[tokio::test]
    async fn one_success_is_enough() {
        let ok = Fake::new(Ok(true));
        let bad = Fake::new(Err(()));
        let b = broker(&[("a/", bad.clone(), false), ("b/", ok.clone(), false)]);
        assert!(b.log(&event()).await.is_ok());
        assert_eq!(bad.calls.load(Ordering::SeqCst), 1);
        assert_eq!(ok.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn every_device_failing_refuses() {
        let b = broker(&[
            ("a/", Fake::new(Err(())), false),
            ("b/", Fake::new(Err(())), false),
        ]);
        let err = b.log(&event()).await.expect_err("fail closed");
        assert!(err.to_string().contains("a/, b/"), "{err}");
        // A failed device plus a filtered one still refuses.
        let b = broker(&[
            ("a/", Fake::new(Err(())), false),
            ("b/", Fake::new(Ok(false)), false),
        ]);
        assert!(b.log(&event()).await.is_err());
    }

    #[tokio::test]
    async fn the_fallback_gets_what_every_filter_left_out() {
        let fb = Fake::new(Ok(true));
        let b = broker(&[
            ("a/", Fake::new(Ok(false)), false),
            ("fb/", fb.clone(), true),
        ]);
        assert!(b.log(&event()).await.is_ok());
        assert_eq!(fb.calls.load(Ordering::SeqCst), 1);
        // Not when another device recorded it.
        let fb2 = Fake::new(Ok(true));
        let b = broker(&[
            ("a/", Fake::new(Ok(true)), false),
            ("fb/", fb2.clone(), true),
        ]);
        assert!(b.log(&event()).await.is_ok());
        assert_eq!(fb2.calls.load(Ordering::SeqCst), 0);
        // A failing fallback refuses.
        let b = broker(&[
            ("a/", Fake::new(Ok(false)), false),
            ("fb/", Fake::new(Err(())), true),
        ]);
        assert!(b.log(&event()).await.is_err());
    }

    #[tokio::test]
    async fn add_remove_and_hash() {
        let b = broker(&[("a/", Fake::new(Ok(true)), false)]);
        b.add(b.enabled("b/", Fake::new(Ok(true)), false));
        assert_eq!(b.paths(), vec!["a/", "b/"]);
        assert_eq!(b.hash("b/", "x").as_deref(), Some("h(x)"));
        b.remove("a/");
        assert_eq!(b.paths(), vec!["b/"]);
        assert_eq!(b.hash("a/", "x"), None);
    }
}
