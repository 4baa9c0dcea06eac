//! Snapshots in a local directory: written to a hidden temporary file, synced, then renamed
//! into place, so a failed or interrupted snapshot never leaves a `.snap` file.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::Destination;
use super::limit::Limited;
use crate::config::AutoSnapshotConfig;
use crate::error::AutoSnapError;
use crate::naming;
use crate::source::SnapshotSource;

/// The prefix of a snapshot being written (not matched by any `file_prefix`, which may not
/// start with `.`).
const TMP_PREFIX: &str = ".tmp-";

/// A directory (`path_prefix`) holding one config's snapshots.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
    file_prefix: String,
    max_space: u64,
}

impl LocalDir {
    /// The directory of `cfg`.
    pub fn new(cfg: &AutoSnapshotConfig) -> LocalDir {
        LocalDir {
            dir: PathBuf::from(&cfg.path_prefix),
            file_prefix: cfg.file_prefix.clone(),
            max_space: cfg.local_max_space,
        }
    }

    /// Bytes taken by this config's snapshots in the directory.
    async fn used(&self) -> Result<u64, AutoSnapError> {
        let mut total = 0u64;
        for name in self.list().await? {
            if naming::parse_file_name(&self.file_prefix, &name).is_none() {
                continue;
            }
            let path = self.dir.join(&name);
            match tokio::fs::metadata(&path).await {
                Ok(m) => total = total.saturating_add(m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AutoSnapError::io(format!("stat {}", path.display()), e)),
            }
        }
        Ok(total)
    }

    async fn write_tmp(
        &self,
        tmp: &Path,
        source: &dyn SnapshotSource,
        limit: Option<u64>,
    ) -> Result<u64, AutoSnapError> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .await
            .map_err(|e| AutoSnapError::io(format!("create {}", tmp.display()), e))?;
        let mut out = Limited::new(BufWriter::with_capacity(256 * 1024, file), limit);
        let result = source.write_snapshot(&mut out).await;
        if out.exceeded() {
            return Err(AutoSnapError::SpaceExceeded {
                used: self.max_space.saturating_sub(limit.unwrap_or(0)) + out.written(),
                limit: self.max_space,
            });
        }
        result.map_err(|e| AutoSnapError::Source(e.to_string()))?;
        out.flush()
            .await
            .map_err(|e| AutoSnapError::io(format!("write {}", tmp.display()), e))?;
        out.inner_mut()
            .get_mut()
            .sync_all()
            .await
            .map_err(|e| AutoSnapError::io(format!("sync {}", tmp.display()), e))?;
        Ok(out.written())
    }
}

#[async_trait]
impl Destination for LocalDir {
    fn url(&self, file_name: &str) -> String {
        format!("file://{}", self.dir.join(file_name).display())
    }

    async fn save(
        &self,
        file_name: &str,
        source: &dyn SnapshotSource,
    ) -> Result<u64, AutoSnapError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| AutoSnapError::io(format!("create {}", self.dir.display()), e))?;
        let limit = if self.max_space == 0 {
            None
        } else {
            let used = self.used().await?;
            if used >= self.max_space {
                return Err(AutoSnapError::SpaceExceeded {
                    used,
                    limit: self.max_space,
                });
            }
            Some(self.max_space - used)
        };
        let tmp = self.dir.join(format!("{TMP_PREFIX}{file_name}"));
        let fin = self.dir.join(file_name);
        let result = match self.write_tmp(&tmp, source, limit).await {
            Ok(n) => tokio::fs::rename(&tmp, &fin)
                .await
                .map(|()| n)
                .map_err(|e| AutoSnapError::io(format!("rename to {}", fin.display()), e)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
            return result;
        }
        // The rename is durable once the directory is synced.
        if let Ok(d) = tokio::fs::File::open(&self.dir).await {
            let _ = d.sync_all().await;
        }
        result
    }

    async fn list(&self) -> Result<Vec<String>, AutoSnapError> {
        let mut rd = match tokio::fs::read_dir(&self.dir).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AutoSnapError::io(format!("list {}", self.dir.display()), e)),
        };
        let mut names = Vec::new();
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| AutoSnapError::io(format!("list {}", self.dir.display()), e))?
        {
            let is_file = entry
                .file_type()
                .await
                .map(|t| t.is_file())
                .unwrap_or(false);
            if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn delete(&self, file_name: &str) -> Result<(), AutoSnapError> {
        let path = self.dir.join(file_name);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AutoSnapError::io(format!("delete {}", path.display()), e)),
        }
    }

    async fn discard(&self, file_name: &str) {
        let _ = tokio::fs::remove_file(self.dir.join(format!("{TMP_PREFIX}{file_name}"))).await;
    }

    async fn percent_space_used(&self) -> Option<f64> {
        if self.max_space == 0 {
            return None;
        }
        let used = self.used().await.ok()?;
        Some(used as f64 * 100.0 / self.max_space as f64)
    }
}
