//! What audit devices are written against.
//!
//! The pipeline describes each audited request twice, before its backend runs and before its
//! answer leaves, as an [`AuditEvent`]: tokens and data in clear. A device turns the event into
//! its own record (tresor-audit hashes tokens and values, filters, writes a line) and reports
//! whether the record is written. Devices are made by an [`AuditFactory`] registered by type in
//! an [`AuditRegistry`], the way backends are made by a
//! [`BackendFactory`](crate::BackendFactory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::Operation;

/// Whether an event describes a request or its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    /// Before the backend runs.
    Request,
    /// Before the answer is returned.
    Response,
}

impl AuditKind {
    /// `request` or `response`, as the entry's `type` field says.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Request => "request",
            AuditKind::Response => "response",
        }
    }
}

/// The token a request was made with (or a login's new token, in a response).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditAuth {
    /// The token itself.
    pub client_token: String,
    /// Its accessor.
    pub accessor: String,
    /// Its display name.
    pub display_name: String,
    /// Every policy that applies.
    pub policies: Vec<String>,
    /// The policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// The token's metadata.
    pub metadata: BTreeMap<String, String>,
    /// The entity the token belongs to (empty when none).
    pub entity_id: String,
    /// `service`, `batch`, or `default` when no token was presented.
    pub token_type: String,
    /// Seconds the token had to live when it was created (0: no limit).
    pub token_ttl: u64,
    /// When the token was created (RFC 3339), if known.
    pub token_issue_time: Option<String>,
}

/// What was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRequestInfo {
    /// The request's id; the request and response events of one request share it.
    pub id: String,
    /// The operation decided for the request.
    pub operation: Operation,
    /// The mount that serves the path (`sys/` for the system backend, empty when none).
    pub mount_point: String,
    /// The mount's type (`kv`, `system`, ...).
    pub mount_type: String,
    /// The mount's accessor.
    pub mount_accessor: String,
    /// The token sent with the request (empty when none).
    pub client_token: String,
    /// That token's accessor (empty when unknown).
    pub client_token_accessor: String,
    /// The canonical request path.
    pub path: String,
    /// The request body or query parameters.
    pub data: Option<Map<String, Value>>,
    /// The client's address.
    pub remote_address: String,
    /// The client's port (0 when unknown).
    pub remote_port: u16,
    /// The wrapping TTL the client asked for, in seconds (0: none).
    pub wrap_ttl: u64,
    /// The request headers configured for audit (`sys/config/auditing/request-headers`),
    /// lower-case names; values in clear.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Header names among [`headers`](Self::headers) whose values are to be hashed.
    pub hmac_headers: Vec<String>,
    /// Request keys whose values stay in clear (mount tune `audit_non_hmac_request_keys`).
    pub non_hmac_keys: Vec<String>,
}

impl Default for AuditRequestInfo {
    fn default() -> Self {
        Self {
            id: String::new(),
            operation: Operation::Read,
            mount_point: String::new(),
            mount_type: String::new(),
            mount_accessor: String::new(),
            client_token: String::new(),
            client_token_accessor: String::new(),
            path: String::new(),
            data: None,
            remote_address: String::new(),
            remote_port: 0,
            wrap_ttl: 0,
            headers: BTreeMap::new(),
            hmac_headers: Vec::new(),
            non_hmac_keys: Vec::new(),
        }
    }
}

/// A wrapped response, as the client received it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditWrapInfo {
    /// The wrapping token.
    pub token: String,
    /// Its accessor.
    pub accessor: String,
    /// Its TTL in seconds.
    pub ttl: u64,
    /// When it was created (RFC 3339).
    pub creation_time: String,
    /// The path whose response it wraps.
    pub creation_path: String,
}

/// What was answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditResponseInfo {
    /// The `data` of the answer.
    pub data: Option<Map<String, Value>>,
    /// Its warnings.
    pub warnings: Vec<String>,
    /// A token the answer issues (logins, token creation).
    pub auth: Option<AuditAuth>,
    /// The lease the answer carries, if any.
    pub lease_id: Option<String>,
    /// The wrapping token the answer was replaced by, if it was wrapped.
    pub wrap_info: Option<AuditWrapInfo>,
    /// Response keys whose values stay in clear (mount tune `audit_non_hmac_response_keys`).
    pub non_hmac_keys: Vec<String>,
}

/// One request or response, as the pipeline saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// Request or response.
    pub kind: AuditKind,
    /// When the event happened.
    pub time: SystemTime,
    /// The caller's token (`None` on an unauthenticated path or before authentication).
    pub auth: Option<AuditAuth>,
    /// The request.
    pub request: AuditRequestInfo,
    /// The answer (response events only; `None` when the request failed).
    pub response: Option<AuditResponseInfo>,
    /// Why the request failed, if it did.
    pub error: Option<String>,
    /// The standby's cluster address, when a standby forwarded the request.
    pub forwarded_from: Option<String>,
}

/// Why a device could not be made or could not record.
#[derive(Debug, thiserror::Error)]
pub enum AuditDeviceError {
    /// A configuration option is missing or wrong.
    #[error("{option}: {reason}")]
    Config {
        /// The option.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The device failed to write the record.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The device did not finish writing in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Anything else the device reports.
    #[error("{0}")]
    Other(String),
}

impl AuditDeviceError {
    /// A configuration error about `option`.
    pub fn config(option: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            option: option.into(),
            reason: reason.into(),
        }
    }
}

/// One enabled audit device.
#[async_trait]
pub trait AuditDevice: Send + Sync + 'static {
    /// Records one event. `Ok(true)`: written; `Ok(false)`: this device's filter leaves the
    /// event out (nothing written, and it does not count as a success). An error means the
    /// record may not exist; nothing the device reported written is ever lost.
    async fn log(&self, event: &AuditEvent) -> Result<bool, AuditDeviceError>;

    /// What this device records for `input` in place of a sensitive string
    /// (`hmac-sha256:<hex>`; `sys/audit-hash`).
    fn hash(&self, input: &str) -> String;

    /// Reopens the underlying file or connection (SIGHUP, after log rotation).
    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        Ok(())
    }
}

/// What a device is made from.
#[derive(Clone, Debug, Default)]
pub struct AuditDeviceConfig {
    /// Where the device is enabled (`file/`).
    pub path: String,
    /// Its type (`file`, `socket`, `syslog`, `http`).
    pub kind: String,
    /// Its options as given (`file_path`, `log_raw`, ...).
    pub options: BTreeMap<String, String>,
    /// The device's own HMAC key, kept in the barrier; a new one each time it is enabled.
    pub salt: Vec<u8>,
    /// Whether the server allows the `prefix` option (`allow_audit_log_prefixing`).
    pub allow_prefix: bool,
}

/// Makes devices of one type.
pub trait AuditFactory: Send + Sync + 'static {
    /// The type name (`file`).
    fn kind(&self) -> &'static str;
    /// Makes a device; refuses bad options with the option's name and why.
    fn create(&self, config: AuditDeviceConfig) -> Result<Arc<dyn AuditDevice>, AuditDeviceError>;
}

/// The device types a server knows.
#[derive(Clone, Default)]
pub struct AuditRegistry {
    factories: BTreeMap<&'static str, Arc<dyn AuditFactory>>,
}

impl AuditRegistry {
    /// A registry with no type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a type.
    pub fn register(&mut self, factory: Arc<dyn AuditFactory>) {
        self.factories.insert(factory.kind(), factory);
    }

    /// The factory of `kind`, if registered.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn AuditFactory>> {
        self.factories.get(kind)
    }

    /// The registered type names, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }
}

impl std::fmt::Debug for AuditRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditRegistry")
            .field("kinds", &self.kinds())
            .finish()
    }
}
