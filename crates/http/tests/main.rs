//! The integration tests of this crate, one test binary: each file beside this one is a
//! module here (a binary per file cost a CI run its disk). Run one file's tests with
//! `cargo test -p <crate> --test integration <file>::`.

mod audit_api;
mod audit_sinks;
mod auth_methods;
mod auto_seal_api;
mod autosnap_api;
mod batch_tokens_api;
mod common;
mod hostile_bodies;
mod hostile_paths;
mod json_limits_props;
mod jwt_k8s_auth;
mod leases_api;
mod listener_hardening;
mod metrics_api;
mod pki_api;
mod raft_join_api;
mod raft_snapshot_api;
mod rotate_config_api;
