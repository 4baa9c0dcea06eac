//! The seam to the snapshot itself: whatever writes a Vault-layout snapshot archive of the
//! Raft state.

use async_trait::async_trait;

/// Writes one complete snapshot (a gzip'd tar in Vault's layout) of the current Raft state.
/// Implemented by the Raft layer; tests use a fake that writes bytes.
#[async_trait]
pub trait SnapshotSource: Send + Sync + 'static {
    /// Streams the snapshot into `out` and returns the number of bytes written. An error
    /// leaves `out` with a partial snapshot; the caller discards it.
    async fn write_snapshot(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, SourceError>;
}

/// Why a snapshot could not be taken (the message is shown in the status and logs).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError(e.to_string())
    }
}

/// Chunks in flight between a blocking snapshot writer and the async destination.
const BRIDGE_CHUNKS: usize = 16;

/// A blocking [`std::io::Write`] whose bytes go, chunk by chunk, to the async side of
/// [`bridge_blocking`]. Its `write` blocks while the destination is behind: use it from a
/// blocking thread (`spawn_blocking`), never inside async code.
#[derive(Debug)]
pub struct BlockingPipeWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl std::io::Write for BlockingPipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx.blocking_send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the snapshot destination stopped reading",
            )
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Adapts a snapshot function that writes to a blocking writer on a blocking thread (the
/// shape of `Core::snapshot_save`) to [`SnapshotSource::write_snapshot`]: `save` gets a
/// [`BlockingPipeWriter`]; its bytes are written to `out` as they come, with at most a few
/// chunks in memory. Returns the bytes written. If `out` fails, the writer's next write
/// fails (`BrokenPipe`), so `save` stops.
pub async fn bridge_blocking<F, Fut>(
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    save: F,
) -> Result<u64, SourceError>
where
    F: FnOnce(Box<dyn std::io::Write + Send>) -> Fut,
    Fut: std::future::Future<Output = Result<(), SourceError>>,
{
    use tokio::io::AsyncWriteExt;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(BRIDGE_CHUNKS);
    let produce = save(Box::new(BlockingPipeWriter { tx }));
    let consume = async move {
        let mut n = 0u64;
        while let Some(chunk) = rx.recv().await {
            out.write_all(&chunk).await?;
            n += chunk.len() as u64;
        }
        out.flush().await?;
        Ok::<u64, std::io::Error>(n)
    };
    let (produced, consumed) = tokio::join!(produce, consume);
    match (produced, consumed) {
        (Ok(()), Ok(n)) => Ok(n),
        // The destination's error explains the producer's broken pipe.
        (_, Err(e)) => Err(SourceError(e.to_string())),
        (Err(e), Ok(_)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[tokio::test]
    async fn a_blocking_writer_streams_into_an_async_one() {
        let mut out = Vec::new();
        let n = bridge_blocking(&mut out, |mut w| async move {
            tokio::task::spawn_blocking(move || {
                for i in 0..100u8 {
                    w.write_all(&[i; 1000])?;
                }
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(|e| SourceError(e.to_string()))?
            .map_err(SourceError::from)
        })
        .await
        .unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(out.len(), 100_000);
        assert!(
            out.chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|b| *b as usize == i))
        );
    }

    #[tokio::test]
    async fn a_failing_producer_fails_the_snapshot() {
        let mut out = Vec::new();
        let err = bridge_blocking(&mut out, |mut w| async move {
            tokio::task::spawn_blocking(move || {
                let _ = w.write_all(b"partial");
            })
            .await
            .map_err(|e| SourceError(e.to_string()))?;
            Err(SourceError("raft said no".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "raft said no");
    }
}
