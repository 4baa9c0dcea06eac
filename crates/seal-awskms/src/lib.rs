//! The `awskms` auto-unseal seal: Tresor's root key is wrapped with an AWS KMS key, so a node
//! that restarts unseals itself without operators, and the key that unwraps it never leaves KMS.
//!
//! Wrapping is envelope encryption: every [`Seal::wrap`](tresor_seal::Seal::wrap) draws a fresh
//! 256-bit data key, encrypts the plaintext with AES-256-GCM under it, and has KMS encrypt the
//! data key. The [`WrappedKey`](tresor_seal::WrappedKey) records the ARN of the KMS key that did
//! it, so a key referred to by an alias that was later re-pointed still unwraps; the blob layout
//! is described in the `blob` module.
//!
//! Configuration comes from a `seal "awskms" { ... }` stanza ([`AwsKmsSettings::from_stanza`])
//! with Vault's environment overrides. Credentials come from the AWS default chain
//! (environment, shared profile, web identity, ECS, EC2 instance metadata) unless the stanza
//! gives static `access_key`/`secret_key`.

mod blob;
mod client;
mod error;
mod seal;
mod settings;

pub use client::{CONNECT_TIMEOUT, MAX_ATTEMPTS, OPERATION_TIMEOUT};
pub use error::AwsKmsError;
pub use seal::AwsKmsSeal;
pub use settings::{
    AwsKmsSettings, DEFAULT_REGION, ENV_AWS_DEFAULT_REGION, ENV_AWS_REGION, ENV_KMS_ENDPOINT,
    ENV_SEAL_KEY_ID, StaticCredentials,
};

/// The seal type, as configured (`seal "awskms"`) and recorded in every wrapped key.
pub const SEAL_TYPE: &str = "awskms";
