//! Vault's HTTP API in front of a [`tresor_core::Core`].
//!
//! - `raw`: the sys endpoints that answer bare JSON without the logical envelope (init,
//!   seal-status, unseal, seal, health, leader, generate-root, rekey, step-down).
//! - `logical`: everything else, through `Core::handle`, wrapped in Vault's envelope.
//! - `error`: the only place where core errors become HTTP status codes and
//!   `{"errors": [...]}` bodies.
//! - `forward`: standby → active forwarding of every non-local request.
//! - `raft_api`: `sys/storage/raft/*` (join, join handshake, configuration, remove-peer).
//! - `metrics`: `sys/metrics` (Vault's JSON or Prometheus text), answered by every node.
//! - `json_limits`: Vault's `max_json_*` limits, checked on a body before it is parsed.
//! - `listener`: TCP listeners, plain or TLS (rustls), with the request-size limit.

mod error;
mod forward;
pub mod json_limits;
mod listener;
mod logical;
mod metrics;
mod raft_api;
mod raw;
mod router;
mod tls;

pub use error::ApiError;
pub use forward::{FORWARDED_HEADER, NO_ACTIVE_NODE, serve_forwarded};
pub use json_limits::{JsonLimitError, JsonLimits};
pub use listener::{ListenerOptions, TlsOptions, serve};
pub use metrics::MetricsSettings;
pub use router::{AppState, router};
pub use tls::{TlsError, load_server_config};
