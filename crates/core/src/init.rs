//! `sys/init`: creates the root key, the keyring, the unseal shares and the root token.

use serde::{Deserialize, Serialize};
use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig};

use crate::active::Active;
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
    /// Unseal shares, hex.
    pub keys: Vec<String>,
    /// Unseal shares, base64.
    pub keys_base64: Vec<String>,
    /// The initial root token.
    pub root_token: String,
}

impl Core {
    /// Initializes storage: root key, keyring, seal configuration, default policy, the
    /// system mounts and a root token. The node stays sealed afterwards.
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
        if req.recovery_shares.unwrap_or(0) != 0
            || req.recovery_threshold.unwrap_or(0) != 0
            || req
                .recovery_pgp_keys
                .as_ref()
                .is_some_and(|k| !k.is_empty())
        {
            return Err(CoreError::invalid(
                "parameters specific to auto unseal seals present",
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

        // A previous init that died before writing the seal config leaves a keyring nobody can
        // open; it is replaced.
        self.physical.delete("core/keyring").await?;

        let root_key = Key32::generate();
        let kek = Key32::generate();
        let shares: Vec<Vec<u8>> = if config.secret_shares == 1 {
            vec![kek.as_bytes().to_vec()]
        } else {
            tresor_crypto::shamir::split(
                kek.as_bytes(),
                config.secret_shares as u8,
                config.secret_threshold as u8,
            )
            .map_err(|e| CoreError::Internal(format!("splitting the key: {e}")))?
            .into_iter()
            .map(|s| s.to_vec())
            .collect()
        };

        self.barrier
            .initialize(&root_key)
            .await
            .map_err(|e| CoreError::Internal(format!("initializing the barrier: {e}")))?;
        self.shamir.set_kek(kek);
        let wrapped = self
            .shamir
            .wrap(root_key.as_bytes())
            .await
            .map_err(|e| CoreError::Internal(format!("wrapping the root key: {e}")))?;
        self.barrier
            .unseal(&root_key)
            .await
            .map_err(|e| CoreError::Internal(format!("opening the new barrier: {e}")))?;

        let setup = async {
            let cluster_name = self.opts.cluster_name.clone();
            Active::create_initial(self, cluster_name).await?;
            let active = Active::load(self).await?;
            let root = active
                .tokens
                .create_root(root_token_id)
                .await
                .map_err(|e| CoreError::Internal(format!("creating the root token: {e}")))?;
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
        self.store_root_key_and_config(&wrapped, &config).await?;
        self.barrier.seal();
        self.shamir.clear_kek();
        *lock(&self.unseal_progress) = None;
        tracing::info!(
            shares = config.secret_shares,
            threshold = config.secret_threshold,
            "vault initialized"
        );

        use base64::Engine as _;
        Ok(InitResponse {
            keys: shares.iter().map(hex::encode).collect(),
            keys_base64: shares
                .iter()
                .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
                .collect(),
            root_token,
        })
    }
}
