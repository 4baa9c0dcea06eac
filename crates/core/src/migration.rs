//! Seal migration, as Vault does it: the server config names the seal(s) to use, the stored
//! seal configuration says what the root key is protected by. When they differ the node starts
//! sealed in migration mode (`migration: true` in seal-status) and only takes
//! `sys/unseal` with `migrate: true`, fed with the OLD seal's operator shares: the Shamir
//! unseal keys (Shamir → auto) or the recovery keys (auto → Shamir, auto → auto).
//!
//! At threshold the root key is unwrapped through the old seal and rewrapped under the new
//! one; the new root-key entry, recovery-key entry and seal configuration are prepared at once
//! (so a new seal that cannot wrap fails the unseal) and written in one atomic batch by the
//! active node, right before it loads its state. The operators keep the shares they hold:
//! Shamir unseal keys become recovery keys and the other way round; recovery keys stay valid
//! across auto → auto.
//!
//! In a cluster every node restarted with the new config sees the old stored configuration and
//! waits; the first node to be unsealed with `-migrate` and become active writes the new one,
//! and the others, reading it from replicated storage, simply unseal with the new seal (or the
//! new shares).

use std::fmt;

use tresor_crypto::{Key32, ct_eq};
use tresor_seal::{Seal, SealConfig, SealSet, ShamirSeal, WrappedKey};
use zeroize::Zeroizing;

use crate::core::{Core, ROOT_KEY_PATH, SEAL_CONFIG_PATH, combine_kek, lock};
use crate::error::CoreError;
use crate::recovery::{RECOVERY_KEY_PATH, auto_init_config, combine_recovery, uses_recovery_keys};

/// A seal migration the node's configuration asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealMigration {
    /// The stored root key is protected by Shamir key shares; the config names an auto seal.
    ShamirToAuto {
        /// The new seal type.
        to: String,
    },
    /// The stored root key is protected by an auto seal; the config names no enabled one.
    AutoToShamir {
        /// The old seal type.
        from: String,
    },
    /// The stored root key is protected by an auto seal other than the configured one (another
    /// type, or the same type with another key, named by a disabled stanza).
    AutoToAuto {
        /// The old seal type.
        from: String,
        /// The new seal type.
        to: String,
    },
}

impl SealMigration {
    /// The seal the root key is protected by now.
    pub fn from(&self) -> &str {
        match self {
            SealMigration::ShamirToAuto { .. } => "shamir",
            SealMigration::AutoToShamir { from } | SealMigration::AutoToAuto { from, .. } => from,
        }
    }

    /// The seal the root key will be protected by.
    pub fn to(&self) -> &str {
        match self {
            SealMigration::AutoToShamir { .. } => "shamir",
            SealMigration::ShamirToAuto { to } | SealMigration::AutoToAuto { to, .. } => to,
        }
    }
}

impl fmt::Display for SealMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from(), self.to())
    }
}

/// The migration implied by the stored seal type and the configured auto seal type (`None`:
/// Shamir), when the types alone show one. Same-type migrations (a new key of the same seal)
/// need the seals themselves ([`Core::detect_same_type_migration`]).
pub(crate) fn migration_by_type(stored: &str, configured: Option<&str>) -> Option<SealMigration> {
    match (stored, configured) {
        ("shamir", None) => None,
        ("shamir", Some(to)) => Some(SealMigration::ShamirToAuto { to: to.to_owned() }),
        (from, None) => Some(SealMigration::AutoToShamir {
            from: from.to_owned(),
        }),
        (from, Some(to)) if from != to => Some(SealMigration::AutoToAuto {
            from: from.to_owned(),
            to: to.to_owned(),
        }),
        _ => None,
    }
}

/// Whether every copy `probe` (what the configured seals wrap under now) has a stored copy
/// recorded with the same seal type and key id: then the stored key already belongs to the
/// configured seals.
pub(crate) fn stored_under_current_keys(stored: &[WrappedKey], probe: &[WrappedKey]) -> bool {
    probe.iter().all(|p| {
        stored
            .iter()
            .any(|s| s.seal_type == p.seal_type && s.key_id == p.key_id)
    })
}

/// How long the active node waits for the migration write to commit before it gives up for
/// now (the write may still commit later; the plan is kept and checked again).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long `unseal -migrate` itself waits for that write (a cluster without quorum yet
/// answers the unseal and lets the node write once it leads).
const UNSEAL_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// What a completed `unseal -migrate` leaves for the active node to write.
#[derive(Clone)]
pub(crate) struct MigrationPlan {
    migration: SealMigration,
    /// The stored configuration and root-key entry it migrates from: if storage shows anything
    /// else when the plan is due (another node migrated first), the plan is dropped.
    from_config: Vec<u8>,
    from_root_entry: Vec<u8>,
    to_config: SealConfig,
    root_entry: Vec<u8>,
    /// The new recovery-key entry; `None` removes it (to Shamir).
    recovery_entry: Option<Vec<u8>>,
}

/// The migration state a core keeps between calls.
#[derive(Default)]
pub(crate) struct MigrationTracker {
    /// A root-key entry the old (disabled) seals protect but the configured ones do not wrap
    /// under their current keys: a same-type migration is pending while storage holds it.
    detected_entry: Option<Vec<u8>>,
    /// Prepared by `unseal -migrate`, written when this node is (or becomes) active.
    plan: Option<MigrationPlan>,
}

impl Core {
    /// The seal migration this node's configuration asks for, if one is pending: shown by the
    /// stored seal configuration, or a same-type migration already detected by the auto-unseal
    /// task. `None` when storage is not initialized.
    pub async fn pending_migration(&self) -> Result<Option<SealMigration>, CoreError> {
        let Some(config) = self.seal_config().await? else {
            return Ok(None);
        };
        let configured = self.seals.as_ref().map(|s| s.seal_type());
        if let Some(m) = migration_by_type(&config.seal_type, configured) {
            return Ok(Some(m));
        }
        let detected = lock(&self.migration).detected_entry.clone();
        match detected {
            Some(entry) if self.physical.get(ROOT_KEY_PATH).await?.as_deref() == Some(&entry) => {
                Ok(Some(SealMigration::AutoToAuto {
                    from: config.seal_type.clone(),
                    to: config.seal_type,
                }))
            }
            _ => Ok(None),
        }
    }

    /// With old (disabled) seals of the stored type configured next to the new ones: asks the
    /// configured seals which key they wrap under now and compares with the stored copies.
    /// Returns whether a same-type migration is pending (and remembers it).
    pub(crate) async fn detect_same_type_migration(
        &self,
        config: &SealConfig,
    ) -> Result<bool, CoreError> {
        let (Some(seals), Some(_)) = (&self.seals, &self.old_seals) else {
            return Ok(false);
        };
        if !uses_recovery_keys(config) || config.seal_type != seals.seal_type() {
            return Ok(false);
        }
        let Some(entry) = self.physical.get(ROOT_KEY_PATH).await? else {
            return Ok(false);
        };
        if lock(&self.migration).detected_entry.as_deref() == Some(entry.as_slice()) {
            return Ok(true);
        }
        let stored = WrappedKey::list_from_json(&entry)
            .map_err(|e| CoreError::Internal(format!("corrupt root key entry: {e}")))?;
        let probe = seals
            .wrap_all(b"tresor seal migration probe")
            .await
            .map_err(|e| CoreError::Seal(format!("asking the configured seal for its key: {e}")))?;
        if stored_under_current_keys(&stored, &probe) {
            return Ok(false);
        }
        tracing::warn!(
            seal = %config.seal_type,
            "the stored root key is not wrapped under the configured seal's key: seal \
             migration pending; unseal with `operator unseal -migrate` and the recovery keys"
        );
        lock(&self.migration).detected_entry = Some(entry);
        Ok(true)
    }

    /// The pending migration, running same-type detection when the types agree.
    async fn migration_for(&self, config: &SealConfig) -> Result<Option<SealMigration>, CoreError> {
        if let Some(m) = self.pending_migration().await? {
            return Ok(Some(m));
        }
        if self.detect_same_type_migration(config).await? {
            return Ok(Some(SealMigration::AutoToAuto {
                from: config.seal_type.clone(),
                to: config.seal_type.clone(),
            }));
        }
        Ok(None)
    }

    /// `sys/unseal` with `migrate: true`: collects the old seal's shares; at threshold
    /// unwraps the root key through the old seal, prepares the new seal's entries, unseals, and
    /// (on the active node) writes them. Refused when no migration is pending.
    pub async fn unseal_migrate(
        &self,
        key: Option<&str>,
        reset: bool,
    ) -> Result<crate::SealStatus, CoreError> {
        let guard = self.lifecycle.lock().await;
        let config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
        if reset {
            if !self.is_sealed() {
                return Err(CoreError::invalid("vault is unsealed"));
            }
            *lock(&self.unseal_progress) = None;
            drop(guard);
            return self.seal_status().await;
        }
        let Some(key) = key else {
            return Err(CoreError::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            ));
        };
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        if !self.is_sealed() {
            drop(guard);
            return self.seal_status().await;
        }
        let Some(migration) = self.migration_for(&config).await? else {
            return Err(CoreError::invalid(format!(
                "can't perform a seal migration: none is pending (storage is sealed with the {} \
                 seal, as configured); unseal without -migrate",
                config.seal_type
            )));
        };
        let threshold = crate::recovery::operator_threshold(&config);
        let Some(shares) = self.collect_share(threshold, &share)? else {
            drop(guard);
            return self.seal_status().await;
        };
        let (root, plan) = self.prepare_migration(migration, &config, &shares).await?;
        let to_shamir_kek = match &plan.migration {
            SealMigration::AutoToShamir { .. } => combine_recovery(&config, &shares),
            _ => None,
        };
        tracing::info!(migration = %plan.migration, "seal migration: old seal's keys accepted");
        self.barrier
            .unseal(&root)
            .await
            .map_err(CoreError::barrier("failed to unseal barrier"))?;
        lock(&self.migration).plan = Some(plan);
        if let Some(kek) = to_shamir_kek {
            self.shamir.set_kek(kek);
        }
        if let Err(e) = self.after_unseal().await {
            self.barrier.seal();
            self.shamir.clear_kek();
            lock(&self.migration).plan = None;
            return Err(e);
        }
        tracing::info!("vault is unsealed (seal migration)");
        drop(guard);
        self.seal_status().await
    }

    /// Adds one share to the unseal attempt; the shares once `threshold` are in.
    fn collect_share(
        &self,
        threshold: u32,
        share: &[u8],
    ) -> Result<Option<Vec<Zeroizing<Vec<u8>>>>, CoreError> {
        let mut progress = lock(&self.unseal_progress);
        let collector =
            progress.get_or_insert_with(|| tresor_seal::ShareCollector::new(threshold as usize));
        match collector.add(share, None) {
            Ok(_) | Err(tresor_seal::CeremonyError::DuplicateShare { .. }) => {}
            Err(e) => return Err(CoreError::invalid(e.to_string())),
        }
        if collector.is_complete() {
            let shares = collector.take_shares();
            *progress = None;
            Ok(Some(shares))
        } else {
            Ok(None)
        }
    }

    /// Checks the old seal's shares and builds the new entries. Returns the root key and the
    /// plan; nothing is written.
    async fn prepare_migration(
        &self,
        migration: SealMigration,
        config: &SealConfig,
        shares: &[Zeroizing<Vec<u8>>],
    ) -> Result<(Key32, MigrationPlan), CoreError> {
        let from_config = self
            .physical
            .get(SEAL_CONFIG_PATH)
            .await?
            .ok_or(CoreError::NotInitialized)?;
        let from_root_entry = self
            .physical
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or_else(|| CoreError::Internal("root key missing from storage".into()))?;
        let (root, to_config, root_entry, recovery_entry) = match &migration {
            SealMigration::ShamirToAuto { .. } => {
                // The unseal key shares are shares of the key-encryption key; it becomes the
                // recovery key, so the same shares now serve as recovery keys.
                let kek = combine_kek(config, shares)?;
                let root = self.unwrap_root_key(&kek).await?;
                let seals = self.auto_seals()?;
                let to_config = auto_init_config(
                    seals.seal_type(),
                    Some(config.secret_shares),
                    Some(config.secret_threshold),
                )?;
                let root_entry = wrap_under(seals, &root, "root").await?;
                let recovery_entry = wrap_under(seals, &kek, "recovery").await?;
                (root, to_config, root_entry, Some(recovery_entry))
            }
            SealMigration::AutoToShamir { .. } | SealMigration::AutoToAuto { .. } => {
                let old = self.old_seals.as_ref().ok_or_else(|| {
                    CoreError::invalid(format!(
                        "the stored root key is protected by the {} seal: keep its seal stanza \
                         in the configuration with disabled = \"true\" to migrate away from it",
                        config.seal_type
                    ))
                })?;
                let recovery = self.old_recovery_key(old, config, shares).await?;
                let copies = WrappedKey::list_from_json(&from_root_entry)
                    .map_err(|e| CoreError::Internal(format!("corrupt root key entry: {e}")))?;
                let raw = old.unwrap_any(&copies).await.map_err(|e| {
                    CoreError::Seal(format!("old seal: unwrapping the root key: {e}"))
                })?;
                let root = Key32::from_slice(&raw)
                    .map_err(|e| CoreError::Internal(format!("root key: {e}")))?;
                if let SealMigration::AutoToShamir { .. } = migration {
                    // The recovery key becomes the key-encryption key: the recovery shares
                    // are the new unseal keys.
                    let shamir = ShamirSeal::new();
                    shamir.set_kek(recovery);
                    let wrapped = shamir
                        .wrap(root.as_bytes())
                        .await
                        .map_err(|e| CoreError::Internal(format!("wrapping the root key: {e}")))?;
                    let to_config = SealConfig::shamir(
                        config.recovery_shares.unwrap_or(0),
                        config.recovery_threshold.unwrap_or(0),
                    );
                    (root, to_config, serde_json::to_vec(&wrapped)?, None)
                } else {
                    let seals = self.auto_seals()?;
                    let to_config = SealConfig {
                        seal_type: seals.seal_type().to_owned(),
                        ..config.clone()
                    };
                    let root_entry = wrap_under(seals, &root, "root").await?;
                    let recovery_entry = wrap_under(seals, &recovery, "recovery").await?;
                    (root, to_config, root_entry, Some(recovery_entry))
                }
            }
        };
        to_config
            .validate()
            .map_err(|e| CoreError::Internal(format!("migrated seal configuration: {e}")))?;
        Ok((
            root,
            MigrationPlan {
                migration,
                from_config,
                from_root_entry,
                to_config,
                root_entry,
                recovery_entry,
            },
        ))
    }

    /// The stored recovery key unwrapped through the old seals, checked against `shares`.
    async fn old_recovery_key(
        &self,
        old: &SealSet,
        config: &SealConfig,
        shares: &[Zeroizing<Vec<u8>>],
    ) -> Result<Key32, CoreError> {
        let entry = self
            .physical
            .get(RECOVERY_KEY_PATH)
            .await?
            .ok_or_else(|| CoreError::Internal("recovery key missing from storage".into()))?;
        let copies = WrappedKey::list_from_json(&entry)
            .map_err(|e| CoreError::Internal(format!("corrupt recovery key entry: {e}")))?;
        let stored = old
            .unwrap_any(&copies)
            .await
            .map_err(|e| CoreError::Seal(format!("old seal: reading the recovery key: {e}")))?;
        match combine_recovery(config, shares) {
            Some(candidate) if ct_eq(candidate.as_bytes(), &stored) => Ok(candidate),
            _ => Err(CoreError::invalid(
                "seal migration failed: the key shares given do not form the recovery key",
            )),
        }
    }

    /// Whether this node holds a prepared migration not yet written.
    pub(crate) fn has_migration_plan(&self) -> bool {
        lock(&self.migration).plan.is_some()
    }

    /// Right after `unseal -migrate` on the active node: writes the migration, waiting at most
    /// a few seconds. Returns whether it is written (or nothing was pending); otherwise the
    /// activation loop retries through [`Core::become_active`].
    pub(crate) async fn try_complete_migration_now(&self) -> bool {
        match tokio::time::timeout(UNSEAL_WRITE_WAIT, self.complete_migration()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "seal migration not written yet; retried when active");
                false
            }
            Err(_) => {
                tracing::warn!(
                    "seal migration not committed yet (no quorum?); retried once this node \
                     leads a quorum"
                );
                false
            }
        }
    }

    /// Writes a prepared migration if this node holds one and storage still shows what it
    /// migrates from; drops it when another node migrated first. The plan is kept until the
    /// write is known to be done, so an interrupted or timed-out write is checked again.
    /// Called with the lifecycle lock held, before the active state loads.
    pub(crate) async fn complete_migration(&self) -> Result<(), CoreError> {
        let Some(plan) = lock(&self.migration).plan.clone() else {
            return Ok(());
        };
        let config = self.physical.get(SEAL_CONFIG_PATH).await?;
        let root = self.physical.get(ROOT_KEY_PATH).await?;
        if config.as_deref() != Some(plan.from_config.as_slice())
            || root.as_deref() != Some(plan.from_root_entry.as_slice())
        {
            tracing::info!(
                migration = %plan.migration,
                "seal migration already written (by another node, or an earlier attempt); \
                 following storage"
            );
            lock(&self.migration).plan = None;
            return Ok(());
        }
        let mut ops = vec![tresor_storage::Op::Put {
            key: ROOT_KEY_PATH.into(),
            value: plan.root_entry.clone(),
        }];
        ops.push(match &plan.recovery_entry {
            Some(value) => tresor_storage::Op::Put {
                key: RECOVERY_KEY_PATH.into(),
                value: value.clone(),
            },
            None => tresor_storage::Op::Delete {
                key: RECOVERY_KEY_PATH.into(),
            },
        });
        ops.push(tresor_storage::Op::Put {
            key: SEAL_CONFIG_PATH.into(),
            value: serde_json::to_vec(&plan.to_config)?,
        });
        match tokio::time::timeout(WRITE_TIMEOUT, self.physical.apply(ops)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(CoreError::Internal(
                    "timed out writing the seal migration (no quorum?)".into(),
                ));
            }
        }
        {
            let mut m = lock(&self.migration);
            m.plan = None;
            m.detected_entry = None;
        }
        // Raft followers persist the commit index only with their next append: one more
        // (idempotent) write makes the migration part of what they re-apply after a restart,
        // when, sealed, they cannot ask the cluster for it.
        let again = vec![tresor_storage::Op::Put {
            key: SEAL_CONFIG_PATH.into(),
            value: serde_json::to_vec(&plan.to_config)?,
        }];
        if !matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.physical.apply(again)).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("seal migration: the follow-up write did not complete");
        }
        tracing::info!(migration = %plan.migration, "seal migration complete");
        Ok(())
    }
}

/// The stored (list) form of `key` wrapped under every seal of `seals`.
async fn wrap_under(seals: &SealSet, key: &Key32, what: &str) -> Result<Vec<u8>, CoreError> {
    let wrapped = seals
        .wrap_all(key.as_bytes())
        .await
        .map_err(|e| CoreError::Seal(format!("new seal: wrapping the {what} key: {e}")))?;
    Ok(WrappedKey::list_to_json(&wrapped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wk(seal_type: &str, key_id: &str) -> WrappedKey {
        WrappedKey {
            seal_type: seal_type.into(),
            key_id: key_id.into(),
            ciphertext: vec![1],
        }
    }

    #[test]
    fn migration_follows_the_stored_and_configured_types() {
        assert_eq!(migration_by_type("shamir", None), None);
        assert_eq!(migration_by_type("pkcs11", Some("pkcs11")), None);
        let m = migration_by_type("shamir", Some("pkcs11")).unwrap();
        assert_eq!((m.from(), m.to()), ("shamir", "pkcs11"));
        let m = migration_by_type("awskms", None).unwrap();
        assert_eq!(
            m,
            SealMigration::AutoToShamir {
                from: "awskms".into()
            }
        );
        assert_eq!(m.to_string(), "awskms -> shamir");
        let m = migration_by_type("awskms", Some("pkcs11")).unwrap();
        assert_eq!((m.from(), m.to()), ("awskms", "pkcs11"));
    }

    #[test]
    fn current_keys_must_all_have_a_stored_copy() {
        let stored = vec![wk("pkcs11", "old#01"), wk("test", "k1")];
        assert!(stored_under_current_keys(
            &stored,
            &[wk("pkcs11", "old#01")]
        ));
        assert!(stored_under_current_keys(
            &stored,
            &[wk("pkcs11", "old#01"), wk("test", "k1")]
        ));
        assert!(!stored_under_current_keys(
            &stored,
            &[wk("pkcs11", "new#02")]
        ));
        assert!(!stored_under_current_keys(
            &stored,
            &[wk("pkcs11", "old#01"), wk("test", "k2")]
        ));
        assert!(!stored_under_current_keys(
            &stored,
            &[wk("awskms", "old#01")]
        ));
    }
}
