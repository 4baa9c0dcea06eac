//! The `pkcs11` auto seal: Tresor's root key is wrapped by an AES-256 key that lives in an HSM
//! and never leaves it, using `CKM_AES_GCM` through the PKCS#11 module named by the stanza's
//! `lib` (loaded at run time with cryptoki; no C headers or link-time dependency).
//!
//! ```hcl
//! seal "pkcs11" {
//!   lib           = "/usr/lib/softhsm/libsofthsm2.so"
//!   token_label   = "tresor"        # or slot = "0"
//!   pin           = "1234"          # or VAULT_HSM_PIN
//!   key_label     = "tresor-root"   # and/or key_id = "0a1b..." (CKA_ID, hex)
//!   mechanism     = "0x1087"        # CKM_AES_GCM, the only one supported
//!   generate_key  = "true"          # create the key if it is missing
//! }
//! ```
//!
//! The stored format (IV, ciphertext and tag; key id `<label>#<CKA_ID hex>`) is described in
//! the `blob` module.

mod blob;
mod config;
mod error;
mod module;
mod seal;
mod session;

pub use seal::Pkcs11Seal;

/// The seal type this crate implements, as recorded in wrapped keys and seal-status.
pub const SEAL_TYPE: &str = "pkcs11";
