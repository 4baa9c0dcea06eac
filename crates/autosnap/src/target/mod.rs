//! Where snapshots are written: a local directory or an S3 bucket. Each destination writes a
//! snapshot all-or-nothing (a failed snapshot leaves no file or object behind), lists the
//! file names under its prefix, and deletes by name.

mod limit;
pub mod local;
#[cfg(feature = "s3")]
pub mod s3;

use async_trait::async_trait;

use crate::config::{AutoSnapshotConfig, StorageType};
use crate::error::AutoSnapError;
use crate::source::SnapshotSource;

/// A place snapshots are written to, listed from and deleted from.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The URL a snapshot called `file_name` has there (shown in the status).
    fn url(&self, file_name: &str) -> String;

    /// Writes a snapshot from `source` as `file_name`, returning its size in bytes. On error
    /// nothing is left behind.
    async fn save(
        &self,
        file_name: &str,
        source: &dyn SnapshotSource,
    ) -> Result<u64, AutoSnapError>;

    /// The names of the files (objects) directly under the prefix.
    async fn list(&self) -> Result<Vec<String>, AutoSnapError>;

    /// Deletes `file_name`.
    async fn delete(&self, file_name: &str) -> Result<(), AutoSnapError>;

    /// Removes whatever an abandoned (cancelled) [`Destination::save`] of `file_name` left
    /// behind. Best effort.
    async fn discard(&self, _file_name: &str) {}

    /// Local destinations with a space limit: the percentage of it used by this config's
    /// snapshots (`vault.autosnapshots.percent.maxspace.used`).
    async fn percent_space_used(&self) -> Option<f64> {
        None
    }
}

/// The destination `cfg` names.
pub async fn open(cfg: &AutoSnapshotConfig) -> Result<Box<dyn Destination>, AutoSnapError> {
    match cfg.storage_type {
        StorageType::Local => Ok(Box::new(local::LocalDir::new(cfg))),
        #[cfg(feature = "s3")]
        StorageType::AwsS3 => Ok(Box::new(s3::S3Bucket::new(cfg).await?)),
        #[cfg(not(feature = "s3"))]
        StorageType::AwsS3 => Err(AutoSnapError::Destination(
            "this server was built without S3 support (tresor-autosnap feature \"s3\")".into(),
        )),
    }
}
