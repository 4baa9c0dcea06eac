//! Test support shared by Tresor's crates (dev-dependency only, never shipped).
//!
//! - [`ports`]: loopback ports for test servers, outside the kernel's ephemeral range.
//! - [`props`]: property tests with printed, replayable seeds, and the mutation strategies
//!   the parser tests (policies, configs, JSON limits) feed hostile text with.
//! - [`process`]: one `tresor server` child process on loopback, driven over HTTP.
//! - [`cluster`]: several node processes forming one Raft cluster through `retry_join`, on
//!   loopback or each in its own network namespace ([`netns`]).

pub mod ports;
pub mod props;
pub mod cluster;
pub mod netns;
pub mod process;
