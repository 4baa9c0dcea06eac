//! The audit stages: every audited request is recorded before its backend runs, and its
//! response before it is returned. Devices come later; today the broker records nothing.

use async_trait::async_trait;
use tresor_sdk::{Operation, Response};

/// What the audit stages know about a request (tokens and data stay with the pipeline; a
/// broker that records them hashes them itself).
#[derive(Debug, Clone)]
pub struct AuditRequest<'a> {
    /// The canonical request path.
    pub path: &'a str,
    /// The operation.
    pub operation: Operation,
    /// The accessor of the caller's token (empty for unauthenticated requests).
    pub accessor: &'a str,
    /// The caller's policies.
    pub policies: &'a [String],
    /// The mount the request was routed to (`sys/` for the system backend).
    pub mount_point: &'a str,
}

/// Why an entry could not be recorded. The request fails closed with it.
#[derive(Debug, thiserror::Error)]
#[error("audit: {0}")]
pub struct AuditError(pub String);

/// Where the pipeline records requests and responses. A failure refuses the request (fail
/// closed): a request is never served unrecorded.
#[async_trait]
pub trait AuditBroker: Send + Sync + 'static {
    /// Records a request before its backend runs.
    async fn log_request(
        &self,
        req: &AuditRequest<'_>,
        error: Option<&str>,
    ) -> Result<(), AuditError>;

    /// Records the response (or the error) before it is returned to the client.
    async fn log_response(
        &self,
        req: &AuditRequest<'_>,
        resp: Option<&Response>,
        error: Option<&str>,
    ) -> Result<(), AuditError>;
}

/// The broker with no device enabled: records nothing and never fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

#[async_trait]
impl AuditBroker for NoAudit {
    async fn log_request(
        &self,
        _req: &AuditRequest<'_>,
        _error: Option<&str>,
    ) -> Result<(), AuditError> {
        Ok(())
    }

    async fn log_response(
        &self,
        _req: &AuditRequest<'_>,
        _resp: Option<&Response>,
        _error: Option<&str>,
    ) -> Result<(), AuditError> {
        Ok(())
    }
}
