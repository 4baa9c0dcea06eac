//! The barrier's lifecycle: initialize, unseal, seal, rotate, rekey.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;
use tresor_crypto::{Key32, Keyring};
use tresor_storage::Backend;

use crate::envelope::{self, ROOT_TERM};
use crate::{BarrierError, KeyStatus};

/// Where the encrypted keyring is stored in the physical backend.
pub const KEYRING_PATH: &str = "core/keyring";

/// The keys held while unsealed. Immutable once built: every change installs a new one.
pub(crate) struct Unsealed {
    pub(crate) root_key: Key32,
    pub(crate) keyring: Keyring,
    /// Encryptions under the active term (loaded from storage, see `key_usage`, plus those
    /// made since).
    pub(crate) encryptions: AtomicU64,
    /// The part of `encryptions` known to be stored at `core/key-usage`.
    pub(crate) persisted: AtomicU64,
}

/// The encrypting barrier. Share it as `Arc<Barrier>` (or `Arc<dyn Backend>` for the plaintext
/// view). While sealed it holds no key material and refuses all reads and writes.
pub struct Barrier {
    pub(crate) physical: Arc<dyn Backend>,
    state: RwLock<Option<Arc<Unsealed>>>,
    /// Serializes keyring changes (initialize, unseal, rotate, rekey, reload) so that two
    /// of them never interleave their read-modify-write of `core/keyring`.
    admin: Mutex<()>,
    /// Set while a snapshot restore replaces the data underneath: writes are refused, so that
    /// nothing is encrypted with the keyring the restore is about to replace.
    frozen: std::sync::atomic::AtomicBool,
    /// Timings of reads and writes (`vault.barrier.*`); record nowhere unless
    /// [`Barrier::with_metrics`] was called.
    pub(crate) timings: BarrierTimings,
}

/// Handles on Vault's `vault.barrier.get/put/delete/list` summaries (ms).
#[derive(Clone, Debug)]
pub(crate) struct BarrierTimings {
    pub(crate) get: tresor_telemetry::Summary,
    pub(crate) put: tresor_telemetry::Summary,
    pub(crate) delete: tresor_telemetry::Summary,
    pub(crate) list: tresor_telemetry::Summary,
}

impl BarrierTimings {
    fn new(metrics: &tresor_telemetry::Metrics) -> BarrierTimings {
        use tresor_telemetry::names;
        BarrierTimings {
            get: metrics.summary(&names::BARRIER_GET, &[]),
            put: metrics.summary(&names::BARRIER_PUT, &[]),
            delete: metrics.summary(&names::BARRIER_DELETE, &[]),
            list: metrics.summary(&names::BARRIER_LIST, &[]),
        }
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl Barrier {
    /// A sealed barrier over `physical`, which holds only ciphertext.
    pub fn new(physical: Arc<dyn Backend>) -> Barrier {
        Barrier {
            physical,
            state: RwLock::new(None),
            admin: Mutex::new(()),
            frozen: std::sync::atomic::AtomicBool::new(false),
            timings: BarrierTimings::new(&tresor_telemetry::Metrics::new()),
        }
    }

    /// Records the time of every read, write, delete and listing through the barrier
    /// (decryption and encryption included) in `metrics` as Vault's `vault.barrier.get`,
    /// `put`, `delete` and `list` summaries (ms).
    pub fn with_metrics(mut self, metrics: &tresor_telemetry::Metrics) -> Barrier {
        self.timings = BarrierTimings::new(metrics);
        self
    }

    /// Whether a keyring exists in storage.
    pub async fn is_initialized(&self) -> Result<bool, BarrierError> {
        Ok(self.physical.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates a fresh keyring (term 1) and stores it encrypted under `root_key`. The barrier
    /// stays sealed; unseal it with the same key. Refuses if a keyring exists.
    pub async fn initialize(&self, root_key: &Key32) -> Result<(), BarrierError> {
        let _guard = self.admin.lock().await;
        if self.is_initialized().await? {
            return Err(BarrierError::AlreadyInitialized);
        }
        self.store_keyring(root_key, &Keyring::new()).await
    }

    /// Loads the keyring with `root_key` and keeps both in memory. A wrong key yields
    /// [`BarrierError::InvalidKey`] and changes nothing.
    pub async fn unseal(&self, root_key: &Key32) -> Result<(), BarrierError> {
        let _guard = self.admin.lock().await;
        let keyring = self.load_keyring(root_key).await?;
        self.install(Unsealed {
            root_key: root_key.clone(),
            keyring,
            encryptions: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
        });
        Ok(())
    }

    /// Refuses every write until [`Barrier::thaw_writes`] (a snapshot restore is replacing the
    /// data and possibly the keyring underneath).
    pub fn freeze_writes(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Accepts writes again.
    pub fn thaw_writes(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether writes are refused (see [`Barrier::freeze_writes`]).
    pub fn writes_frozen(&self) -> bool {
        self.frozen.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Drops every key from memory (they are zeroized once in-flight operations finish).
    pub fn seal(&self) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Adds a new term and makes it active. The new keyring is durably stored before any
    /// value is encrypted with the new term. Returns the new term.
    pub async fn rotate(&self) -> Result<u32, BarrierError> {
        let _guard = self.admin.lock().await;
        let current = self.unsealed()?;
        let mut keyring = current.keyring.clone();
        let term = keyring.rotate();
        self.store_keyring(&current.root_key, &keyring).await?;
        self.replace_if_unsealed(Unsealed {
            root_key: current.root_key.clone(),
            keyring,
            encryptions: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
        });
        Ok(term)
    }

    /// Re-reads the keyring from storage (a standby picks up a rotation made by the active
    /// node). Never moves back to an older active term.
    pub async fn reload_keyring(&self) -> Result<(), BarrierError> {
        let _guard = self.admin.lock().await;
        let current = self.unsealed()?;
        let keyring = self.load_keyring(&current.root_key).await?;
        if keyring == current.keyring {
            return Ok(());
        }
        if keyring.active_term() < current.keyring.active_term() {
            return Err(BarrierError::CorruptKeyring(format!(
                "stored keyring is at term {}, older than the term {} in use",
                keyring.active_term(),
                current.keyring.active_term()
            )));
        }
        let same_term = keyring.active_term() == current.keyring.active_term();
        let (carried, persisted) = if same_term {
            (
                current.encryptions.load(Ordering::Relaxed),
                current.persisted.load(Ordering::Relaxed),
            )
        } else {
            (0, 0)
        };
        self.replace_if_unsealed(Unsealed {
            root_key: current.root_key.clone(),
            keyring,
            encryptions: AtomicU64::new(carried),
            persisted: AtomicU64::new(persisted),
        });
        Ok(())
    }

    /// Re-reads the keyring after the stored data was replaced by a snapshot restore: the
    /// restored keyring may be at any term, older than the one in use. Fails with
    /// [`BarrierError::InvalidKey`] (and keeps the current keys) when the root key in use does
    /// not open it: the snapshot comes from a cluster with other keys, and the caller seals.
    pub async fn reload_keyring_after_restore(&self) -> Result<(), BarrierError> {
        let _guard = self.admin.lock().await;
        let current = self.unsealed()?;
        let keyring = self.load_keyring(&current.root_key).await?;
        self.replace_if_unsealed(Unsealed {
            root_key: current.root_key.clone(),
            keyring,
            encryptions: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
        });
        Ok(())
    }

    /// How long ago the active term was installed (zero if its install time is in the
    /// future, as after a clock step back).
    pub fn active_term_age(&self) -> Result<std::time::Duration, BarrierError> {
        let current = self.unsealed()?;
        let age = time::OffsetDateTime::now_utc() - current.keyring.active().install_time;
        Ok(age.try_into().unwrap_or_default())
    }

    /// The active term, its install time and the encryption count.
    pub fn key_status(&self) -> Result<KeyStatus, BarrierError> {
        let current = self.unsealed()?;
        let active = current.keyring.active();
        Ok(KeyStatus {
            term: active.term,
            install_time: active.install_time_rfc3339(),
            encryptions: current.encryptions.load(Ordering::Relaxed),
        })
    }

    /// Re-encrypts the keyring under `new_root_key` and uses that from now on. The caller
    /// wraps the new root key with the seal and stores it.
    pub async fn rekey(&self, new_root_key: &Key32) -> Result<(), BarrierError> {
        let _guard = self.admin.lock().await;
        let current = self.unsealed()?;
        self.store_keyring(new_root_key, &current.keyring).await?;
        self.replace_if_unsealed(Unsealed {
            root_key: new_root_key.clone(),
            keyring: current.keyring.clone(),
            encryptions: AtomicU64::new(current.encryptions.load(Ordering::Relaxed)),
            persisted: AtomicU64::new(current.persisted.load(Ordering::Relaxed)),
        });
        Ok(())
    }

    /// A copy of the root key, for the core to wrap with the seal.
    pub fn root_key(&self) -> Result<Key32, BarrierError> {
        Ok(self.unsealed()?.root_key.clone())
    }

    /// The current keys, or [`BarrierError::Sealed`].
    pub(crate) fn unsealed(&self) -> Result<Arc<Unsealed>, BarrierError> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(BarrierError::Sealed)
    }

    fn install(&self, state: Unsealed) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(state));
    }

    /// Installs `state` unless the barrier was sealed meanwhile (a seal always wins).
    fn replace_if_unsealed(&self, state: Unsealed) {
        let mut slot = self.state.write().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            *slot = Some(Arc::new(state));
        }
    }

    async fn store_keyring(&self, root_key: &Key32, keyring: &Keyring) -> Result<(), BarrierError> {
        let plain = keyring.to_bytes()?;
        let blob = envelope::seal(root_key, ROOT_TERM, KEYRING_PATH, &plain)?;
        self.physical.put(KEYRING_PATH, blob).await?;
        Ok(())
    }

    async fn load_keyring(&self, root_key: &Key32) -> Result<Keyring, BarrierError> {
        let blob = self
            .physical
            .get(KEYRING_PATH)
            .await?
            .ok_or(BarrierError::NotInitialized)?;
        match envelope::term_of(&blob) {
            Ok(ROOT_TERM) => {}
            Ok(term) => {
                return Err(BarrierError::CorruptKeyring(format!(
                    "keyring entry carries term {term}, expected {ROOT_TERM}"
                )));
            }
            Err(e) => return Err(BarrierError::CorruptKeyring(e.to_string())),
        }
        let plain =
            envelope::open(root_key, KEYRING_PATH, &blob).map_err(|_| BarrierError::InvalidKey)?;
        Keyring::from_bytes(&plain).map_err(|e| BarrierError::CorruptKeyring(e.to_string()))
    }
}
