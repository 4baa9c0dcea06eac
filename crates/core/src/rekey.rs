//! `sys/rekey/*` (unseal shares, Shamir only) and `sys/rekey-recovery-key/*` (recovery
//! shares, auto seals only): collect a threshold of current shares, make new ones, optionally
//! have operators prove they hold them, then install them.

use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig, ShareCollector};
use zeroize::Zeroizing;

use crate::ceremony::{
    PendingRekey, Rekey, RekeyStatus, RekeyTarget, RekeyUpdate, RekeyVerifyStatus, share_strings,
    split_kek,
};
use crate::core::{Core, combine_kek, lock};
use crate::error::CoreError;
use crate::recovery::{check_recovery_counts, uses_recovery_keys};

/// Current threshold of the shares `target` replaces.
fn current_threshold(config: &SealConfig, target: RekeyTarget) -> u32 {
    match target {
        RekeyTarget::Barrier => config.secret_threshold,
        RekeyTarget::Recovery => config.recovery_threshold.unwrap_or(0),
    }
}

/// Refuses a rekey of shares this seal does not have.
fn check_target(config: &SealConfig, target: RekeyTarget) -> Result<(), CoreError> {
    match (target, uses_recovery_keys(config)) {
        (RekeyTarget::Barrier, true) => Err(CoreError::invalid(format!(
            "cannot rekey the unseal key shares: this node uses the {} auto seal, which holds \
             the root key; rekey the recovery keys instead (sys/rekey-recovery-key, or \
             operator rekey -target=recovery)",
            config.seal_type
        ))),
        (RekeyTarget::Recovery, false) => Err(CoreError::invalid(
            "recovery keys exist only with an auto seal; this node uses the shamir seal \
             (rekey its unseal keys with sys/rekey)",
        )),
        _ => Ok(()),
    }
}

impl Core {
    /// `GET sys/rekey/init` (or `sys/rekey-recovery-key/init`).
    pub async fn rekey_status(&self, target: RekeyTarget) -> Result<RekeyStatus, CoreError> {
        let config = self.require_config().await?;
        let required = current_threshold(&config, target);
        let mut c = lock(&self.ceremonies);
        Ok(match c.rekey(target) {
            None => RekeyStatus {
                required,
                ..Default::default()
            },
            Some(r) => r.status(required),
        })
    }

    /// `PUT sys/rekey/init` (or `sys/rekey-recovery-key/init`).
    pub async fn rekey_init(
        &self,
        target: RekeyTarget,
        secret_shares: u32,
        secret_threshold: u32,
        pgp_keys: bool,
        backup: bool,
        require_verification: bool,
    ) -> Result<RekeyStatus, CoreError> {
        let config = self.require_config().await?;
        self.active()?;
        check_target(&config, target)?;
        if pgp_keys {
            return Err(CoreError::invalid(
                "PGP-encrypted key shares are not supported yet",
            ));
        }
        if backup {
            return Err(CoreError::invalid(
                "cannot request a backup of the new keys without providing PGP keys for encryption",
            ));
        }
        match target {
            RekeyTarget::Barrier => SealConfig {
                seal_type: config.seal_type.clone(),
                secret_shares,
                secret_threshold,
                ..SealConfig::default()
            }
            .validate()
            .map_err(|e| CoreError::invalid(e.to_string()))?,
            RekeyTarget::Recovery => check_recovery_counts(secret_shares, secret_threshold)?,
        }
        {
            let mut c = lock(&self.ceremonies);
            let slot = c.rekey(target);
            if slot.is_some() {
                return Err(CoreError::invalid("rekey already in progress"));
            }
            *slot = Some(Rekey {
                collector: ShareCollector::new(current_threshold(&config, target) as usize),
                new_shares: secret_shares,
                new_threshold: secret_threshold,
                verification_required: require_verification,
                pending: None,
            });
        }
        self.rekey_status(target).await
    }

    /// `DELETE sys/rekey/init` (or `sys/rekey-recovery-key/init`).
    pub fn rekey_cancel(&self, target: RekeyTarget) {
        *lock(&self.ceremonies).rekey(target) = None;
    }

    /// `PUT sys/rekey/update`: one current share; at the threshold the new shares are made.
    pub async fn rekey_update(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> Result<RekeyUpdate, CoreError> {
        let config = self.require_config().await?;
        let required = current_threshold(&config, target);
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        let (shares, new_shares, new_threshold, verify, rekey_nonce) = {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey(target)
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
            if r.pending.is_some() {
                return Err(CoreError::invalid(
                    "rekey is awaiting verification of the new keys",
                ));
            }
            r.collector
                .add(&share, Some(nonce))
                .map_err(|e| CoreError::invalid(e.to_string()))?;
            if !r.collector.is_complete() {
                return Ok(RekeyUpdate::Progress(r.status(required)));
            }
            let n = r.collector.nonce().to_owned();
            (
                r.collector.take_shares(),
                r.new_shares,
                r.new_threshold,
                r.verification_required,
                n,
            )
        };
        if let Err(e) = self.check_current_shares(&config, target, &shares).await {
            // Wrong shares: the attempt starts over, as Vault does.
            if let Some(r) = lock(&self.ceremonies).rekey(target).as_mut() {
                r.collector.reset();
            }
            return Err(e);
        }
        let new_key = Key32::generate();
        let new_share_list = split_kek(&new_key, new_shares, new_threshold)?;
        let (keys, keys_base64) = share_strings(&new_share_list);
        let verification_nonce = if verify {
            let verifier = ShareCollector::new(new_threshold as usize);
            let vn = verifier.nonce().to_owned();
            if let Some(r) = lock(&self.ceremonies).rekey(target).as_mut() {
                r.pending = Some(PendingRekey {
                    kek: new_key,
                    verification_nonce: vn.clone(),
                    verifier,
                });
            }
            Some(vn)
        } else {
            self.install_new_key(target, &new_key, new_shares, new_threshold)
                .await?;
            *lock(&self.ceremonies).rekey(target) = None;
            None
        };
        Ok(RekeyUpdate::Complete {
            complete: true,
            nonce: rekey_nonce,
            keys,
            keys_base64,
            pgp_fingerprints: None,
            backup: false,
            verification_required: verify,
            verification_nonce,
        })
    }

    /// Checks the collected current shares: they must rebuild the unseal key (barrier) or the
    /// recovery key (recovery).
    async fn check_current_shares(
        &self,
        config: &SealConfig,
        target: RekeyTarget,
        shares: &[Zeroizing<Vec<u8>>],
    ) -> Result<(), CoreError> {
        match target {
            RekeyTarget::Barrier => {
                let old_kek = combine_kek(config, shares)
                    .map_err(|e| CoreError::invalid(format!("rekey failed: {e}")))?;
                self.unwrap_root_key(&old_kek)
                    .await
                    .map(|_| ())
                    .map_err(|e| CoreError::invalid(format!("rekey failed: {e}")))
            }
            RekeyTarget::Recovery => {
                if self.verify_recovery_shares(config, shares).await? {
                    Ok(())
                } else {
                    Err(CoreError::invalid(
                        "rekey failed: the recovery key shares do not reconstruct the recovery key",
                    ))
                }
            }
        }
    }

    /// Installs a new unseal key (barrier) or recovery key.
    async fn install_new_key(
        &self,
        target: RekeyTarget,
        key: &Key32,
        shares: u32,
        threshold: u32,
    ) -> Result<(), CoreError> {
        match target {
            RekeyTarget::Barrier => self.install_kek(key, shares, threshold).await,
            RekeyTarget::Recovery => self.install_recovery_key(key, shares, threshold).await,
        }
    }

    /// Re-wraps the root key under a new key-encryption key and stores the new seal config,
    /// in one atomic write.
    async fn install_kek(&self, kek: &Key32, shares: u32, threshold: u32) -> Result<(), CoreError> {
        let root_key = self
            .barrier
            .root_key()
            .map_err(|e| CoreError::Internal(format!("reading the root key: {e}")))?;
        let probe = tresor_seal::ShamirSeal::new();
        probe.set_kek(kek.clone());
        let wrapped = probe
            .wrap(root_key.as_bytes())
            .await
            .map_err(|e| CoreError::Internal(format!("wrapping the root key: {e}")))?;
        let mut config = self.require_config().await?;
        config.secret_shares = shares;
        config.secret_threshold = threshold;
        self.store_root_key_and_config(&wrapped, &config).await?;
        self.shamir.set_kek(kek.clone());
        tracing::info!(shares, threshold, "unseal keys rotated (rekey)");
        Ok(())
    }

    /// `GET sys/rekey/verify` (or `sys/rekey-recovery-key/verify`).
    pub fn rekey_verify_status(&self, target: RekeyTarget) -> Result<RekeyVerifyStatus, CoreError> {
        let mut c = lock(&self.ceremonies);
        let r = c
            .rekey(target)
            .as_ref()
            .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
        let p = r
            .pending
            .as_ref()
            .ok_or_else(|| CoreError::invalid("no rekey verification in progress"))?;
        Ok(RekeyVerifyStatus {
            nonce: p.verification_nonce.clone(),
            t: r.new_threshold,
            n: r.new_shares,
            progress: p.verifier.progress() as u32,
            complete: false,
        })
    }

    /// `DELETE sys/rekey/verify`: restarts verification with a new nonce.
    pub fn rekey_verify_cancel(&self, target: RekeyTarget) -> Result<RekeyVerifyStatus, CoreError> {
        {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey(target)
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
            let threshold = r.new_threshold as usize;
            let p = r
                .pending
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey verification in progress"))?;
            p.verifier = ShareCollector::new(threshold);
            p.verification_nonce = p.verifier.nonce().to_owned();
        }
        self.rekey_verify_status(target)
    }

    /// `PUT sys/rekey/verify`: one NEW share; at the threshold the new keys take effect.
    pub async fn rekey_verify_update(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> Result<RekeyVerifyStatus, CoreError> {
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        let (kek, shares, threshold, vnonce, new_shares) = {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey(target)
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
            let (t, n) = (r.new_threshold, r.new_shares);
            let p = r
                .pending
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey verification in progress"))?;
            if !tresor_crypto::ct_eq(nonce.as_bytes(), p.verification_nonce.as_bytes()) {
                return Err(CoreError::invalid("incorrect nonce supplied"));
            }
            p.verifier
                .add(&share, None)
                .map_err(|e| CoreError::invalid(e.to_string()))?;
            if !p.verifier.is_complete() {
                return Ok(RekeyVerifyStatus {
                    nonce: p.verification_nonce.clone(),
                    t,
                    n,
                    progress: p.verifier.progress() as u32,
                    complete: false,
                });
            }
            (
                p.kek.clone(),
                p.verifier.take_shares(),
                t,
                p.verification_nonce.clone(),
                n,
            )
        };
        let split = SealConfig::shamir(new_shares, threshold);
        let matches = combine_kek(&split, &shares)
            .map(|candidate| tresor_crypto::ct_eq(candidate.as_bytes(), kek.as_bytes()))
            .unwrap_or(false);
        if !matches {
            if let Some(p) = lock(&self.ceremonies)
                .rekey(target)
                .as_mut()
                .and_then(|r| r.pending.as_mut())
            {
                p.verifier.reset();
            }
            return Err(CoreError::invalid(
                "rekey verification failed: the keys do not match",
            ));
        }
        self.install_new_key(target, &kek, new_shares, threshold)
            .await?;
        *lock(&self.ceremonies).rekey(target) = None;
        Ok(RekeyVerifyStatus {
            nonce: vnonce,
            t: threshold,
            n: new_shares,
            progress: threshold,
            complete: true,
        })
    }
}
