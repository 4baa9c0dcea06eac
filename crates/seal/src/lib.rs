//! Seals protect Tresor's root key, the key that decrypts the barrier's keyring.
//!
//! A [`Seal`] wraps the root key into a [`WrappedKey`] that the core stores in plaintext
//! storage (at `core/root-key`, next to the [`SealConfig`] at `core/seal-config`), and unwraps
//! it again at unseal time. [`ShamirSeal`] wraps under a key-encryption key that only exists
//! while operators' key shares have been combined; auto seals (KMS, HSM, and [`TestSeal`] in
//! tests) hold their key elsewhere and unwrap without operator help.
//!
//! The [`ceremony`] module holds the pure state machines the core drives for `sys/unseal`,
//! `sys/generate-root` and `sys/rekey`: collecting shares under a nonce, decoding shares as
//! operators type them, and encoding a generated root token under a one-time pad.

pub mod ceremony;
mod config;
mod error;
mod seal;
mod seal_set;
mod shamir_seal;
mod wrapped;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
mod test_seal;

pub use ceremony::{
    CeremonyKind, Progress, ShareCollector, decode_key_share, root_token_decode, root_token_encode,
};
pub use config::SealConfig;
pub use error::{CeremonyError, SealError};
pub use seal::Seal;
pub use seal_set::SealSet;
pub use shamir_seal::ShamirSeal;
#[cfg(any(test, feature = "testing"))]
pub use test_seal::TestSeal;
pub use wrapped::WrappedKey;
