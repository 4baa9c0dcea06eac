//! The encrypting barrier between Tresor's logic and its physical storage.
//!
//! [`Barrier`] implements [`tresor_storage::Backend`] on top of another backend (the Raft
//! store): callers read and write plaintext, the physical store only ever sees ciphertext.
//! Every value is encrypted with AES-256-GCM under the active key of a [`Keyring`]
//! (term-numbered data keys), with the value's full storage key as associated data. The
//! keyring itself lives at `core/keyring`, encrypted under the root key, which the seal
//! protects and the core hands to [`Barrier::unseal`].
//!
//! The byte layout is specified in `docs/design/barrier-format.md`.
//!
//! [`Keyring`]: tresor_crypto::Keyring

mod backend_impl;
mod barrier;
mod derived;
mod detached;
mod envelope;
mod error;
mod key_status;
mod key_usage;

pub use barrier::{Barrier, KEYRING_PATH};
pub use envelope::FORMAT_VERSION;
pub use error::BarrierError;
pub use key_status::KeyStatus;
pub use key_usage::KEY_USAGE_PATH;
