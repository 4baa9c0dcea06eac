//! Cryptographic primitives of Tresor. Pure and synchronous: no I/O besides the operating
//! system's random source and `mlockall`.
//!
//! - [`Key32`]: a 256-bit key that zeroizes itself and never prints.
//! - [`aead`]: AES-256-GCM with a random 96-bit nonce, `nonce || ciphertext || tag`.
//! - [`shamir`]: Shamir secret sharing over GF(2^8), one x-coordinate byte appended per share.
//! - [`Keyring`]: the barrier's term-numbered data keys and their serialized form.
//! - [`ct_eq`], [`random_bytes`], [`random_base62`]: small helpers for secrets and tokens.
//! - [`lock_memory`]: keeps the process's pages out of swap.

pub mod aead;
mod error;
mod gf256;
mod key;
mod keyring;
mod mlock;
mod random;
pub mod shamir;

pub use error::CryptoError;
pub use key::{KEY_LEN, Key32};
pub use keyring::{Keyring, TermKey};
pub use mlock::lock_memory;
pub use random::{ct_eq, random_base62, random_bytes};
