//! A log file that rotates by age and size, keeping a bounded number of old files
//! (`log_rotate_duration`, `log_rotate_bytes`, `log_rotate_max_files`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When to rotate and how many rotated files to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RotatePolicy {
    /// Rotate when the file is older than this (None: never by age).
    pub(crate) max_age: Option<Duration>,
    /// Rotate before a write would take the file past this many bytes (None: never by size).
    pub(crate) max_bytes: Option<u64>,
    /// Rotated files to keep: 0 keeps all, a negative value keeps none (Vault's meaning).
    pub(crate) max_files: i64,
}

/// The clock rotation decisions use (injectable for tests).
pub(crate) type Clock = fn() -> SystemTime;

/// An append-only log file with rotation.
pub(crate) struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    opened: SystemTime,
    policy: RotatePolicy,
    clock: Clock,
}

impl RotatingFile {
    /// Opens (appending) `path`; a directory or a path ending in `/` means `<dir>/tresor.log`.
    pub(crate) fn open(path: &Path, policy: RotatePolicy, clock: Clock) -> io::Result<Self> {
        let path = if path.is_dir() || path.to_string_lossy().ends_with('/') {
            path.join("tresor.log")
        } else {
            path.to_path_buf()
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            size,
            opened: clock(),
            policy,
            clock,
        })
    }

    fn due(&self, incoming: usize) -> bool {
        let by_size = self
            .policy
            .max_bytes
            .is_some_and(|max| self.size > 0 && self.size + incoming as u64 > max);
        let by_age = self.policy.max_age.is_some_and(|age| {
            (self.clock)()
                .duration_since(self.opened)
                .is_ok_and(|elapsed| elapsed >= age)
        });
        by_size || by_age
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let stamp = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tresor".into());
        let rotated = self.path.with_file_name(format!("{stem}-{stamp}.log"));
        std::fs::rename(&self.path, &rotated)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.opened = (self.clock)();
        self.prune(&stem)
    }

    /// Removes the oldest rotated files beyond `max_files`.
    fn prune(&self, stem: &str) -> io::Result<()> {
        if self.policy.max_files == 0 {
            return Ok(());
        }
        let keep = self.policy.max_files.max(0) as usize;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = format!("{stem}-");
        let mut rotated: Vec<(u128, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((stamp, e.path()))
            })
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(keep);
        for (_, p) in rotated.into_iter().take(excess) {
            std::fs::remove_file(p)?;
        }
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.due(buf.len()) {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static NOW: AtomicU64 = AtomicU64::new(1_000_000);

    fn fake_clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW.load(Ordering::SeqCst))
    }

    fn rotated(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("tresor-") && n.ends_with(".log")
            })
            .count()
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let policy = RotatePolicy {
            max_age: None,
            max_bytes: Some(100),
            max_files: 2,
        };
        let mut f = RotatingFile::open(&dir.path().join("tresor.log"), policy, fake_clock).unwrap();
        for i in 0..10u64 {
            NOW.fetch_add(1, Ordering::SeqCst);
            f.write_all(&[b'a' + i as u8; 60]).unwrap();
        }
        assert_eq!(
            rotated(dir.path()),
            2,
            "only max_files rotated files are kept"
        );
        let current = std::fs::metadata(dir.path().join("tresor.log"))
            .unwrap()
            .len();
        assert!(
            current <= 100,
            "the live file stays under the size limit: {current}"
        );
    }

    #[test]
    fn rotates_by_age_and_directory_path() {
        let dir = tempfile::tempdir().unwrap();
        let policy = RotatePolicy {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: None,
            max_files: 0,
        };
        let mut f = RotatingFile::open(dir.path(), policy, fake_clock).unwrap();
        f.write_all(b"first\n").unwrap();
        assert_eq!(rotated(dir.path()), 0);
        NOW.fetch_add(3600, Ordering::SeqCst);
        f.write_all(b"second\n").unwrap();
        assert_eq!(rotated(dir.path()), 1, "an hour later the file rotated");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("tresor.log")).unwrap(),
            "second\n"
        );
    }
}
