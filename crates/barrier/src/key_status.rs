//! What `sys/key-status` reports.

use serde::Serialize;

/// The active encryption key's term, when it was installed, and how much it has been used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// The active term.
    pub term: u32,
    /// When the active term was installed, RFC 3339 with nanoseconds.
    pub install_time: String,
    /// Values encrypted with the active term since it was installed (persisted in batches,
    /// so after a crash it may be behind by at most one batch).
    pub encryptions: u64,
}
