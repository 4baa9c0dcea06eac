//! A writer that refuses to take more than a given number of bytes (`local_max_space`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// Counts the bytes written through it and fails a write that would pass `limit`.
pub(crate) struct Limited<W> {
    inner: W,
    written: u64,
    limit: Option<u64>,
    exceeded: bool,
}

impl<W> Limited<W> {
    /// Wraps `inner`; `None` is no limit.
    pub(crate) fn new(inner: W, limit: Option<u64>) -> Limited<W> {
        Limited {
            inner,
            written: 0,
            limit,
            exceeded: false,
        }
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Whether a write was refused for passing the limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The wrapped writer.
    pub(crate) fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Limited<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(limit) = self.limit
            && self.written.saturating_add(buf.len() as u64) > limit
        {
            self.exceeded = true;
            return Poll::Ready(Err(io::Error::other("local_max_space exceeded")));
        }
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.written += n as u64;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
