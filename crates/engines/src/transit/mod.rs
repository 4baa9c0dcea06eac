//! The transit secrets engine: encryption, signing and MACs as a service with named,
//! versioned keys.
//!
//! Endpoints (relative to the mount), with Vault's paths, fields and JSON:
//! - `keys/` (LIST), `keys/<name>` (create, read, delete), `keys/<name>/config`,
//!   `keys/<name>/rotate`, `keys/<name>/trim`,
//!   `export/<encryption-key|signing-key|hmac-key|public-key>/<name>[/<version>]`;
//! - `encrypt/<name>` (creates the key on first use when the core asked for `create`),
//!   `decrypt/<name>`, `rewrap/<name>`, `datakey/<plaintext|wrapped>/<name>`;
//! - `sign/<name>[/<hash>]`, `verify/<name>[/<hash>]` (a `signature` or an `hmac`),
//!   `hmac/<name>[/<algorithm>]`; these and the encryption endpoints take `batch_input`
//!   (at most 10,000 items);
//! - `backup/<name>`, `restore[/<name>]` (`force` replaces an existing key);
//! - `random[/<source>][/<bytes>]`, `hash[/<algorithm>]`.
//!
//! Key types: `aes256-gcm96` (default), `aes128-gcm96`, `chacha20-poly1305` (encryption);
//! `ed25519`, `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `rsa-2048`, `rsa-3072`, `rsa-4096`
//! (signing). Every version also holds an HMAC key. `derived` keys (the AEAD types and
//! ed25519) use HKDF-SHA256 of the version's key with the request's `context`;
//! `convergent_encryption` makes the nonce the HMAC-SHA256 of the plaintext under the derived
//! key, so equal plaintexts and contexts give equal ciphertexts. Ciphertexts, signatures and
//! HMACs are `vault:v<N>:<base64>`; an AEAD blob is `nonce || ciphertext || tag`.
//!
//! Not offered: RSA encryption, key import (BYOK), CMAC, managed keys. The backup is
//! Tresor's own format (base64 of a JSON of the stored key), readable by Tresor only; see
//! `docs/design/transit.md`.
//!
//! Source layout: `route` maps paths to endpoints, `policy` holds a key's versions and the
//! version rules (pure), `cipher` the key types and the AEAD, `asym` the signing keys,
//! `hashalg` the digests and HMAC, `ciphertext` the `vault:v<N>:` string format, `batch`
//! item fields and batch responses, `store` the storage layout, and the handlers live in
//! `keys` (key management, trim, export), `crypt` (encrypt, decrypt, rewrap, datakey), `sign`
//! (sign, verify, hmac), `backup` (backup, restore) and `util` (random, hash).

mod asym;
mod backup;
mod batch;
mod cipher;
mod ciphertext;
mod crypt;
mod hashalg;
mod keys;
mod policy;
#[cfg(test)]
mod props;
mod route;
mod sign;
mod store;
mod util;

use async_trait::async_trait;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response};

use zeroize::Zeroizing;

use crate::clock::{Clock, system_clock};
use crate::locks::KeyLocks;
use cipher::KeyType;
use route::Route;
use store::Store;

/// The transit engine.
///
/// Key material is kept in the mount's storage view (encrypted by the barrier) and read per
/// request, so every node sees the same keys without a cache to invalidate. Changes to one key
/// (create, rotate, config, upsert on encrypt, automatic rotation) are serialised by an
/// in-process lock per key name.
pub struct Transit {
    locks: KeyLocks,
    clock: Clock,
}

impl std::fmt::Debug for Transit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transit").finish_non_exhaustive()
    }
}

impl Default for Transit {
    fn default() -> Self {
        Self::new()
    }
}

impl Transit {
    /// A transit backend on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// A transit backend reading "now" from `clock` (nanoseconds since the epoch); for tests of
    /// key creation times and automatic rotation.
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            locks: KeyLocks::new(),
            clock,
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// Refuses names that cannot be key names.
fn check_name(name: &str) -> Result<(), LogicalError> {
    if route::valid_name(name) {
        Ok(())
    } else {
        Err(LogicalError::invalid(format!(
            "invalid key name {name:?}: use letters, digits, '-', '_' and '.'"
        )))
    }
}

/// Fresh key material of type `t`. RSA generation takes long (up to seconds for 4096 bits),
/// so it runs on the blocking pool instead of the async runtime's threads.
async fn generate_key(t: KeyType) -> Result<Zeroizing<Vec<u8>>, LogicalError> {
    if t.signs() && t != KeyType::Ed25519 {
        tokio::task::spawn_blocking(move || asym::generate(t))
            .await
            .map_err(|e| LogicalError::Internal(format!("key generation task: {e}")))?
    } else {
        asym::generate(t)
    }
}

#[async_trait]
impl LogicalBackend for Transit {
    /// Key reads, lists, exports and backups only read storage.
    fn standby_readable(&self, _path: &str) -> bool {
        true
    }

    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        use Operation::{Create, Delete, List, Read, Update};
        let route = route::parse(&req.path).ok_or(LogicalError::UnsupportedPath)?;
        match (route, req.operation) {
            (Route::KeyList, List) => keys::list(req).await,
            (Route::Key(n), Read) => keys::read(req, n).await,
            (Route::Key(n), Create | Update) => self.create_key(req, n).await,
            (Route::Key(n), Delete) => self.delete_key(req, n).await,
            (Route::KeyConfig(n), Create | Update) => self.configure_key(req, n).await,
            (Route::KeyRotate(n), Create | Update) => self.rotate_key(req, n).await,
            (Route::KeyTrim(n), Create | Update) => self.trim_key(req, n).await,
            (Route::Sign(n, alg), Create | Update) => self.sign(req, n, alg).await,
            (Route::Verify(n, alg), Create | Update) => sign::verify(req, n, alg).await,
            (Route::Hmac(n, alg), Create | Update) => self.hmac(req, n, alg).await,
            (Route::Backup(n), Read) => backup::backup(req, n).await,
            (Route::Restore(n), Create | Update) => self.restore(req, n).await,
            (
                Route::Export {
                    kind,
                    name,
                    version,
                },
                Read,
            ) => keys::export(req, kind, name, version).await,
            (Route::Encrypt(n), Create | Update) => self.encrypt(req, n).await,
            (Route::Decrypt(n), Create | Update) => crypt::decrypt(req, n).await,
            (Route::Rewrap(n), Create | Update) => self.rewrap(req, n).await,
            (Route::DataKey { kind, name }, Create | Update) => self.datakey(req, kind, name).await,
            (Route::Random(rest), Create | Update) => util::random(req, rest),
            (Route::Hash(alg), Create | Update) => util::hash(req, alg),
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        // Only encrypt distinguishes create from update: encrypting under a missing key
        // creates it, which needs the `create` capability.
        match route::parse(&req.path) {
            Some(Route::Encrypt(name)) => {
                if !route::valid_name(name) {
                    return Ok(Some(false));
                }
                Ok(Some(Store::new(&req.storage).load(name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}
