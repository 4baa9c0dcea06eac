//! Audit: the table of enabled devices (kept in the barrier, the same on every node), the
//! broker the pipeline records through, and the trail one request leaves.
//!
//! **Fail closed.** With at least one device enabled, a request is served only after some
//! device recorded it, and its answer is returned only after some device recorded that.
//! Devices whose `filter` leaves an event out do not count; when every device leaves it out,
//! the `fallback` device records it (or nothing does, and the request goes on: a filter is
//! the operator's choice). A failed device write is logged and counted
//! (`vault.audit.device.failure`); when no device succeeded the request is refused with
//! Vault's `500 internal error` (`vault.audit.log_request_failure` /
//! `log_response_failure`). A write whose response entry fails after the change was
//! committed stays committed: the client gets the 500 and no answer (as in Vault).

mod broker;
mod manage;
pub(crate) mod table;
mod trail;

pub use broker::{AuditBroker, AuditError};
pub use manage::RawAudit;
pub use table::{AUDITED_HEADERS_PATH, AuditSettings, DeclaredAudit};
pub(crate) use table::{HeaderConfig, HeaderSetting};
pub(crate) use trail::AuditTrail;
pub use trail::RequestMeta;
