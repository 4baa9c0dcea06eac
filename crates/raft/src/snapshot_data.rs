//! The bytes of a Raft snapshot as openraft handles them ([`SnapshotData`]): a file, written
//! only when something reads it.
//!
//! A node keeps no snapshot file. openraft asks for "the current snapshot" when it starts
//! (for its metadata only), after each build (metadata only) and when a follower needs one
//! (the bytes). Each answer is a consistent view of `state.redb` (one read transaction) plus
//! its metadata; the file is written from that view, into an unlinked temporary file, on the
//! first read or seek, and disappears when openraft drops it. So the data directory holds no
//! second copy of the state, a build costs one durable commit instead of a pass over every
//! key, and the pages a long build kept alive are not held either. A received snapshot is a
//! plain temporary file from the start.

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::RaftError;

/// Writes the snapshot file and returns it positioned at its start.
type Writer = Box<dyn FnOnce() -> Result<std::fs::File, RaftError> + Send>;

/// Snapshot bytes: a file, or the means to write one on first use.
pub struct SnapshotData {
    state: State,
    /// A seek asked for while the file was still being written.
    pending_seek: Option<SeekFrom>,
}

enum State {
    /// Nothing read yet (behind a mutex only so the type is `Sync`, as openraft requires).
    Unwritten(Mutex<Option<Writer>>),
    Writing(tokio::task::JoinHandle<Result<std::fs::File, RaftError>>),
    Ready(tokio::fs::File),
    Failed(String),
}

impl std::fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Unwritten(_) => "unwritten",
            State::Writing(_) => "writing",
            State::Ready(_) => "ready",
            State::Failed(_) => "failed",
        };
        f.debug_struct("SnapshotData")
            .field("state", &state)
            .finish()
    }
}

impl SnapshotData {
    /// Bytes in an existing file (a snapshot being received).
    pub(crate) fn file(file: tokio::fs::File) -> Self {
        Self {
            state: State::Ready(file),
            pending_seek: None,
        }
    }

    /// Bytes that `write` produces, on the blocking pool, the first time they are read or
    /// sought. Dropped unread, `write` never runs.
    pub(crate) fn lazy(
        write: impl FnOnce() -> Result<std::fs::File, RaftError> + Send + 'static,
    ) -> Self {
        Self {
            state: State::Unwritten(Mutex::new(Some(Box::new(write)))),
            pending_seek: None,
        }
    }

    /// The file, written first if it was not yet.
    pub(crate) async fn into_std(mut self) -> Result<std::fs::File, RaftError> {
        std::future::poll_fn(|cx| self.poll_file(cx).map(|r| r.map(|_| ())))
            .await
            .map_err(|e| RaftError::Io(e.to_string()))?;
        match self.state {
            State::Ready(f) => Ok(f.into_std().await),
            _ => Err(RaftError::Io("snapshot file not ready".into())),
        }
    }

    /// Drives the state to a ready file.
    fn poll_file(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut tokio::fs::File>> {
        loop {
            match &mut self.state {
                State::Unwritten(write) => {
                    let write = write.get_mut().unwrap_or_else(|e| e.into_inner()).take();
                    self.state = match write {
                        Some(w) => State::Writing(tokio::task::spawn_blocking(w)),
                        None => State::Failed("snapshot writer missing".into()),
                    };
                }
                State::Writing(task) => {
                    let done = ready!(Pin::new(task).poll(cx));
                    self.state = match done {
                        Ok(Ok(f)) => State::Ready(tokio::fs::File::from_std(f)),
                        Ok(Err(e)) => State::Failed(format!("writing the snapshot: {e}")),
                        Err(e) => State::Failed(format!("writing the snapshot: {e}")),
                    };
                }
                State::Failed(why) => return Poll::Ready(Err(io::Error::other(why.clone()))),
                State::Ready(_) => break,
            }
        }
        let State::Ready(file) = &mut self.state else {
            return Poll::Ready(Err(io::Error::other("snapshot file not ready")));
        };
        Poll::Ready(Ok(file))
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let file = ready!(this.poll_file(cx))?;
        Pin::new(file).poll_read(cx, buf)
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let file = ready!(this.poll_file(cx))?;
        Pin::new(file).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let file = ready!(this.poll_file(cx))?;
        Pin::new(file).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let file = ready!(this.poll_file(cx))?;
        Pin::new(file).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(file) => Pin::new(file).start_seek(position),
            // Started once the file is there (`poll_complete`).
            _ => {
                this.pending_seek = Some(position);
                Ok(())
            }
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let pending = this.pending_seek.take();
        let file = match this.poll_file(cx) {
            Poll::Ready(r) => r?,
            Poll::Pending => {
                this.pending_seek = pending;
                return Poll::Pending;
            }
        };
        if let Some(position) = pending {
            Pin::new(&mut *file).start_seek(position)?;
        }
        Pin::new(file).poll_complete(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    fn written(bytes: &'static [u8], runs: Arc<AtomicUsize>) -> SnapshotData {
        SnapshotData::lazy(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut f = tempfile::tempfile()?;
            f.write_all(bytes)?;
            std::io::Seek::seek(&mut f, SeekFrom::Start(0))?;
            Ok(f)
        })
    }

    #[tokio::test]
    async fn the_file_is_written_once_on_first_use_and_never_if_unused() {
        let runs = Arc::new(AtomicUsize::new(0));
        drop(written(b"unused", runs.clone()));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "dropped unread: not written"
        );

        // openraft's sender seeks to the end first for the length, then reads chunks.
        let mut data = written(b"hello snapshot", runs.clone());
        assert_eq!(data.seek(SeekFrom::End(0)).await.unwrap(), 14);
        assert_eq!(data.seek(SeekFrom::Start(6)).await.unwrap(), 6);
        let mut rest = String::new();
        data.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "snapshot");
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        let mut data = written(b"abc", runs.clone());
        let mut all = Vec::new();
        data.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"abc");
        let mut file = written(b"xyz", runs.clone()).into_std().await.unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut file, &mut s).unwrap();
        assert_eq!(s, "xyz");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_use() {
        let mut data = SnapshotData::lazy(|| Err(RaftError::Io("disk full".into())));
        let err = data.seek(SeekFrom::End(0)).await.unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        let mut buf = [0u8; 4];
        assert!(data.read(&mut buf).await.is_err());
    }
}
