//! Generate-root and rekey: ceremonies that collect unseal shares (Shamir) or recovery shares
//! (auto seals) from several operators. The rekey steps live in `rekey.rs`.

use serde::Serialize;
use tresor_crypto::Key32;
use tresor_seal::{SealConfig, ShareCollector};
use zeroize::Zeroizing;

use crate::core::{Core, combine_kek, lock};
use crate::error::CoreError;
use crate::recovery::{operator_threshold, uses_recovery_keys};

/// Length of a generate-root OTP: `hvs.` + 24 characters, the root token's length.
pub(crate) const OTP_LENGTH: usize = 28;

/// Ceremonies in progress (at most one of each kind).
#[derive(Default)]
pub(crate) struct Ceremonies {
    generate_root: Option<GenerateRoot>,
    rekey: Option<Rekey>,
    recovery_rekey: Option<Rekey>,
}

impl Ceremonies {
    pub(crate) fn clear(&mut self) {
        self.generate_root = None;
        self.rekey = None;
        self.recovery_rekey = None;
    }

    /// The rekey attempt of `target`.
    pub(crate) fn rekey(&mut self, target: RekeyTarget) -> &mut Option<Rekey> {
        match target {
            RekeyTarget::Barrier => &mut self.rekey,
            RekeyTarget::Recovery => &mut self.recovery_rekey,
        }
    }
}

/// Which shares a rekey replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekeyTarget {
    /// The unseal key shares (`sys/rekey/*`; Shamir seal only).
    Barrier,
    /// The recovery key shares (`sys/rekey-recovery-key/*`; auto seals only).
    Recovery,
}

struct GenerateRoot {
    otp: String,
    collector: ShareCollector,
}

/// New shares made, waiting for operators to prove they hold them.
pub(crate) struct PendingRekey {
    pub(crate) kek: Key32,
    pub(crate) verification_nonce: String,
    pub(crate) verifier: ShareCollector,
}

/// A rekey attempt: current shares collected, then (optionally) new shares verified.
pub(crate) struct Rekey {
    pub(crate) collector: ShareCollector,
    pub(crate) new_shares: u32,
    pub(crate) new_threshold: u32,
    pub(crate) verification_required: bool,
    pub(crate) pending: Option<PendingRekey>,
}

impl Rekey {
    /// The status document of this attempt; `required` is the current threshold.
    pub(crate) fn status(&self, required: u32) -> RekeyStatus {
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

pub(crate) fn share_strings(shares: &[Zeroizing<Vec<u8>>]) -> (Vec<String>, Vec<String>) {
    use base64::Engine as _;
    (
        shares.iter().map(|s| hex::encode(s.as_slice())).collect(),
        shares
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s.as_slice()))
            .collect(),
    )
}

pub(crate) fn split_kek(
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
    pub(crate) async fn require_config(&self) -> Result<SealConfig, CoreError> {
        self.seal_config()
            .await?
            .ok_or_else(|| CoreError::invalid("server is not yet initialized"))
    }

    /// `GET sys/generate-root/attempt`. With an auto seal, `required` counts recovery shares.
    pub async fn generate_root_status(&self) -> Result<GenerateRootStatus, CoreError> {
        let config = self.require_config().await?;
        let required = operator_threshold(&config);
        let c = lock(&self.ceremonies);
        Ok(match &c.generate_root {
            None => GenerateRootStatus {
                required,
                otp_length: OTP_LENGTH as u32,
                ..Default::default()
            },
            Some(g) => GenerateRootStatus {
                started: true,
                nonce: g.collector.nonce().to_owned(),
                progress: g.collector.progress() as u32,
                required,
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
        let required = operator_threshold(&config);
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
        let collector = ShareCollector::new(required as usize);
        let status = GenerateRootStatus {
            started: true,
            nonce: collector.nonce().to_owned(),
            progress: 0,
            required,
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

    /// `PUT sys/generate-root/update`: one unseal share (Shamir) or recovery share (auto
    /// seal); at the threshold the shares are checked and a root token is made.
    pub async fn generate_root_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> Result<GenerateRootStatus, CoreError> {
        let config = self.require_config().await?;
        let required = operator_threshold(&config);
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
                    required,
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
        if uses_recovery_keys(&config) {
            if !self.verify_recovery_shares(&config, &shares).await? {
                return Err(CoreError::invalid(
                    "root generation failed: the recovery key shares do not reconstruct the \
                     recovery key",
                ));
            }
        } else {
            let kek = combine_kek(&config, &shares)?;
            self.unwrap_root_key(&kek).await.map_err(|_| {
                CoreError::invalid(
                    "root generation failed: the key shares do not reconstruct the unseal key",
                )
            })?;
        }
        let active = self.active()?;
        let token = active
            .tokens
            .create_root(None)
            .await
            .map_err(CoreError::token("creating the root token"))?;
        let encoded = tresor_seal::root_token_encode(&token.id, &otp)
            .map_err(|e| CoreError::Internal(format!("encoding the root token: {e}")))?;
        tracing::warn!("a new root token was generated");
        Ok(GenerateRootStatus {
            started: false,
            nonce,
            progress: required,
            required,
            encoded_token: encoded.clone(),
            encoded_root_token: encoded,
            otp_length: OTP_LENGTH as u32,
            complete: true,
            ..Default::default()
        })
    }
}
