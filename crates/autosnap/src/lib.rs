//! Automated Raft snapshots: Vault Enterprise's `sys/storage/raft/snapshot-auto`, free.
//!
//! - [`config`]: a named configuration (interval, retention, destination) parsed and
//!   validated from a request body (pure); stored in the barrier by [`store::ConfigStore`]
//!   under `core/raft/snapshot-auto/config/<name>`, so it replicates.
//! - [`scheduler::AutoSnapshots`]: runs on the active node only (start it when the node
//!   becomes active, stop it when it steps down or seals). One task per config takes a
//!   snapshot from a [`source::SnapshotSource`] every interval, writes it to a local
//!   directory or an S3 bucket ([`target`]) all-or-nothing, keeps the newest `retain`
//!   ([`naming`]), and records the outcome in the status ([`status`], persisted in the
//!   barrier: the next active node continues the schedule, [`schedule`]), the logs and
//!   Vault's `vault.autosnapshots.*` metrics.
//! - [`api`]: the operations the `sys/` backend serves.

pub mod api;
pub mod clock;
pub mod config;
mod error;
pub mod naming;
pub mod schedule;
pub mod scheduler;
pub mod source;
pub mod status;
pub mod store;
pub mod target;

pub use config::{AutoSnapshotConfig, StorageType};
pub use error::{AutoSnapError, ConfigError};
pub use scheduler::AutoSnapshots;
pub use source::{SnapshotSource, SourceError};
pub use store::ConfigStore;
