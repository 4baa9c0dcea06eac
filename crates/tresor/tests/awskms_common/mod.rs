//! Harness for the awskms process tests: a moto_server (a local AWS KMS) per test, KMS keys
//! created over its JSON API, a TCP [`FaultProxy`] between the nodes and moto (stopping the
//! proxy is the KMS outage: moto keeps its keys in memory, so it is never restarted), and
//! `seal "awskms"` stanzas with static dummy credentials. Loopback only.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub
)]

mod moto;
mod proxy;

pub use moto::Moto;
pub use proxy::FaultProxy;

/// A `seal "awskms"` stanza for `kms_key_id` reached at `endpoint`, with static dummy
/// credentials (the default credential chain is never consulted) in us-east-1.
pub fn stanza(endpoint: &str, kms_key_id: &str, disabled: bool) -> String {
    format!(
        "seal \"awskms\" {{\n  region = \"us-east-1\"\n  kms_key_id = \"{kms_key_id}\"\n  \
         endpoint = \"{endpoint}\"\n  access_key = \"test\"\n  secret_key = \"test\"\n  \
         disabled = \"{disabled}\"\n}}\n"
    )
}
