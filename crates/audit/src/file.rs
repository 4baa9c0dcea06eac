//! The `file` device: `file_path` (a path, `stdout` or `discard`) and `mode` (octal, default
//! `0600`; `0000` leaves the mode alone; execute bits are refused). A failed write cuts the
//! file back to where the line began, so a half line is never left behind. SIGHUP reopens the
//! path (after logrotate moved the file away).

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};

use std::time::Duration;
use tokio::sync::oneshot;

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
///
/// A file is written by one thread of its own: lines that arrive while it writes are written
/// together with one `write` (group commit), and each sender learns whether its line is in
/// the file. The thread ends when the sink is dropped.
#[derive(Debug)]
pub struct FileSink {
    target: Target,
    writer: Option<mpsc::Sender<Cmd>>,
}

/// What the writer thread is asked to do.
enum Cmd {
    Write(Vec<u8>, oneshot::Sender<std::io::Result<()>>),
    Reopen(oneshot::Sender<std::io::Result<()>>),
}

/// Most bytes written in one batch.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The writer thread: owns the file, writes batches, answers every sender.
fn writer_loop(path: PathBuf, mode: Option<u32>, mut file: Option<File>, rx: mpsc::Receiver<Cmd>) {
    let mut pending: Option<Cmd> = None;
    loop {
        let first = match pending.take() {
            Some(c) => c,
            None => match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
        };
        let (mut batch, mut waiters) = match first {
            Cmd::Reopen(done) => {
                let r = open_file(&path, mode).map(|f| {
                    file = Some(f);
                });
                let _ = done.send(r.map_err(|e| std::io::Error::other(e.to_string())));
                continue;
            }
            Cmd::Write(line, done) => (line, vec![done]),
        };
        // Everything already waiting joins this write (a reopen waits for the next round).
        while batch.len() < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(Cmd::Write(line, done)) => {
                    batch.extend_from_slice(&line);
                    waiters.push(done);
                }
                Ok(other) => {
                    pending = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let result = write_batch(&path, mode, &mut file, &batch);
        for w in waiters {
            let _ = w.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

/// Appends `batch` to the file (opened if needed). On failure the file is cut back to where
/// the batch began, so no half line is left; if even that fails, the file is reopened next
/// time.
fn write_batch(
    path: &PathBuf,
    mode: Option<u32>,
    file: &mut Option<File>,
    batch: &[u8],
) -> std::io::Result<()> {
    if file.is_none() {
        *file = Some(open_file(path, mode).map_err(|e| std::io::Error::other(e.to_string()))?);
    }
    let Some(f) = file.as_mut() else {
        return Err(std::io::Error::other("audit file not open"));
    };
    let start = f.metadata()?.len();
    if let Err(e) = f.write_all(batch).and_then(|()| f.flush()) {
        if f.set_len(start).is_err() {
            *file = None;
        }
        return Err(e);
    }
    Ok(())
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
        let writer = match &target {
            Target::Path(p) => {
                let f = open_file(p, mode)?;
                let (tx, rx) = mpsc::channel();
                let path = p.clone();
                std::thread::Builder::new()
                    .name("audit-file".into())
                    .spawn(move || writer_loop(path, mode, Some(f), rx))?;
                Some(tx)
            }
            _ => None,
        };
        Ok(Self { target, writer })
    }
}

impl FileSink {
    fn send(&self, cmd: Cmd) -> Result<(), AuditDeviceError> {
        let Some(w) = &self.writer else {
            return Ok(());
        };
        w.send(cmd)
            .map_err(|_| AuditDeviceError::Other("audit writer stopped".into()))
    }
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
        match &self.target {
            Target::Discard => Ok(()),
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()?;
                Ok(())
            }
            Target::Path(_) => {
                let (done, wait) = oneshot::channel();
                self.send(Cmd::Write(line.to_vec(), done))?;
                wait.await
                    .map_err(|_| AuditDeviceError::Other("audit writer stopped".into()))?
                    .map_err(Into::into)
            }
        }
    }

    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        if !matches!(self.target, Target::Path(_)) {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.send(Cmd::Reopen(done))?;
        wait.await
            .map_err(|_| AuditDeviceError::Other("audit writer stopped".into()))?
            .map_err(Into::into)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_lines_are_written_whole_and_all_of_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let sink =
            Arc::new(FileSink::open(path.to_str().expect("utf8"), Some(0o600)).expect("open"));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i * 10));
                sink.write(line.as_bytes()).await.expect("write");
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let mut seen: Vec<u64> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a whole line");
                v["n"].as_u64().expect("n")
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..200).collect::<Vec<u64>>());
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
