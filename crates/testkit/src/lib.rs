//! Test support shared by Tresor's crates (dev-dependency only, never shipped).
//!
//! - [`ports`]: loopback ports for test servers, outside the kernel's ephemeral range.
//! - [`props`]: property tests with printed, replayable seeds, and the mutation strategies
//!   the parser tests (policies, configs, JSON limits) feed hostile text with.

pub mod ports;
pub mod props;
