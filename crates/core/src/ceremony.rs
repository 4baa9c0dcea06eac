//! Generate-root and rekey: ceremonies that collect unseal shares from several operators.

use serde::Serialize;
use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig, ShareCollector};
use zeroize::Zeroizing;

use crate::core::{Core, combine_kek, lock};
use crate::error::CoreError;

/// Length of a generate-root OTP: `hvs.` + 24 characters, the root token's length.
pub(crate) const OTP_LENGTH: usize = 28;

/// Ceremonies in progress (at most one of each kind).
#[derive(Default)]
pub(crate) struct Ceremonies {
    generate_root: Option<GenerateRoot>,
    rekey: Option<Rekey>,
}

impl Ceremonies {
    pub(crate) fn clear(&mut self) {
        self.generate_root = None;
        self.rekey = None;
    }
}

struct GenerateRoot {
    otp: String,
    collector: ShareCollector,
}

struct PendingRekey {
    kek: Key32,
    verification_nonce: String,
    verifier: ShareCollector,
}

struct Rekey {
    collector: ShareCollector,
    new_shares: u32,
    new_threshold: u32,
    verification_required: bool,
    pending: Option<PendingRekey>,
}

impl Rekey {
    /// The status document of this attempt; `required` is the current unseal threshold.
    fn status(&self, required: u32) -> RekeyStatus {
        RekeyStatus {
            started: true,
            nonce: self.collector.nonce().to_owned(),
            t: self.new_threshold,
            n: self.new_shares,
            progress: self.collector.progress() as u32,
            required,
            pgp_fingerprints: None,
            backup: false,
            verification_required: self.verification_required,
        }
    }
}

/// `sys/generate-root/attempt` and `/update` answers.
#[derive(Clone, Debug, Serialize, Default)]
pub struct GenerateRootStatus {
    /// Whether an attempt is in progress.
    pub started: bool,
    /// Its nonce.
    pub nonce: String,
    /// Shares provided.
    pub progress: u32,
    /// Shares required.
    pub required: u32,
    /// Encoded token (when complete).
    pub encoded_token: String,
    /// Same as `encoded_token` (newer field name).
    pub encoded_root_token: String,
    /// PGP fingerprint (unsupported; empty).
    pub pgp_fingerprint: String,
    /// The generated OTP, returned once when the server generated it.
    pub otp: String,
    /// Required OTP length.
    pub otp_length: u32,
    /// Whether the attempt completed.
    pub complete: bool,
}

/// `sys/rekey/init` status.
#[derive(Clone, Debug, Serialize, Default)]
pub struct RekeyStatus {
    /// Whether a rekey is in progress.
    pub started: bool,
    /// Its nonce.
    pub nonce: String,
    /// New threshold.
    pub t: u32,
    /// New number of shares.
    pub n: u32,
    /// Current shares provided.
    pub progress: u32,
    /// Current shares required.
    pub required: u32,
    /// PGP fingerprints (unsupported).
    pub pgp_fingerprints: Option<Vec<String>>,
    /// Whether a backup was requested.
    pub backup: bool,
    /// Whether the new shares must be verified before they take effect.
    pub verification_required: bool,
}

/// `sys/rekey/update` answer: progress, or the new keys once complete.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum RekeyUpdate {
    /// Not enough shares yet.
    Progress(RekeyStatus),
    /// Done: the new shares.
    Complete {
        /// Always true.
        complete: bool,
        /// The rekey nonce.
        nonce: String,
        /// New shares, hex.
        keys: Vec<String>,
        /// New shares, base64.
        keys_base64: Vec<String>,
        /// PGP fingerprints (unsupported).
        pgp_fingerprints: Option<Vec<String>>,
        /// Whether a backup was stored.
        backup: bool,
        /// Whether verification is required before the keys take effect.
        verification_required: bool,
        /// Nonce of the verification step.
        #[serde(skip_serializing_if = "Option::is_none")]
        verification_nonce: Option<String>,
    },
}

/// `sys/rekey/verify` status.
#[derive(Clone, Debug, Serialize, Default)]
pub struct RekeyVerifyStatus {
    /// Verification nonce.
    pub nonce: String,
    /// New threshold.
    pub t: u32,
    /// New shares.
    pub n: u32,
    /// Verification progress.
    pub progress: u32,
    /// Set when verification completed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub complete: bool,
}

fn share_strings(shares: &[Zeroizing<Vec<u8>>]) -> (Vec<String>, Vec<String>) {
    use base64::Engine as _;
    (
        shares.iter().map(|s| hex::encode(s.as_slice())).collect(),
        shares
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s.as_slice()))
            .collect(),
    )
}

fn split_kek(
    kek: &Key32,
    shares: u32,
    threshold: u32,
) -> Result<Vec<Zeroizing<Vec<u8>>>, CoreError> {
    if shares == 1 {
        return Ok(vec![Zeroizing::new(kek.as_bytes().to_vec())]);
    }
    tresor_crypto::shamir::split(kek.as_bytes(), shares as u8, threshold as u8)
        .map_err(|e| CoreError::Internal(format!("splitting the key: {e}")))
}

impl Core {
    async fn require_config(&self) -> Result<SealConfig, CoreError> {
        self.seal_config()
            .await?
            .ok_or_else(|| CoreError::invalid("server is not yet initialized"))
    }

    /// `GET sys/generate-root/attempt`.
    pub async fn generate_root_status(&self) -> Result<GenerateRootStatus, CoreError> {
        let config = self.require_config().await?;
        let c = lock(&self.ceremonies);
        Ok(match &c.generate_root {
            None => GenerateRootStatus {
                required: config.secret_threshold,
                otp_length: OTP_LENGTH as u32,
                ..Default::default()
            },
            Some(g) => GenerateRootStatus {
                started: true,
                nonce: g.collector.nonce().to_owned(),
                progress: g.collector.progress() as u32,
                required: config.secret_threshold,
                otp_length: OTP_LENGTH as u32,
                ..Default::default()
            },
        })
    }

    /// `PUT sys/generate-root/attempt`.
    pub async fn generate_root_init(
        &self,
        otp: Option<String>,
        pgp_key: Option<String>,
    ) -> Result<GenerateRootStatus, CoreError> {
        let config = self.require_config().await?;
        if pgp_key.as_ref().is_some_and(|k| !k.is_empty()) {
            return Err(CoreError::invalid(
                "PGP-encrypted root tokens are not supported yet",
            ));
        }
        let (otp, generated) = match otp.filter(|o| !o.is_empty()) {
            Some(o) if o.len() != OTP_LENGTH => {
                return Err(CoreError::invalid("OTP string is wrong length"));
            }
            Some(o) => (o, false),
            None => (tresor_crypto::random_base62(OTP_LENGTH), true),
        };
        let mut c = lock(&self.ceremonies);
        if c.generate_root.is_some() {
            return Err(CoreError::invalid("root generation already in progress"));
        }
        let collector = ShareCollector::new(config.secret_threshold as usize);
        let status = GenerateRootStatus {
            started: true,
            nonce: collector.nonce().to_owned(),
            progress: 0,
            required: config.secret_threshold,
            otp: if generated {
                otp.clone()
            } else {
                String::new()
            },
            otp_length: OTP_LENGTH as u32,
            ..Default::default()
        };
        c.generate_root = Some(GenerateRoot { otp, collector });
        Ok(status)
    }

    /// `DELETE sys/generate-root/attempt`.
    pub fn generate_root_cancel(&self) {
        lock(&self.ceremonies).generate_root = None;
    }

    /// `PUT sys/generate-root/update`.
    pub async fn generate_root_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> Result<GenerateRootStatus, CoreError> {
        let config = self.require_config().await?;
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        let (shares, otp, nonce) = {
            let mut c = lock(&self.ceremonies);
            let g = c
                .generate_root
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no root generation in progress"))?;
            g.collector
                .add(&share, Some(nonce))
                .map_err(|e| CoreError::invalid(e.to_string()))?;
            if !g.collector.is_complete() {
                return Ok(GenerateRootStatus {
                    started: true,
                    nonce: g.collector.nonce().to_owned(),
                    progress: g.collector.progress() as u32,
                    required: config.secret_threshold,
                    otp_length: OTP_LENGTH as u32,
                    ..Default::default()
                });
            }
            let nonce = g.collector.nonce().to_owned();
            let shares = g.collector.take_shares();
            let otp = g.otp.clone();
            c.generate_root = None;
            (shares, otp, nonce)
        };
        let kek = combine_kek(&config, &shares)?;
        self.unwrap_root_key(&kek).await.map_err(|_| {
            CoreError::invalid(
                "root generation failed: the key shares do not reconstruct the unseal key",
            )
        })?;
        let active = self.active()?;
        let token = active
            .tokens
            .create_root(None)
            .await
            .map_err(|e| CoreError::Internal(format!("creating the root token: {e}")))?;
        let encoded = tresor_seal::root_token_encode(&token.id, &otp)
            .map_err(|e| CoreError::Internal(format!("encoding the root token: {e}")))?;
        tracing::warn!("a new root token was generated");
        Ok(GenerateRootStatus {
            started: false,
            nonce,
            progress: config.secret_threshold,
            required: config.secret_threshold,
            encoded_token: encoded.clone(),
            encoded_root_token: encoded,
            otp_length: OTP_LENGTH as u32,
            complete: true,
            ..Default::default()
        })
    }

    /// `GET sys/rekey/init`.
    pub async fn rekey_status(&self) -> Result<RekeyStatus, CoreError> {
        let config = self.require_config().await?;
        let c = lock(&self.ceremonies);
        Ok(match &c.rekey {
            None => RekeyStatus {
                required: config.secret_threshold,
                ..Default::default()
            },
            Some(r) => r.status(config.secret_threshold),
        })
    }

    /// `PUT sys/rekey/init`.
    pub async fn rekey_init(
        &self,
        secret_shares: u32,
        secret_threshold: u32,
        pgp_keys: bool,
        backup: bool,
        require_verification: bool,
    ) -> Result<RekeyStatus, CoreError> {
        let config = self.require_config().await?;
        self.active()?;
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
        let new = SealConfig {
            seal_type: config.seal_type.clone(),
            secret_shares,
            secret_threshold,
            ..SealConfig::default()
        };
        new.validate()
            .map_err(|e| CoreError::invalid(e.to_string()))?;
        {
            let mut c = lock(&self.ceremonies);
            if c.rekey.is_some() {
                return Err(CoreError::invalid("rekey already in progress"));
            }
            c.rekey = Some(Rekey {
                collector: ShareCollector::new(config.secret_threshold as usize),
                new_shares: secret_shares,
                new_threshold: secret_threshold,
                verification_required: require_verification,
                pending: None,
            });
        }
        self.rekey_status().await
    }

    /// `DELETE sys/rekey/init`.
    pub fn rekey_cancel(&self) {
        lock(&self.ceremonies).rekey = None;
    }

    /// `PUT sys/rekey/update`: one current share; at the threshold the new shares are made.
    pub async fn rekey_update(&self, key: &str, nonce: &str) -> Result<RekeyUpdate, CoreError> {
        let config = self.require_config().await?;
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        let (shares, new_shares, new_threshold, verify, rekey_nonce) = {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey
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
                return Ok(RekeyUpdate::Progress(r.status(config.secret_threshold)));
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
        let old_kek = combine_kek(&config, &shares)?;
        if let Err(e) = self.unwrap_root_key(&old_kek).await {
            // Wrong shares: the attempt starts over, as Vault does.
            if let Some(r) = lock(&self.ceremonies).rekey.as_mut() {
                r.collector.reset();
            }
            return Err(CoreError::invalid(format!("rekey failed: {e}")));
        }
        let new_kek = Key32::generate();
        let new_share_list = split_kek(&new_kek, new_shares, new_threshold)?;
        let (keys, keys_base64) = share_strings(&new_share_list);
        let verification_nonce = if verify {
            let verifier = ShareCollector::new(new_threshold as usize);
            let vn = verifier.nonce().to_owned();
            if let Some(r) = lock(&self.ceremonies).rekey.as_mut() {
                r.pending = Some(PendingRekey {
                    kek: new_kek,
                    verification_nonce: vn.clone(),
                    verifier,
                });
            }
            Some(vn)
        } else {
            self.install_kek(&new_kek, new_shares, new_threshold)
                .await?;
            lock(&self.ceremonies).rekey = None;
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

    /// `GET sys/rekey/verify`.
    pub fn rekey_verify_status(&self) -> Result<RekeyVerifyStatus, CoreError> {
        let c = lock(&self.ceremonies);
        let r = c
            .rekey
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
    pub fn rekey_verify_cancel(&self) -> Result<RekeyVerifyStatus, CoreError> {
        {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey
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
        self.rekey_verify_status()
    }

    /// `PUT sys/rekey/verify`: one NEW share; at the threshold the new keys take effect.
    pub async fn rekey_verify_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> Result<RekeyVerifyStatus, CoreError> {
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        let (kek, shares, threshold, vnonce, new_shares) = {
            let mut c = lock(&self.ceremonies);
            let r = c
                .rekey
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
            let (t, n) = (r.new_threshold, r.new_shares);
            let p = r
                .pending
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no rekey verification in progress"))?;
            if nonce != p.verification_nonce {
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
        let config = SealConfig {
            secret_shares: new_shares,
            secret_threshold: threshold,
            ..SealConfig::default()
        };
        let candidate = combine_kek(&config, &shares)?;
        if !tresor_crypto::ct_eq(candidate.as_bytes(), kek.as_bytes()) {
            if let Some(p) = lock(&self.ceremonies)
                .rekey
                .as_mut()
                .and_then(|r| r.pending.as_mut())
            {
                p.verifier.reset();
            }
            return Err(CoreError::invalid(
                "rekey verification failed: the keys do not match",
            ));
        }
        self.install_kek(&kek, new_shares, threshold).await?;
        lock(&self.ceremonies).rekey = None;
        Ok(RekeyVerifyStatus {
            nonce: vnonce,
            t: threshold,
            n: new_shares,
            progress: threshold,
            complete: true,
        })
    }
}
