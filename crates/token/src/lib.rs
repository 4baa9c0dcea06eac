//! Tresor's token store and the `auth/token/` backend.
//!
//! [`TokenStore`] keeps service tokens in a private storage view, keyed by a salted SHA-256
//! hash of the token id (the plain id is never a storage key), with an accessor index and a
//! parent→children index so that revoking a token revokes its descendants. The core uses it to
//! authenticate every request ([`TokenStore::authorize`] counts uses) and to issue the root
//! token; [`TokenBackend`] serves the token API (`create`, `lookup`, `renew`, `revoke`, roles,
//! accessors, tidy).
//!
//! A token is usable only while it and all its ancestors exist, have not expired and are not
//! being revoked ([`validity`]); revoking a token revokes its subtree durably (a marker makes
//! the whole subtree unusable first and lets an interrupted revocation resume). On the active
//! node an [`ExpiryTask`] sweeps the expiry index ([`TokenStore::expire_due`]) every few seconds
//! and revokes expired tokens with their children.
//!
//! TTL arithmetic ([`ttl`]), policy rules ([`policies`]), usability ([`validity`]), the expiry
//! index layout and creation planning ([`create`]) are pure and tested without a runtime; time
//! comes from an injectable [`Clock`].
//!
//! Response wrapping lives here too: a wrapping token and the response it guards are stored
//! together (the response under the token's salted hash) and disappear together, whether the
//! token is unwrapped, revoked, expires or is tidied.
//!
//! Tokens issued by logins (the core's login stage) carry their entity id and their own
//! maximum TTL, which renewals respect.
//!
//! Batch tokens ([`batch`]) are never stored: the token (`hvb.` + base64url) is an
//! AES-256-GCM sealed record of its policies, times, metadata and parent, under a key the
//! [`BatchKeys`] supply by term (the core derives them from the barrier keyring, so every node
//! opens them and a rotation keeps older ones valid). They are checked on every use against
//! their expiry and their parent's record; they cannot be renewed, revoked, create tokens,
//! carry `num_uses`, a period or an explicit max TTL, or be root. [`TokenStore::create`] mints
//! one when the entry's `token_type` is `batch` ([`TokenStore::create_batch`]); roles issue
//! them with `token_type` `batch` or `default-batch`.
//!
//! Tokens may be bound to CIDR blocks (roles' `token_bound_cidrs`): [`TokenStore::authorize_from`]
//! refuses them from other addresses, and [`TokenStore::authorize`], which knows no address,
//! refuses them always.

mod backend;
pub mod batch;
mod clock;
pub mod create;
mod entry;
mod error;
mod expiry_index;
mod expiry_task;
mod ids;
pub mod policies;
mod role;
mod store;
pub mod ttl;
pub mod validity;

pub use backend::TokenBackend;
pub use batch::{BATCH_PREFIX, BATCH_TYPE, BatchKeys, FixedBatchKeys};
pub use clock::{Clock, ManualClock, SystemClock};
pub use entry::{
    DEFAULT_POLICY, RESPONSE_WRAPPING_POLICY, ROOT_POLICY, SERVICE_TYPE, TokenEntry, TtlLimits,
};
pub use error::TokenError;
pub use expiry_task::ExpiryTask;
pub use ids::{new_accessor, new_token_id};
pub use role::TokenRole;
pub use store::{AccessorEntry, Sweep, TokenStore, Unwrapped};
