//! A device: the shared formatter in front of a sink that writes lines somewhere.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tresor_sdk::audit::{AuditDevice, AuditDeviceError, AuditEvent};

use crate::entry::{Formatter, operation_name};
use crate::filter::Subject;

/// Where a device's lines go.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Writes one whole line. An error means the line may not be there; a partial line is
    /// removed where the medium allows it (files).
    async fn write(&self, line: &[u8]) -> Result<(), AuditDeviceError>;

    /// Reopens the file or connection.
    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        Ok(())
    }
}

/// A formatter and a sink, with a bound on each write.
pub struct Device {
    formatter: Formatter,
    sink: Arc<dyn Sink>,
    timeout: Duration,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("options", self.formatter.options())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device writing `formatter`'s lines to `sink`, each write bounded by `timeout`.
    pub fn new(formatter: Formatter, sink: Arc<dyn Sink>, timeout: Duration) -> Self {
        Self {
            formatter,
            sink,
            timeout,
        }
    }
}

#[async_trait]
impl AuditDevice for Device {
    async fn log(&self, event: &AuditEvent) -> Result<bool, AuditDeviceError> {
        if let Some(filter) = &self.formatter.options().filter {
            let r = &event.request;
            let subject = Subject {
                mount_point: &r.mount_point,
                mount_type: &r.mount_type,
                namespace: "root",
                operation: operation_name(r.operation),
                path: &r.path,
            };
            if !filter.matches(&subject) {
                return Ok(false);
            }
        }
        let line = self.formatter.line(event);
        match tokio::time::timeout(self.timeout, self.sink.write(&line)).await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(AuditDeviceError::Timeout(self.timeout)),
        }
    }

    fn hash(&self, input: &str) -> String {
        self.formatter.hash(input)
    }

    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        self.sink.reopen().await
    }
}
