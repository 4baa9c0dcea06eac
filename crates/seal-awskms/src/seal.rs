//! [`AwsKmsSeal`]: envelope encryption of the root key under a KMS key.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use tresor_config::SealStanza;
use tresor_crypto::{Key32, aead};
use tresor_seal::{Seal, SealError, WrappedKey};
use zeroize::Zeroizing;

use crate::blob::{Envelope, associated_data};
use crate::client::{build, classify};
use crate::{AwsKmsError, AwsKmsSettings, SEAL_TYPE};

/// The `awskms` seal. Cheap to share (`Arc<dyn Seal>`); holds no key material between calls.
///
/// Unwrapping accepts a key wrapped under the configured key reference (even if an alias has
/// since been re-pointed: KMS is asked for the recorded key ARN), or under the key that
/// reference names today (even if the configuration changed from alias to ARN). A key wrapped
/// under any other KMS key is refused with [`SealError::UnknownKeyId`], even when these
/// credentials could decrypt it.
#[derive(Clone)]
pub struct AwsKmsSeal {
    client: aws_sdk_kms::Client,
    key_ref: String,
}

impl fmt::Debug for AwsKmsSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsSeal")
            .field("kms_key_id", &self.key_ref)
            .finish_non_exhaustive()
    }
}

impl AwsKmsSeal {
    /// A seal for a `seal "awskms"` stanza, with Vault's environment overrides read from the
    /// process environment (see [`AwsKmsSettings::from_stanza`]). Does not contact KMS, so it
    /// succeeds while KMS is unreachable; only configuration errors fail.
    pub async fn from_stanza(stanza: &SealStanza) -> Result<AwsKmsSeal, SealError> {
        Self::from_stanza_with_env(stanza, &|name| std::env::var(name).ok()).await
    }

    /// Like [`from_stanza`](Self::from_stanza), with environment variables looked up by `env`.
    pub async fn from_stanza_with_env(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AwsKmsSeal, SealError> {
        let settings = AwsKmsSettings::from_stanza(stanza, env)?;
        Ok(Self::new(&settings).await)
    }

    /// A seal for resolved settings. Does not contact KMS.
    pub async fn new(settings: &AwsKmsSettings) -> AwsKmsSeal {
        AwsKmsSeal {
            client: build(settings).await,
            key_ref: settings.kms_key_id.clone(),
        }
    }

    /// The configured KMS key reference (id, ARN or alias).
    pub fn kms_key_id(&self) -> &str {
        &self.key_ref
    }

    /// Checks that KMS answers and lets this seal encrypt with its key (a KMS Encrypt of a
    /// small constant), for seal-health reporting. `Unavailable` means retry later; `Encrypt`
    /// means KMS refused (access denied, key disabled, no such key).
    pub async fn health_check(&self) -> Result<(), SealError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_ref)
            .plaintext(Blob::new(b"tresor health check".to_vec()))
            .send()
            .await
            .map_err(|e| classify(e).into_wrap_error())?;
        match out.key_id() {
            Some(arn) if !arn.is_empty() => Ok(()),
            _ => Err(encrypt_error("KMS returned no key id")),
        }
    }

    /// The ARN of the key the configured reference names today (KMS DescribeKey).
    pub async fn current_key_arn(&self) -> Result<String, AwsKmsError> {
        let out = self
            .client
            .describe_key()
            .key_id(&self.key_ref)
            .send()
            .await
            .map_err(classify)?;
        out.key_metadata()
            .and_then(|m| m.arn())
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| AwsKmsError::Rejected("DescribeKey returned no key ARN".into()))
    }

    /// Whether a key recorded under `key_ref` and `key_arn` belongs to this seal.
    async fn check_ownership(&self, key_ref: &str, key_arn: &str) -> Result<(), SealError> {
        if key_ref == self.key_ref {
            return Ok(());
        }
        let current = self
            .current_key_arn()
            .await
            .map_err(|e| e.into_unwrap_error(key_arn))?;
        if current == key_arn {
            Ok(())
        } else {
            Err(SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: key_arn.to_owned(),
            })
        }
    }
}

#[async_trait]
impl Seal for AwsKmsSeal {
    fn seal_type(&self) -> &'static str {
        SEAL_TYPE
    }

    fn is_auto(&self) -> bool {
        true
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        let data_key = Key32::generate();
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_ref)
            .plaintext(Blob::new(data_key.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| classify(e).into_wrap_error())?;
        let key_arn = match out.key_id() {
            Some(arn) if !arn.is_empty() => arn.to_owned(),
            _ => return Err(encrypt_error("KMS returned no key id")),
        };
        let encrypted_data_key = out
            .ciphertext_blob()
            .map(Blob::as_ref)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| encrypt_error("KMS returned no ciphertext"))?;
        let mut blob = Envelope::header(&self.key_ref, encrypted_data_key)
            .map_err(|_| encrypt_error("key id or KMS ciphertext too long"))?;
        let sealed = aead::encrypt(&data_key, &associated_data(&key_arn, &blob), plaintext)
            .map_err(|e| encrypt_error(&e.to_string()))?;
        blob.extend_from_slice(&sealed);
        Ok(WrappedKey {
            seal_type: SEAL_TYPE.to_owned(),
            key_id: key_arn,
            ciphertext: blob,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if wrapped.seal_type != SEAL_TYPE {
            return Err(SealError::WrongSealType {
                seal_type: SEAL_TYPE,
                found: wrapped.seal_type.clone(),
            });
        }
        let decrypt_error = || SealError::Decrypt {
            seal_type: SEAL_TYPE,
        };
        let envelope = Envelope::parse(&wrapped.ciphertext).map_err(|_| decrypt_error())?;
        if wrapped.key_id.is_empty() {
            return Err(decrypt_error());
        }
        self.check_ownership(&envelope.key_ref, &wrapped.key_id)
            .await?;

        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.key_id)
            .ciphertext_blob(Blob::new(envelope.encrypted_data_key.to_vec()))
            .send()
            .await
            .map_err(|e| classify(e).into_unwrap_error(&wrapped.key_id))?;
        if out
            .key_id
            .as_deref()
            .is_some_and(|used| used != wrapped.key_id)
        {
            return Err(decrypt_error());
        }
        let plain = Zeroizing::new(
            out.plaintext
                .map(Blob::into_inner)
                .ok_or_else(decrypt_error)?,
        );
        let data_key = Key32::from_slice(&plain).map_err(|_| decrypt_error())?;
        let aad = associated_data(&wrapped.key_id, envelope.header_of(&wrapped.ciphertext));
        aead::decrypt(&data_key, &aad, envelope.sealed).map_err(|_| decrypt_error())
    }
}

fn encrypt_error(reason: &str) -> SealError {
    SealError::Encrypt {
        seal_type: SEAL_TYPE,
        reason: reason.to_owned(),
    }
}
