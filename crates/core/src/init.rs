//! `sys/init`: creates the root key, the keyring, the unseal (or, with an auto seal, recovery)
//! shares and the root token.

use serde::{Deserialize, Serialize};
use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig, WrappedKey};
use zeroize::Zeroizing;

use crate::active::Active;
use crate::ceremony::{share_strings, split_kek};
use crate::core::{Core, lock};
use crate::error::CoreError;

/// The body of `PUT sys/init`. Clients send `null` for unused fields, so everything is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InitRequest {
    /// Number of unseal key shares.
    pub secret_shares: Option<u32>,
    /// Shares needed to unseal.
    pub secret_threshold: Option<u32>,
    /// Shares stored by an auto seal (unsupported with Shamir).
    pub stored_shares: Option<u32>,
    /// PGP keys to encrypt the shares with (not supported yet).
    pub pgp_keys: Option<Vec<String>>,
    /// Recovery shares (auto seals only).
    pub recovery_shares: Option<u32>,
    /// Recovery threshold (auto seals only).
    pub recovery_threshold: Option<u32>,
    /// Recovery PGP keys (auto seals only).
    pub recovery_pgp_keys: Option<Vec<String>>,
    /// PGP key for the root token (not supported yet).
    pub root_token_pgp_key: Option<String>,
}

impl InitRequest {
    /// A Shamir init request with `shares` and `threshold`.
    pub fn shamir(shares: u32, threshold: u32) -> Self {
        Self {
            secret_shares: Some(shares),
            secret_threshold: Some(threshold),
            ..Self::default()
        }
    }
}

/// The answer to `PUT sys/init`.
#[derive(Clone, Debug, Serialize)]
pub struct InitResponse {
    /// Unseal shares, hex (empty with an auto seal).
    pub keys: Vec<String>,
    /// Unseal shares, base64 (empty with an auto seal).
    pub keys_base64: Vec<String>,
    /// Recovery shares, hex (auto seals only; omitted otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recovery_keys: Vec<String>,
    /// Recovery shares, base64 (auto seals only; omitted otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recovery_keys_base64: Vec<String>,
    /// The initial root token.
    pub root_token: String,
}

/// What init hands out and stores, depending on the seal.
struct InitKeys {
    /// Unseal shares (Shamir) or empty.
    unseal_shares: Vec<Zeroizing<Vec<u8>>>,
    /// Recovery shares (auto seal) or empty.
    recovery_shares: Vec<Zeroizing<Vec<u8>>>,
    /// The `core/root-key` entry.
    root_key_entry: Vec<u8>,
    /// The `core/recovery-key` entry (auto seal).
    recovery_entry: Option<Vec<u8>>,
}

impl Core {
    /// Initializes storage: root key, keyring, seal configuration, default policy, the
    /// system mounts and a root token. With Shamir the node stays sealed afterwards; with an
    /// auto seal the root key is wrapped by every seal, recovery keys are issued instead of
    /// unseal keys, and the node is left unsealed.
    pub async fn init(&self, req: InitRequest) -> Result<InitResponse, CoreError> {
        self.init_with_root_token(req, None).await
    }

    /// [`Core::init`] with a chosen root token id (dev mode's `-dev-root-token-id`).
    pub async fn init_with_root_token(
        &self,
        req: InitRequest,
        root_token_id: Option<&str>,
    ) -> Result<InitResponse, CoreError> {
        let _guard = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(CoreError::AlreadyInitialized);
        }
        if self.has_pending_join() {
            return Err(CoreError::invalid(
                "this node is joining a cluster; unseal it with the cluster's keys instead",
            ));
        }
        self.ha.membership.prepare_init().await?;
        let auto = self.seals.clone();
        if auto.is_none()
            && (req.recovery_shares.unwrap_or(0) != 0
                || req.recovery_threshold.unwrap_or(0) != 0
                || req
                    .recovery_pgp_keys
                    .as_ref()
                    .is_some_and(|k| !k.is_empty()))
        {
            return Err(CoreError::invalid(
                "parameters specific to auto unseal seals present",
            ));
        }
        if req
            .recovery_pgp_keys
            .as_ref()
            .is_some_and(|k| !k.is_empty())
        {
            return Err(CoreError::invalid(
                "PGP-encrypted key shares are not supported yet",
            ));
        }
        if req.pgp_keys.as_ref().is_some_and(|k| !k.is_empty())
            || req
                .root_token_pgp_key
                .as_ref()
                .is_some_and(|k| !k.is_empty())
        {
            return Err(CoreError::invalid(
                "PGP-encrypted key shares are not supported yet",
            ));
        }
        let config = match &auto {
            // The seal holds the root key: one stored share, whatever was asked for.
            Some(seals) => crate::recovery::auto_init_config(
                seals.seal_type(),
                req.recovery_shares,
                req.recovery_threshold,
            )?,
            None => {
                if req.stored_shares.unwrap_or(0) != 0 {
                    return Err(CoreError::invalid(
                        "stored keys are not supported by the shamir seal",
                    ));
                }
                let config = SealConfig {
                    seal_type: "shamir".into(),
                    secret_shares: req.secret_shares.unwrap_or(0),
                    secret_threshold: req.secret_threshold.unwrap_or(0),
                    ..SealConfig::default()
                };
                config
                    .validate()
                    .map_err(|e| CoreError::invalid(e.to_string()))?;
                config
            }
        };

        // A previous init that died before writing the seal config leaves a keyring nobody can
        // open; it is replaced.
        self.physical.delete("core/keyring").await?;

        let root_key = Key32::generate();
        // Wrap first: a seal that cannot wrap fails init before anything is written.
        let keys = match &auto {
            Some(seals) => {
                let wrapped = seals
                    .wrap_all(root_key.as_bytes())
                    .await
                    .map_err(|e| CoreError::Seal(format!("wrapping the root key: {e}")))?;
                let recovery_key = Key32::generate();
                let recovery_wrapped = seals
                    .wrap_all(recovery_key.as_bytes())
                    .await
                    .map_err(|e| CoreError::Seal(format!("wrapping the recovery key: {e}")))?;
                InitKeys {
                    unseal_shares: Vec::new(),
                    recovery_shares: split_kek(
                        &recovery_key,
                        config.recovery_shares.unwrap_or(1),
                        config.recovery_threshold.unwrap_or(1),
                    )?,
                    root_key_entry: WrappedKey::list_to_json(&wrapped),
                    recovery_entry: Some(WrappedKey::list_to_json(&recovery_wrapped)),
                }
            }
            None => {
                let kek = Key32::generate();
                let shares = split_kek(&kek, config.secret_shares, config.secret_threshold)?;
                self.shamir.set_kek(kek);
                let wrapped = self
                    .shamir
                    .wrap(root_key.as_bytes())
                    .await
                    .map_err(|e| CoreError::Internal(format!("wrapping the root key: {e}")))?;
                InitKeys {
                    unseal_shares: shares,
                    recovery_shares: Vec::new(),
                    root_key_entry: serde_json::to_vec(&wrapped)?,
                    recovery_entry: None,
                }
            }
        };

        if let Err(e) = self.barrier.initialize(&root_key).await {
            self.shamir.clear_kek();
            return Err(CoreError::Internal(format!(
                "initializing the barrier: {e}"
            )));
        }
        self.barrier
            .unseal(&root_key)
            .await
            .map_err(CoreError::barrier("opening the new barrier"))?;

        let setup = async {
            let cluster_name = self.opts.cluster_name.clone();
            Active::create_initial(self, cluster_name).await?;
            let active = Active::load(self).await?;
            let root = active
                .tokens
                .create_root(root_token_id)
                .await
                .map_err(CoreError::token("creating the root token"))?;
            Ok::<_, CoreError>(root.id.clone())
        };
        let result = setup.await;
        let root_token = match result {
            Ok(t) => t,
            Err(e) => {
                self.barrier.seal();
                self.shamir.clear_kek();
                return Err(e);
            }
        };
        // The seal config is written last and in one batch with the wrapped root key: its
        // presence is what "initialized" means.
        if let Err(e) = self
            .store_seal_entries(Some(keys.root_key_entry), keys.recovery_entry, &config)
            .await
        {
            self.barrier.seal();
            self.shamir.clear_kek();
            return Err(e);
        }
        self.shamir.clear_kek();
        *lock(&self.unseal_progress) = None;
        if let Some(seals) = &auto {
            tracing::info!(
                seal = seals.seal_type(),
                recovery_shares = config.recovery_shares.unwrap_or(0),
                recovery_threshold = config.recovery_threshold.unwrap_or(0),
                "vault initialized with an auto seal"
            );
            // The node stays unsealed. If loading the unsealed state fails now, the keys are
            // still handed out (they exist in storage) and the auto-unseal task retries.
            if let Err(e) = self.after_unseal().await {
                tracing::warn!(error = %e, "initialized, but opening the new node failed");
                self.barrier.seal();
            } else {
                tracing::info!("vault is unsealed");
            }
        } else {
            self.barrier.seal();
            tracing::info!(
                shares = config.secret_shares,
                threshold = config.secret_threshold,
                "vault initialized"
            );
        }

        let (keys_hex, keys_base64) = share_strings(&keys.unseal_shares);
        let (recovery_hex, recovery_base64) = share_strings(&keys.recovery_shares);
        Ok(InitResponse {
            keys: keys_hex,
            keys_base64,
            recovery_keys: recovery_hex,
            recovery_keys_base64: recovery_base64,
            root_token,
        })
    }
}
