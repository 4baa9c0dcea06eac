//! Vault's HTTP API in front of a [`tresor_core::Core`].
//!
//! - `router`: stage 1 of the request pipeline, the canonical path (redirects and refusals),
//!   then dispatch.
//! - `raw`: the sys endpoints that answer bare JSON without the logical envelope (init,
//!   seal-status, unseal, seal, health, leader, generate-root, rekey, step-down), declared in
//!   `raw_endpoints` (unauthenticated or sudo, audited or not, local or forwarded).
//! - `logical`: everything else, through `Core::handle`, wrapped in Vault's envelope.
//! - `error`: the only place where core errors become HTTP status codes and
//!   `{"errors": [...]}` bodies.
//! - `forward`: standby → active forwarding of every non-local request.
//! - `raft_api`: `sys/storage/raft/*` (join, join handshake, configuration, remove-peer).
//! - `metrics`: `sys/metrics` (Vault's JSON or Prometheus text), answered by every node.
//! - `listener`: TCP listeners, plain or TLS (rustls): connection limit, TLS handshake limit,
//!   and the layers every listener adds (panic → 500, response headers).
//! - `connection`: one connection's time limits (read header, read, write, idle) and the
//!   watchdog that enforces them.
//! - `response_headers`: `Cache-Control: no-store` and `custom_response_headers`.
//! - `panic_guard`: a handler panic answers 500 `{"errors":["internal error"]}`.
//! - `json_limits`: Vault's `max_json_*` limits, checked on a body before it is parsed.

mod connection;
mod error;
mod forward;
pub mod json_limits;
mod listener;
mod logical;
mod metrics;
mod panic_guard;
mod raft_api;
mod raft_snapshot;
mod raw;
mod raw_endpoints;
mod response_headers;
mod router;
mod tls;

pub use connection::{BodyReadTimeout, DEFAULT_TLS_HANDSHAKE_TIMEOUT, SHUTDOWN_GRACE, Timeouts};
pub use error::ApiError;
pub mod client_addr;
pub use client_addr::ClientAddr;
pub use forward::{FORWARDED_HEADER, NO_ACTIVE_NODE, serve_forwarded};
pub use json_limits::{JsonLimitError, JsonLimits};
pub use listener::{
    DEFAULT_MAX_CONNECTIONS, ListenerOptions, ServeOptions, TlsOptions, harden, serve,
};
pub use metrics::MetricsSettings;
pub use panic_guard::catch_panics;
pub use raw_endpoints::RawSwitches;
pub use response_headers::{HeaderScope, InvalidHeader, ResponseHeaders};
pub use router::{AppState, router};
pub use tls::{TlsError, load_server_config};
