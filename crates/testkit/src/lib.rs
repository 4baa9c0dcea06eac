//! Test support shared by Tresor's crates (dev-dependency only, never shipped).
//!
//! - [`ports`]: loopback ports for test servers, outside the kernel's ephemeral range.
//! - [`props`]: property tests with printed, replayable seeds, and the mutation strategies
//!   the parser tests (policies, configs, JSON limits) feed hostile text with.
//! - [`process`]: one `tresor server` child process on loopback, driven over HTTP.
//! - [`cluster`]: several node processes forming one Raft cluster through `retry_join`, on
//!   loopback or each in its own network namespace ([`netns`]).
//! - [`seal_node`]: server processes with `seal` stanzas (auto-unseal, migration tests).
//! - [`softhsm`]: SoftHSM2 tokens for PKCS#11; [`moto`]: a local AWS (KMS, EC2) server;
//!   [`fault_proxy`]: a TCP proxy whose stop is an outage.
//! - [`prometheus`]: a real Prometheus scraping test nodes, and `promtool`; [`rsyslog`]: a
//!   real syslog daemon on its own socket; [`tmpfs`]: a small disk to fill up.
//! - [`postgres`]: a real PostgreSQL server in a temporary directory (database engine tests).

pub mod cluster;
pub mod fault_proxy;
pub mod moto;
pub mod netns;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod props;
pub mod rsyslog;
pub mod seal_node;
pub mod softhsm;
pub mod test_layout;
pub mod tmpfs;
