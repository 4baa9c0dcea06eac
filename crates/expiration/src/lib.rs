//! The expiration manager: every dynamic secret a backend hands out (a response carrying a
//! [`tresor_sdk::Secret`]) gets a lease, kept under the barrier so that whichever node is
//! active next finds it, renewed through its backend on request, and revoked through its
//! backend when it expires or an operator revokes it.
//!
//! - [`LeaseEntry`] is what is stored, one entry per lease at `id/<lease id>` of the
//!   manager's storage view ([`LeaseStore`]).
//! - [`policy`] holds the pure rules: a lease's TTL at issue and at renewal, the retry
//!   schedule of failed revocations and when a lease becomes irrevocable.
//! - [`ExpirationManager`] is the active node's manager: it loads every lease at activation,
//!   keeps an in-memory index by due time, and serves lookup, list, renew, revoke, revoke by
//!   prefix (also forced), tidy and the counts. The backend calls go through the
//!   [`LeaseBackend`] trait, which the core implements by routing a lease to its mount.
//! - [`SweepTask`] revokes due leases in the background while the node is active. A failed
//!   revocation is retried with exponential backoff and never dropped silently: after
//!   [`policy::RetryPolicy::max_attempts`] failures the lease is marked irrevocable, stays
//!   stored with its last error, and is listed by `sys/leases?type=irrevocable` until an
//!   operator revokes it (`revoke-force` deletes it without the backend).

mod entry;
mod error;
mod manager;
pub mod policy;
mod store;
mod sweep;

pub use entry::{LeaseEntry, new_lease_id};
pub use error::ExpirationError;
pub use manager::{ExpirationManager, LeaseBackend, Renewed};
pub use policy::{RetryPolicy, TtlBounds};
pub use store::LeaseStore;
pub use sweep::SweepTask;
