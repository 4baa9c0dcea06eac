//! The `socket` device: `address`, `socket_type` (`tcp`, the default, `udp` or `unix`) and
//! `write_timeout` (default 2 s). A write that fails reconnects once and tries again; a second
//! failure refuses the request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio::sync::Mutex;
use tresor_sdk::audit::{AuditDevice, AuditDeviceConfig, AuditDeviceError, AuditFactory};

use crate::device::{Device, Sink};
use crate::entry::Formatter;
use crate::options::FormatOptions;

/// Default `write_timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The transport of a socket device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    /// A TCP stream.
    Tcp,
    /// UDP datagrams, one per line.
    Udp,
    /// A Unix stream socket.
    Unix,
}

impl SocketType {
    fn parse(s: &str) -> Result<Self, AuditDeviceError> {
        match s {
            "" | "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            "unix" => Ok(Self::Unix),
            other => Err(AuditDeviceError::config(
                "socket_type",
                format!("{other:?} is not tcp, udp or unix"),
            )),
        }
    }
}

enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
}

impl Conn {
    async fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.write_all(line).await?;
                s.flush().await
            }
            Conn::Unix(s) => {
                s.write_all(line).await?;
                s.flush().await
            }
            Conn::Udp(s) => s.send(line).await.map(|_| ()),
        }
    }
}

/// Lines written to a socket.
pub struct SocketSink {
    address: String,
    kind: SocketType,
    timeout: Duration,
    conn: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for SocketSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSink")
            .field("address", &self.address)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SocketSink {
    /// A sink for `address` (connected on first use).
    pub fn new(address: String, kind: SocketType, timeout: Duration) -> Self {
        Self {
            address,
            kind,
            timeout,
            conn: Mutex::new(None),
        }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        let connect = async {
            match self.kind {
                SocketType::Tcp => TcpStream::connect(&self.address).await.map(Conn::Tcp),
                SocketType::Unix => UnixStream::connect(&self.address).await.map(Conn::Unix),
                SocketType::Udp => {
                    let local = if self.address.starts_with('[') {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    };
                    let s = UdpSocket::bind(local).await?;
                    s.connect(&self.address).await?;
                    Ok(Conn::Udp(s))
                }
            }
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting to {} timed out", self.address),
            )),
        }
    }

    async fn attempt(&self, slot: &mut Option<Conn>, line: &[u8]) -> std::io::Result<()> {
        if slot.is_none() {
            *slot = Some(self.connect().await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(std::io::Error::other("not connected"));
        };
        match tokio::time::timeout(self.timeout, conn.send(line)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                *slot = None;
                Err(e)
            }
            Err(_) => {
                *slot = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("writing to {} timed out", self.address),
                ))
            }
        }
    }
}

#[async_trait]
impl Sink for SocketSink {
    async fn write(&self, line: &[u8]) -> Result<(), AuditDeviceError> {
        let mut slot = self.conn.lock().await;
        if self.attempt(&mut slot, line).await.is_ok() {
            return Ok(());
        }
        // Once more on a fresh connection.
        *slot = None;
        self.attempt(&mut slot, line).await.map_err(Into::into)
    }

    async fn reopen(&self) -> Result<(), AuditDeviceError> {
        *self.conn.lock().await = None;
        Ok(())
    }
}

/// Makes `socket` devices.
#[derive(Debug, Default)]
pub struct SocketFactory;

impl AuditFactory for SocketFactory {
    fn kind(&self) -> &'static str {
        "socket"
    }

    fn create(&self, config: AuditDeviceConfig) -> Result<Arc<dyn AuditDevice>, AuditDeviceError> {
        let opts = FormatOptions::parse(&config)?;
        let o = &config.options;
        let address = o.get("address").cloned().unwrap_or_default();
        if address.is_empty() {
            return Err(AuditDeviceError::config("address", "is required"));
        }
        let kind = SocketType::parse(o.get("socket_type").map_or("", String::as_str))?;
        let timeout = crate::options::duration(o, "write_timeout", DEFAULT_WRITE_TIMEOUT)?;
        let sink = SocketSink::new(address, kind, timeout);
        // Each write may connect and retry once: bound the whole device write accordingly.
        Ok(Arc::new(Device::new(
            Formatter::new(opts, &config.salt),
            Arc::new(sink),
            timeout * 4,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn tcp_lines_arrive_and_a_dropped_connection_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let sink = SocketSink::new(addr, SocketType::Tcp, Duration::from_secs(2));
        let (first, second) = tokio::join!(sink.write(b"one\n"), async {
            let (s, _) = listener.accept().await.expect("accept");
            let mut lines = tokio::io::BufReader::new(s).lines();
            lines.next_line().await.expect("read").expect("line")
        });
        first.expect("write");
        assert_eq!(second, "one");
        // The reader above dropped its end; the next write notices and reconnects (the first
        // write after a peer close may still succeed locally, so write until one lands on
        // the new connection).
        let accept = tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("accept again");
            let mut lines = tokio::io::BufReader::new(s).lines();
            lines.next_line().await.expect("read").expect("line")
        });
        let mut n = 0;
        while !accept.is_finished() && n < 50 {
            let _ = sink.write(b"two\n").await;
            n += 1;
            tokio::task::yield_now().await;
        }
        assert_eq!(accept.await.expect("join"), "two");
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let sink = SocketSink::new(addr, SocketType::Tcp, Duration::from_millis(500));
        assert!(sink.write(b"x\n").await.is_err());
    }

    #[test]
    fn options_are_checked() {
        let make = |pairs: &[(&str, &str)]| {
            SocketFactory.create(AuditDeviceConfig {
                options: pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            })
        };
        let err = |r: Result<Arc<dyn AuditDevice>, AuditDeviceError>| {
            r.err().expect("refused").to_string()
        };
        assert!(err(make(&[])).starts_with("address:"));
        assert!(
            err(make(&[("address", "x:1"), ("socket_type", "sctp")])).starts_with("socket_type:")
        );
        assert!(
            err(make(&[("address", "x:1"), ("write_timeout", "soon")]))
                .starts_with("write_timeout:")
        );
        assert!(make(&[("address", "127.0.0.1:1"), ("write_timeout", "5s")]).is_ok());
    }
}
