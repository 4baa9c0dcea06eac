//! The `file` device: `file_path` (a path, `stdout` or `discard`) and `mode` (octal, default
//! `0600`; `0000` leaves the mode alone; execute bits are refused). A failed write cuts the
//! file back to where the line began, so a half line is never left behind. SIGHUP reopens the
//! path (after logrotate moved the file away).

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tresor_sdk::audit::{AuditDevice, AuditDeviceConfig, AuditDeviceError, AuditFactory};

use crate::device::{Device, Sink};
use crate::entry::Formatter;
use crate::options::FormatOptions;

/// How long one file write may take before the request is refused.
pub const FILE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Target {
    Discard,
    Stdout,
    Path(PathBuf),
}

/// Lines appended to a file (or standard output, or nowhere).
#[derive(Debug)]
pub struct FileSink {
    target: Target,
    mode: Option<u32>,
    file: Arc<Mutex<Option<File>>>,
}

/// Parses `mode`: `None` for `0000` (leave it), else the permission bits.
pub fn parse_mode(text: &str) -> Result<Option<u32>, AuditDeviceError> {
    let bits = u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|b| *b <= 0o7777)
        .ok_or_else(|| {
            AuditDeviceError::config("mode", format!("{text:?} is not an octal file mode"))
        })?;
    if bits == 0 {
        return Ok(None);
    }
    if bits & 0o111 != 0 {
        return Err(AuditDeviceError::config(
            "mode",
            format!("{text} has execute bits: audit files cannot be executable"),
        ));
    }
    Ok(Some(bits))
}

impl FileSink {
    /// A sink for `file_path` with `mode` (see [`parse_mode`]); opens the file at once so a
    /// bad path is refused when the device is enabled.
    pub fn open(file_path: &str, mode: Option<u32>) -> Result<Self, AuditDeviceError> {
        let target = match file_path {
            "" => return Err(AuditDeviceError::config("file_path", "is required")),
            "discard" => Target::Discard,
            "stdout" => Target::Stdout,
            p => Target::Path(PathBuf::from(p)),
        };
        let sink = Self {
            target,
            mode,
            file: Arc::new(Mutex::new(None)),
        };
        if let Target::Path(p) = &sink.target {
            let f = open_file(p, mode)?;
            *lock(&sink.file) = Some(f);
        }
        Ok(sink)
    }
}

fn lock(m: &Mutex<Option<File>>) -> std::sync::MutexGuard<'_, Option<File>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_file(path: &PathBuf, mode: Option<u32>) -> Result<File, AuditDeviceError> {
    let mut o = OpenOptions::new();
    o.append(true).create(true).mode(mode.unwrap_or(0o600));
    let f = o.open(path)?;
    if let Some(bits) = mode {
        f.set_permissions(Permissions::from_mode(bits))?;
    }
    Ok(f)
}

#[async_trait]
impl Sink for FileSink {
    async fn write(&self, line: &[u8]) -> Result<(), AuditDeviceError> {
        let path = match &self.target {
            Target::Discard => return Ok(()),
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()?;
                return Ok(());
            }
            Target::Path(p) => p.clone(),
        };
        let file = self.file.clone();
        let mode = self.mode;
        let line = line.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&file);
            if guard.is_none() {
                *guard = Some(open_file(&path, mode)?);
            }
            let Some(f) = guard.as_mut() else {
                return Err(AuditDeviceError::Other("audit file not open".into()));
            };
            let start = f.metadata()?.len();
            if let Err(e) = f.write_all(&line).and_then(|()| f.flush()) {
                // Leave no half line: cut the file back to where this line began. If even that
                // fails, the next open starts from whatever is there.
                if f.set_len(start).is_err() {
                    *guard = None;
                }
                return Err(e.into());
            }
            Ok(())
        })
        .await
        .map_err(|e| AuditDeviceError::Other(format!("audit writer stopped: {e}")))?
    }

    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        let Target::Path(p) = &self.target else {
            return Ok(());
        };
        let f = open_file(p, self.mode)?;
        *lock(&self.file) = Some(f);
        Ok(())
    }
}

/// Makes `file` devices.
#[derive(Debug, Default)]
pub struct FileFactory;

impl AuditFactory for FileFactory {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn create(&self, config: AuditDeviceConfig) -> Result<Arc<dyn AuditDevice>, AuditDeviceError> {
        let opts = FormatOptions::parse(&config)?;
        let file_path = config
            .options
            .get("file_path")
            .or_else(|| config.options.get("path"))
            .cloned()
            .unwrap_or_default();
        let mode = match config.options.get("mode") {
            Some(m) => parse_mode(m)?,
            None => Some(0o600),
        };
        let sink = FileSink::open(&file_path, mode)?;
        Ok(Arc::new(Device::new(
            Formatter::new(opts, &config.salt),
            Arc::new(sink),
            FILE_WRITE_TIMEOUT,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600").expect("0600"), Some(0o600));
        assert_eq!(parse_mode("640").expect("640"), Some(0o640));
        assert_eq!(parse_mode("0000").expect("0000"), None);
        for bad in ["0755", "0777", "0700", "0610", "9", "x", "77777"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn appends_lines_and_reopens_after_a_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let sink = FileSink::open(path.to_str().expect("utf8"), Some(0o600)).expect("open");
        sink.write(b"one\n").await.expect("write");
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let rotated = dir.path().join("audit.log.1");
        std::fs::rename(&path, &rotated).expect("rename");
        sink.write(b"two\n").await.expect("write");
        sink.reopen().await.expect("reopen");
        sink.write(b"three\n").await.expect("write");
        assert_eq!(
            std::fs::read_to_string(&rotated).expect("old"),
            "one\ntwo\n"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("new"), "three\n");
    }

    #[test]
    fn a_path_that_cannot_be_opened_is_refused_at_enable() {
        let config = AuditDeviceConfig {
            kind: "file".into(),
            options: [(
                "file_path".to_owned(),
                "/nonexistent-dir/x/audit.log".to_owned(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert!(FileFactory.create(config).is_err());
        let missing = AuditDeviceConfig::default();
        let err = FileFactory.create(missing).err().expect("refused");
        assert!(err.to_string().starts_with("file_path:"), "{err}");
    }
}
