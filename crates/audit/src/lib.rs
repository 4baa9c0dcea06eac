//! Audit devices for Tresor.
//!
//! Each device turns the pipeline's [`AuditEvent`](tresor_sdk::audit::AuditEvent)s into lines
//! in Vault's audit entry shape ([`entry`]): tokens, accessors and every string value of
//! request and response data hashed with the device's own salt ([`hash`]), unless `log_raw`.
//! The options all types share ([`options`]) add `filter` ([`filter`]), `exclude` (JSON
//! pointers) and `prefix`. Types: [`file`], [`socket`], [`syslog`] and [`http`]. The core
//! keeps the audit table and decides what a failed write means (fail closed).

pub mod device;
pub mod entry;
pub mod file;
pub mod filter;
pub mod hash;
pub mod http;
pub mod options;
pub mod socket;
pub mod syslog;

use std::sync::Arc;

use tresor_sdk::audit::AuditRegistry;

/// Every device type Tresor ships.
pub fn registry() -> AuditRegistry {
    let mut r = AuditRegistry::new();
    r.register(Arc::new(file::FileFactory));
    r.register(Arc::new(socket::SocketFactory));
    r.register(Arc::new(syslog::SyslogFactory::default()));
    r.register(Arc::new(http::HttpFactory));
    r
}
