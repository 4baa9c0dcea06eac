//! Tresor's server configuration: Vault's HCL (and JSON) config format.
//!
//! [`load`] reads files and directories and merges them, [`parse_str`] parses one text,
//! [`ServerConfig::validate`] refuses what Tresor does not support with the file, the dotted
//! key and the reason, and [`dev_config`] builds the `-dev` configuration. Unknown keys never
//! fail a load; they end up in [`ServerConfig::warnings`] for the server to log.
//!
//! Parsing is pure (text in, [`ServerConfig`] out); only [`load`] touches the file system.

mod addr;
mod audit;
mod error;
mod from_hcl;
mod from_json;
mod listener;
mod load;
mod response_headers;
mod seal;
mod section;
mod server;
mod storage;
mod telemetry;
mod tree;
mod validate;

pub use audit::AuditStanza;
pub use error::ConfigError;
pub use listener::{
    DEFAULT_ADDRESS, DEFAULT_HTTP_IDLE_TIMEOUT, DEFAULT_HTTP_READ_HEADER_TIMEOUT,
    DEFAULT_HTTP_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT,
    DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT,
    DEFAULT_MAX_JSON_STRING_VALUE_LENGTH, DEFAULT_MAX_REQUEST_DURATION, DEFAULT_MAX_REQUEST_SIZE,
    ListenerConfig, ListenerTelemetry, TlsVersion,
};
pub use load::{MAX_CONFIG_DEPTH, load, parse_str};
pub use response_headers::{
    CustomResponseHeaders, DEFAULT_STRICT_TRANSPORT_SECURITY, StatusSelector,
};
pub use seal::{SUPPORTED_SEALS, SealStanza};
pub use server::{DEFAULT_LEASE_TTL, ServerConfig, dev_config};
pub use storage::{
    DEFAULT_MAX_ENTRY_SIZE, DEFAULT_SNAPSHOT_THRESHOLD, DEFAULT_TRAILING_LOGS, RaftConfig,
    RetryJoin, StorageConfig,
};
pub use telemetry::{
    DEFAULT_MAXIMUM_GAUGE_CARDINALITY, DEFAULT_PROMETHEUS_RETENTION, DEFAULT_USAGE_GAUGE_PERIOD,
    TelemetryConfig,
};
