//! The `syslog` device: `facility` (default `AUTH`) and `tag` (default `vault`), each entry one
//! datagram `<PRI>TAG[PID]: ENTRY` (severity info) to the local syslog socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::UnixDatagram;
use tokio::sync::Mutex;
use tresor_sdk::audit::{AuditDevice, AuditDeviceConfig, AuditDeviceError, AuditFactory};

use crate::device::{Device, Sink};
use crate::entry::Formatter;
use crate::options::FormatOptions;

/// Where local syslog daemons listen, tried in order.
pub const SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];
/// How long one syslog write may take.
pub const SYSLOG_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const SEVERITY_INFO: u8 = 6;

/// The facility code of a syslog facility name (case-insensitive).
pub fn facility(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "KERN" => 0,
        "USER" => 1,
        "MAIL" => 2,
        "DAEMON" => 3,
        "AUTH" => 4,
        "SYSLOG" => 5,
        "LPR" => 6,
        "NEWS" => 7,
        "UUCP" => 8,
        "CRON" => 9,
        "AUTHPRIV" => 10,
        "FTP" => 11,
        "LOCAL0" => 16,
        "LOCAL1" => 17,
        "LOCAL2" => 18,
        "LOCAL3" => 19,
        "LOCAL4" => 20,
        "LOCAL5" => 21,
        "LOCAL6" => 22,
        "LOCAL7" => 23,
        _ => return None,
    })
}

/// The datagram for one entry.
pub fn datagram(facility: u8, tag: &str, pid: u32, line: &[u8]) -> Vec<u8> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let mut out = format!("<{}>{tag}[{pid}]: ", facility * 8 + SEVERITY_INFO).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Entries sent to a local syslog socket.
#[derive(Debug)]
pub struct SyslogSink {
    socket_path: PathBuf,
    facility: u8,
    tag: String,
    socket: Mutex<Option<UnixDatagram>>,
}

impl SyslogSink {
    /// A sink sending to the syslog socket at `socket_path`.
    pub fn new(socket_path: &Path, facility: u8, tag: String) -> Self {
        Self {
            socket_path: socket_path.to_owned(),
            facility,
            tag,
            socket: Mutex::new(None),
        }
    }

    /// A datagram socket connected to the syslog socket (no runtime needed).
    fn connect_std(&self) -> std::io::Result<std::os::unix::net::UnixDatagram> {
        let s = std::os::unix::net::UnixDatagram::unbound()?;
        s.connect(&self.socket_path)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    fn connect(&self) -> std::io::Result<UnixDatagram> {
        UnixDatagram::from_std(self.connect_std()?)
    }
}

#[async_trait]
impl Sink for SyslogSink {
    async fn write(&self, line: &[u8]) -> Result<(), AuditDeviceError> {
        let msg = datagram(self.facility, &self.tag, std::process::id(), line);
        let mut slot = self.socket.lock().await;
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(self.connect()?);
            }
            if let Some(s) = slot.as_ref() {
                match s.send(&msg).await {
                    Ok(_) => return Ok(()),
                    Err(e) if attempt == 1 => return Err(e.into()),
                    // The daemon restarted: reconnect once.
                    Err(_) => *slot = None,
                }
            }
        }
        Err(AuditDeviceError::Other("syslog unreachable".into()))
    }

    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        *self.socket.lock().await = None;
        Ok(())
    }
}

/// Makes `syslog` devices; `socket_path` overrides where the local syslog listens (tests).
#[derive(Debug, Default)]
pub struct SyslogFactory {
    /// The socket to use instead of the first of [`SOCKETS`] that exists.
    pub socket_path: Option<PathBuf>,
}

impl AuditFactory for SyslogFactory {
    fn kind(&self) -> &'static str {
        "syslog"
    }

    fn create(&self, config: AuditDeviceConfig) -> Result<Arc<dyn AuditDevice>, AuditDeviceError> {
        let opts = FormatOptions::parse(&config)?;
        let o = &config.options;
        let name = o.get("facility").map_or("AUTH", String::as_str);
        let facility = facility(name).ok_or_else(|| {
            AuditDeviceError::config("facility", format!("unknown syslog facility {name:?}"))
        })?;
        let tag = o
            .get("tag")
            .filter(|t| !t.is_empty())
            .cloned()
            .unwrap_or_else(|| "vault".to_owned());
        let path = match &self.socket_path {
            Some(p) => p.clone(),
            None => SOCKETS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| {
                    AuditDeviceError::Other(format!(
                        "no local syslog socket (looked for {})",
                        SOCKETS.join(", ")
                    ))
                })?,
        };
        let sink = SyslogSink::new(&path, facility, tag);
        // Refuse at enable time when nothing listens there.
        sink.connect_std()
            .map_err(|e| AuditDeviceError::Other(format!("syslog at {}: {e}", path.display())))?;
        Ok(Arc::new(Device::new(
            Formatter::new(opts, &config.salt),
            Arc::new(sink),
            SYSLOG_WRITE_TIMEOUT,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_and_framing() {
        assert_eq!(
            datagram(facility("auth").expect("auth"), "vault", 42, b"{\"a\":1}\n"),
            b"<38>vault[42]: {\"a\":1}".to_vec()
        );
        assert_eq!(facility("LOCAL7"), Some(23));
        assert_eq!(facility("nope"), None);
    }

    #[tokio::test]
    async fn entries_reach_the_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).expect("bind");
        let sink = SyslogSink::new(&path, 4, "tresor".into());
        sink.write(b"{}\n").await.expect("write");
        let mut buf = vec![0u8; 256];
        let n = server.recv(&mut buf).await.expect("recv");
        let got = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(got.starts_with("<38>tresor["), "{got}");
        assert!(got.ends_with("]: {}"), "{got}");
    }

    #[test]
    fn a_missing_socket_is_refused_at_enable() {
        let f = SyslogFactory {
            socket_path: Some(PathBuf::from("/nonexistent/log.sock")),
        };
        assert!(f.create(AuditDeviceConfig::default()).is_err());
        let bad = AuditDeviceConfig {
            options: [("facility".to_owned(), "NOPE".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let err = f.create(bad).err().expect("refused").to_string();
        assert!(err.starts_with("facility:"), "{err}");
    }
}
