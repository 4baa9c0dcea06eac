//! Recovery keys: with an auto seal, operators hold shares of a random recovery key instead of
//! unseal keys. The recovery key is stored wrapped by the seal set (`core/recovery-key`) and
//! only authorizes operations (generate-root, recovery-key rekey, unseal after an explicit
//! seal); it never decrypts anything.

use tresor_crypto::{Key32, ct_eq};
use tresor_seal::{SealConfig, SealSet, WrappedKey};
use zeroize::Zeroizing;

use crate::core::{Core, combine_kek};
use crate::error::CoreError;

/// Where the seal-wrapped recovery key lives (outside the barrier; already ciphertext).
pub(crate) const RECOVERY_KEY_PATH: &str = "core/recovery-key";
/// Recovery shares when `sys/init` gives none (the Vault CLI's defaults).
pub(crate) const DEFAULT_RECOVERY_SHARES: u32 = 5;
/// Recovery threshold when `sys/init` gives none.
pub(crate) const DEFAULT_RECOVERY_THRESHOLD: u32 = 3;

/// Whether a stored seal configuration belongs to an auto seal, whose operators hold
/// recovery keys.
pub(crate) fn uses_recovery_keys(config: &SealConfig) -> bool {
    config.seal_type != "shamir"
}

/// Shares operators must give for a ceremony: recovery threshold with an auto seal, unseal
/// threshold with Shamir.
pub(crate) fn operator_threshold(config: &SealConfig) -> u32 {
    if uses_recovery_keys(config) {
        config.recovery_threshold.unwrap_or(0)
    } else {
        config.secret_threshold
    }
}

/// The seal configuration `sys/init` stores with an auto seal: one stored secret share (the
/// seal holds the root key) and the requested recovery split, defaulting to 5/3 when neither
/// count is given (or both are zero).
pub(crate) fn auto_init_config(
    seal_type: &str,
    recovery_shares: Option<u32>,
    recovery_threshold: Option<u32>,
) -> Result<SealConfig, CoreError> {
    let (shares, threshold) = match (
        recovery_shares.unwrap_or(0),
        recovery_threshold.unwrap_or(0),
    ) {
        (0, 0) => (DEFAULT_RECOVERY_SHARES, DEFAULT_RECOVERY_THRESHOLD),
        given => given,
    };
    check_recovery_counts(shares, threshold)?;
    let config = SealConfig {
        seal_type: seal_type.to_owned(),
        secret_shares: 1,
        secret_threshold: 1,
        stored_shares: 1,
        recovery_shares: Some(shares),
        recovery_threshold: Some(threshold),
    };
    config
        .validate()
        .map_err(|e| CoreError::invalid(e.to_string()))?;
    Ok(config)
}

/// Checks a recovery split with the same rules (and messages) as unseal shares.
pub(crate) fn check_recovery_counts(shares: u32, threshold: u32) -> Result<(), CoreError> {
    SealConfig::shamir(shares, threshold)
        .validate()
        .map_err(|e| {
            CoreError::invalid(e.to_string().replacen(
                "seal configuration",
                "recovery configuration",
                1,
            ))
        })
}

/// Combines recovery shares; `None` when they do not combine into a key of the right size.
pub(crate) fn combine_recovery(
    config: &SealConfig,
    shares: &[Zeroizing<Vec<u8>>],
) -> Option<Key32> {
    let split = SealConfig::shamir(
        config.recovery_shares.unwrap_or(0),
        config.recovery_threshold.unwrap_or(0),
    );
    combine_kek(&split, shares).ok()
}

impl Core {
    /// The auto seals, or an error saying this node has none.
    pub(crate) fn auto_seals(&self) -> Result<&SealSet, CoreError> {
        self.seals
            .as_ref()
            .ok_or_else(|| CoreError::invalid("no auto seal is configured on this node"))
    }

    /// Whether this node is configured with an auto seal.
    pub fn has_auto_seal(&self) -> bool {
        self.seals.is_some()
    }

    /// Whether `shares` rebuild the stored recovery key (compared in constant time). Seal or
    /// storage failures are errors; shares that do not match (or do not combine) are
    /// `Ok(false)`.
    pub(crate) async fn verify_recovery_shares(
        &self,
        config: &SealConfig,
        shares: &[Zeroizing<Vec<u8>>],
    ) -> Result<bool, CoreError> {
        let seals = self.auto_seals()?;
        let entry = self
            .physical
            .get(RECOVERY_KEY_PATH)
            .await?
            .ok_or_else(|| CoreError::Internal("recovery key missing from storage".into()))?;
        let copies = WrappedKey::list_from_json(&entry)
            .map_err(|e| CoreError::Internal(format!("corrupt recovery key entry: {e}")))?;
        let stored = seals
            .unwrap_any(&copies)
            .await
            .map_err(|e| CoreError::Seal(format!("reading the recovery key: {e}")))?;
        Ok(match combine_recovery(config, shares) {
            Some(candidate) => ct_eq(candidate.as_bytes(), &stored),
            None => false,
        })
    }

    /// Wraps `key` under every seal and stores it as the recovery key together with the
    /// updated recovery split, in one atomic write.
    pub(crate) async fn install_recovery_key(
        &self,
        key: &Key32,
        shares: u32,
        threshold: u32,
    ) -> Result<(), CoreError> {
        let seals = self.auto_seals()?;
        let wrapped = seals
            .wrap_all(key.as_bytes())
            .await
            .map_err(|e| CoreError::Seal(format!("wrapping the recovery key: {e}")))?;
        let mut config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
        config.recovery_shares = Some(shares);
        config.recovery_threshold = Some(threshold);
        self.store_seal_entries(None, Some(WrappedKey::list_to_json(&wrapped)), &config)
            .await?;
        tracing::info!(shares, threshold, "recovery keys rotated (rekey)");
        Ok(())
    }

    /// `sys/unseal` on an auto-sealed node: the collected shares must form the recovery key;
    /// then the node unseals through its seal. Called with the lifecycle lock held.
    pub(crate) async fn unseal_with_recovery_locked(
        &self,
        config: &SealConfig,
        shares: &[Zeroizing<Vec<u8>>],
    ) -> Result<(), CoreError> {
        if !self.verify_recovery_shares(config, shares).await? {
            return Err(CoreError::invalid(format!(
                "unseal failed: this node uses the {} auto seal, so sys/unseal only takes its \
                 recovery keys (after an explicit seal), and the key shares given do not form \
                 the recovery key",
                config.seal_type
            )));
        }
        self.auto_unseal_locked().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_defaults_and_validation() {
        let c = auto_init_config("awskms", None, None).unwrap();
        assert_eq!(
            (c.secret_shares, c.secret_threshold, c.stored_shares),
            (1, 1, 1)
        );
        assert_eq!(
            (c.recovery_shares, c.recovery_threshold),
            (Some(5), Some(3))
        );
        assert!(uses_recovery_keys(&c));
        assert_eq!(operator_threshold(&c), 3);
        let c = auto_init_config("awskms", Some(0), Some(0)).unwrap();
        assert_eq!(c.recovery_shares, Some(5));
        let c = auto_init_config("awskms", Some(1), Some(1)).unwrap();
        assert_eq!(operator_threshold(&c), 1);
        let err = auto_init_config("awskms", Some(2), Some(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid recovery configuration: threshold cannot be larger than shares"
        );
        let err = auto_init_config("awskms", Some(3), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid recovery configuration: threshold must be at least one"
        );
        let shamir = SealConfig::shamir(5, 2);
        assert!(!uses_recovery_keys(&shamir));
        assert_eq!(operator_threshold(&shamir), 2);
    }
}
