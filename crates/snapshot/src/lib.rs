//! The snapshot archive of `sys/storage/raft/snapshot`, in Vault's layout: a gzip'd tar of
//! four files, written and read as streams (nothing is held whole in memory).
//!
//! - `meta.json`: the snapshot's metadata ([`SnapshotMeta`], hashicorp-raft field names).
//! - `state.bin`: every key/value pair of the replicated store, in Tresor's own encoding
//!   ([`state`]): length-prefixed records in ascending key order, then a record count.
//! - `SHA256SUMS`: the SHA-256 of `meta.json` and `state.bin`, in `sha256sum` format.
//! - `SHA256SUMS.sealed`: `SHA256SUMS` sealed by the cluster's barrier (the caller provides
//!   the sealing and opening functions; only a cluster holding the same keys opens it).
//!
//! The layout is specified in `docs/design/snapshot-format.md`. The tar framing is the
//! minimal ustar subset ([`tar`]); the reader refuses anything else.

mod archive;
mod error;
mod meta;
pub mod state;
mod stats;
pub mod tar;

pub use archive::{
    ArchiveContents, GZIP_HEADER, META_FILE, SEALED_SUMS_FILE, STATE_FILE, SUMS_FILE, read_archive,
    sums_text, write_archive,
};
pub use error::SnapshotError;
pub use meta::{ConfigServer, Configuration, SnapshotMeta};
pub use stats::{PrefixStat, PrefixStats, key_prefix};
