//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod audit_process;
mod auto_join;
mod auto_unseal_awskms;
mod auto_unseal_pkcs11;
mod autopilot;
mod clean_shutdown;
mod cli_e2e;
mod config_check;
mod database_leases;
mod disaster_restore;
mod ha_cluster;
mod ha_faults;
mod ha_partition;
mod jepsen;
mod key_ceremonies;
mod kv_http;
mod metrics;
mod prometheus_rules;
mod recovery;
mod seal_lifecycle;
mod seal_migration;
mod server_logs;
mod snapshot_auto;
mod snapshots;
mod snapshots_cluster;
mod tls_and_dev;
mod token_types_cluster;
mod tokens_policies;
mod wrapping;
