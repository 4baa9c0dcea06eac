//! The `transit` auto-unseal seal: Tresor's root key is encrypted by a key of another Tresor
//! (or Vault) cluster's transit secrets engine, so a node that restarts unseals itself by
//! asking that cluster to decrypt it, and the key never leaves that cluster.
//!
//! Wrapping is one call to `POST /v1/<mount_path>/encrypt/<key_name>`; the resulting
//! `vault:v<N>:...` ciphertext is stored as the [`WrappedKey`](tresor_seal::WrappedKey)'s
//! ciphertext, with key id `<key_name>:v<N>`. Unwrapping is `POST .../decrypt/<key_name>`.
//!
//! Configuration comes from a `seal "transit"` stanza ([`TransitSettings::from_stanza`]) with
//! Vault's environment variables: `address`, `token`, `key_name`, `mount_path` (default
//! `transit/`), `namespace`, `disable_renewal` and the `tls_*` options. A non-empty `namespace`
//! is sent as the `X-Vault-Namespace` header, as Vault's client does: Vault Enterprise honours
//! it, Tresor (which has no namespaces) ignores it. Environment precedence is Vault's: the
//! key variables override the stanza, the connection variables only fill in what it leaves
//! out (see [`TransitSettings::from_stanza`]). Unlike Vault, a token is required.
//!
//! As with Vault, encrypting under a transit key that does not exist creates it when the
//! token may create keys; the key should be created (and its deletion left disallowed) before
//! the seal is used.
//!
//! Calls are bounded ([`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`]). Refused connections, timeouts,
//! and 5xx/429/412 answers (a sealed or overloaded server) are
//! [`SealError::Unavailable`](tresor_seal::SealError::Unavailable), which the core retries;
//! other refusals are final and name the transit seal (see [`TransitError`]).

mod ciphertext;
mod client;
mod error;
mod renewal;
mod seal;
mod settings;
mod tls;

pub use client::{CONNECT_TIMEOUT, REQUEST_TIMEOUT, Timeouts};
pub use error::TransitError;
pub use seal::TransitSeal;
pub use settings::{
    DEFAULT_MOUNT_PATH, ENV_ADDR, ENV_CACERT, ENV_CLIENT_CERT, ENV_CLIENT_KEY, ENV_DISABLE_RENEWAL,
    ENV_KEY_NAME, ENV_MOUNT_PATH, ENV_NAMESPACE, ENV_SKIP_VERIFY, ENV_TLS_SERVER_NAME, ENV_TOKEN,
    TlsSettings, TransitSettings,
};

/// The seal type, as configured (`seal "transit"`) and recorded in every wrapped key.
pub const SEAL_TYPE: &str = "transit";
