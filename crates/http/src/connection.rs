//! One served connection: its time limits and the watchdog that enforces them next to hyper.
//!
//! The limits follow Vault's listener settings (Go's `http.Server` semantics):
//!
//! - read header: from the connection's start, or from the first byte of a later request,
//!   until its headers are complete;
//! - read: from the same start until the request body has been read (a body still arriving
//!   after it fails, and the connection is not reused);
//! - write: from the end of the request's headers until its response is handed to the
//!   connection (a late response closes the connection);
//! - idle: between requests on a keep-alive connection.
//!
//! On HTTP/2 (recognised by its connection preface) frames arrive between requests (window
//! updates, pings), so bytes do not start a header limit there: an HTTP/2 connection is
//! bounded by the header limit until its first request and by the idle limit afterwards.
//!
//! A connection past its header or idle limit is shut down gracefully (HTTP/1 closes at once
//! when idle, HTTP/2 sends GOAWAY); one that is still open [`SHUTDOWN_GRACE`] later with no
//! request in progress, e.g. a client stuck halfway through its headers, is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// TLS handshake limit when none of the read-header, read and write timeouts is set.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection that was asked to shut down may stay open once no request is in
/// progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A listener's time limits; `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Reading a request's headers (`http_read_header_timeout`).
    pub read_header: Option<Duration>,
    /// Reading a whole request, body included (`http_read_timeout`).
    pub read: Option<Duration>,
    /// Producing a response (`http_write_timeout`).
    pub write: Option<Duration>,
    /// Waiting for the next request on a keep-alive connection (`http_idle_timeout`).
    pub idle: Option<Duration>,
    /// Completing the TLS handshake.
    pub tls_handshake: Duration,
}

impl Default for Timeouts {
    /// Vault's defaults: 10 s header, 30 s read, no write limit, 5 min idle.
    fn default() -> Self {
        Self::from_settings(
            Duration::from_secs(10),
            Duration::from_secs(30),
            Duration::ZERO,
            Duration::from_secs(300),
        )
    }
}

impl Timeouts {
    /// From Vault's four listener settings, where zero means "no limit". As in Vault, a zero
    /// idle timeout falls back to the read timeout, then to the read-header timeout. The TLS
    /// handshake gets the smallest of the non-zero read-header, read and write timeouts (as Go
    /// does), or [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`] when all three are zero.
    pub fn from_settings(
        read_header: Duration,
        read: Duration,
        write: Duration,
        idle: Duration,
    ) -> Self {
        let some = |d: Duration| (!d.is_zero()).then_some(d);
        let read_header = some(read_header);
        let read = some(read);
        let write = some(write);
        let idle = some(idle).or(read).or(read_header);
        let tls_handshake = [read_header, read, write]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(DEFAULT_TLS_HANDSHAKE_TIMEOUT);
        Timeouts {
            read_header,
            read,
            write,
            idle,
            tls_handshake,
        }
    }

    /// The limit on an unfinished request head: the header timeout, else the read timeout.
    fn head_limit(&self) -> Option<Duration> {
        self.read_header.or(self.read)
    }
}

/// What the watchdog should do about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing yet; look again at this instant (or when something changes).
    Wait(Option<Instant>),
    /// Shut down gracefully (a limit between requests passed).
    Close(&'static str),
    /// Drop the connection now.
    Abort(&'static str),
}

/// What a connection is doing, as far as its limits are concerned.
#[derive(Debug, Clone)]
pub(crate) struct ConnState {
    in_flight: usize,
    idle_since: Instant,
    head_started: Option<Instant>,
    write_deadline: Option<Instant>,
    closing_since: Option<Instant>,
    http2: bool,
}

/// The HTTP/2 client connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the first bytes read on a connection are (the start of) the HTTP/2 preface.
fn is_h2_preface(first: &[u8]) -> bool {
    let n = first.len().min(H2_PREFACE.len());
    n > 0 && first[..n] == H2_PREFACE[..n]
}

impl ConnState {
    /// A new connection: the first request's head is awaited from `now`.
    pub(crate) fn new(now: Instant) -> Self {
        ConnState {
            in_flight: 0,
            idle_since: now,
            head_started: Some(now),
            write_deadline: None,
            closing_since: None,
            http2: false,
        }
    }

    /// The connection speaks HTTP/2.
    pub(crate) fn set_http2(&mut self) {
        self.http2 = true;
    }

    /// Bytes arrived. Between requests they start the next request's head; returns whether
    /// that changed anything.
    pub(crate) fn on_bytes(&mut self, now: Instant) -> bool {
        if !self.http2
            && self.in_flight == 0
            && self.head_started.is_none()
            && self.closing_since.is_none()
        {
            self.head_started = Some(now);
            return true;
        }
        false
    }

    /// A request's headers are complete. Returns the deadline for reading its body.
    pub(crate) fn request_started(&mut self, now: Instant, t: &Timeouts) -> Option<Instant> {
        self.in_flight += 1;
        let start = self.head_started.take().unwrap_or(now);
        if let Some(w) = t.write {
            self.write_deadline = Some(now + w);
        }
        t.read.map(|r| start + r)
    }

    /// A response has been handed over completely (or abandoned).
    pub(crate) fn request_finished(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.idle_since = now;
            self.write_deadline = None;
        }
    }

    /// The connection was asked to shut down gracefully.
    pub(crate) fn closing(&mut self, now: Instant) {
        self.closing_since.get_or_insert(now);
    }

    /// What to do at `now`.
    pub(crate) fn judge(&self, now: Instant, t: &Timeouts) -> Verdict {
        if self.in_flight > 0 {
            return match self.write_deadline {
                Some(d) if now >= d => Verdict::Abort("write timeout"),
                d => Verdict::Wait(d),
            };
        }
        let due = |deadline: Instant, verdict: Verdict| {
            if now >= deadline {
                verdict
            } else {
                Verdict::Wait(Some(deadline))
            }
        };
        if let Some(since) = self.closing_since {
            return due(
                since.max(self.idle_since) + SHUTDOWN_GRACE,
                Verdict::Abort("still open after shutdown"),
            );
        }
        if let (Some(start), Some(limit)) = (self.head_started, t.head_limit()) {
            return due(start + limit, Verdict::Close("request header timeout"));
        }
        match (self.head_started, t.idle) {
            (None, Some(idle)) => due(self.idle_since + idle, Verdict::Close("idle timeout")),
            _ => Verdict::Wait(None),
        }
    }
}

/// The state shared by a connection's I/O, its requests and its watchdog.
pub(crate) struct Activity {
    state: Mutex<ConnState>,
    changed: Notify,
    timeouts: Timeouts,
}

impl Activity {
    pub(crate) fn new(timeouts: Timeouts) -> Arc<Self> {
        Arc::new(Activity {
            state: Mutex::new(ConnState::new(Instant::now())),
            changed: Notify::new(),
            timeouts,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut ConnState) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut s)
    }

    fn on_bytes(&self, first: Option<&[u8]>) {
        if let Some(first) = first
            && is_h2_preface(first)
        {
            self.with(ConnState::set_http2);
        }
        if self.with(|s| s.on_bytes(Instant::now())) {
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> (InFlight, Option<Instant>) {
        let deadline = self.with(|s| s.request_started(Instant::now(), &self.timeouts));
        self.changed.notify_one();
        (InFlight(self.clone()), deadline)
    }

    pub(crate) fn closing(&self) {
        self.with(|s| s.closing(Instant::now()));
    }

    pub(crate) fn judge(&self) -> Verdict {
        self.with(|s| s.judge(Instant::now(), &self.timeouts))
    }

    /// Completes when a request starts or ends, or a new request's first byte arrives.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// Marks one request in progress until dropped (with its response body).
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| s.request_finished(Instant::now()));
        self.0.changed.notify_one();
    }
}

/// The connection's byte stream, reporting arriving bytes to the watchdog.
pub(crate) struct TrackedIo<S> {
    inner: S,
    activity: Arc<Activity>,
    seen_first: bool,
}

impl<S> TrackedIo<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        TrackedIo {
            inner,
            activity,
            seen_first: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let first = (!self.seen_first).then(|| &buf.filled()[before..]);
            self.activity.on_bytes(first);
            self.seen_first = true;
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The request body ran past the listener's read timeout.
#[derive(Debug, thiserror::Error)]
#[error("http: request body read timeout")]
pub struct BodyReadTimeout;

/// A request body that fails once its read deadline has passed.
struct DeadlineBody<B> {
    inner: B,
    deadline: Option<Pin<Box<Sleep>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> hyper::body::Body for DeadlineBody<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if let Some(sleep) = this.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(Box::new(BodyReadTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in progress until it is done.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The hyper service of one connection: the router, with each request tracked.
#[derive(Clone)]
pub(crate) struct ConnService {
    router: Router,
    activity: Arc<Activity>,
    addrs: crate::client_addr::ClientAddr,
}

impl ConnService {
    pub(crate) fn new(
        router: Router,
        activity: Arc<Activity>,
        addrs: crate::client_addr::ClientAddr,
    ) -> Self {
        ConnService {
            router,
            activity,
            addrs,
        }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let (in_flight, deadline) = self.activity.request_started();
        // A snapshot upload may be large: it gets its own, longer limit.
        let deadline = if crate::raft_snapshot::is_upload(req.method(), req.uri().path()) {
            Some(Instant::now() + crate::raft_snapshot::UPLOAD_READ_TIMEOUT)
        } else {
            deadline
        };
        let mut req = req.map(|inner| {
            Body::new(DeadlineBody {
                inner,
                deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            })
        });
        req.extensions_mut().insert(self.addrs.clone());
        let router = self.router.clone();
        Box::pin(async move {
            let resp = router.oneshot(req).await?;
            Ok(resp.map(|inner| {
                Body::new(TrackedBody {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn vault_fallbacks() {
        let t = Timeouts::default();
        assert_eq!(t.read_header, Some(secs(10)));
        assert_eq!(t.read, Some(secs(30)));
        assert_eq!(t.write, None);
        assert_eq!(t.idle, Some(secs(300)));
        assert_eq!(t.tls_handshake, secs(10));
        let t = Timeouts::from_settings(secs(10), secs(30), secs(0), secs(0));
        assert_eq!(t.idle, Some(secs(30)));
        let t = Timeouts::from_settings(secs(10), secs(0), secs(5), secs(0));
        assert_eq!(t.idle, Some(secs(10)));
        assert_eq!(t.tls_handshake, secs(5));
        let t = Timeouts::from_settings(secs(0), secs(0), secs(0), secs(0));
        assert_eq!(t.idle, None);
        assert_eq!(t.tls_handshake, DEFAULT_TLS_HANDSHAKE_TIMEOUT);
    }

    #[test]
    fn header_timeout_from_connection_start() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let s = ConnState::new(t0);
        assert_eq!(s.judge(t0, &t), Verdict::Wait(Some(t0 + secs(10))));
        assert_eq!(
            s.judge(t0 + secs(10), &t),
            Verdict::Close("request header timeout")
        );
    }

    #[test]
    fn idle_then_head_then_request() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let mut s = ConnState::new(t0);
        let body_deadline = s.request_started(t0 + secs(1), &t);
        // The body deadline counts from the head's start (the connection's start here).
        assert_eq!(body_deadline, Some(t0 + secs(30)));
        // In progress: no limit applies without a write timeout.
        assert_eq!(s.judge(t0 + secs(1000), &t), Verdict::Wait(None));
        s.request_finished(t0 + secs(2));
        // Idle: 5 minutes from the end of the response.
        assert_eq!(
            s.judge(t0 + secs(3), &t),
            Verdict::Wait(Some(t0 + secs(302)))
        );
        assert_eq!(s.judge(t0 + secs(302), &t), Verdict::Close("idle timeout"));
        // A first byte switches to the header limit.
        assert!(s.on_bytes(t0 + secs(100)));
        assert!(!s.on_bytes(t0 + secs(101)));
        assert_eq!(
            s.judge(t0 + secs(101), &t),
            Verdict::Wait(Some(t0 + secs(110)))
        );
        assert_eq!(s.request_started(t0 + secs(105), &t), Some(t0 + secs(130)));
        // Bytes while a request is in progress are its body, not a new head.
        assert!(!s.on_bytes(t0 + secs(106)));
    }

    #[test]
    fn write_timeout_aborts_a_late_response() {
        let t = Timeouts::from_settings(secs(10), secs(30), secs(5), secs(300));
        let t0 = Instant::now();
        let mut s = ConnState::new(t0);
        s.request_started(t0, &t);
        assert_eq!(s.judge(t0 + secs(1), &t), Verdict::Wait(Some(t0 + secs(5))));
        assert_eq!(s.judge(t0 + secs(5), &t), Verdict::Abort("write timeout"));
        s.request_finished(t0 + secs(4));
        assert_eq!(
            s.judge(t0 + secs(5), &t),
            Verdict::Wait(Some(t0 + secs(304)))
        );
    }

    #[test]
    fn closing_connection_is_dropped_after_grace() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let mut s = ConnState::new(t0);
        s.closing(t0 + secs(10));
        assert_eq!(
            s.judge(t0 + secs(10), &t),
            Verdict::Wait(Some(t0 + secs(10) + SHUTDOWN_GRACE))
        );
        assert_eq!(
            s.judge(t0 + secs(10) + SHUTDOWN_GRACE, &t),
            Verdict::Abort("still open after shutdown")
        );
        // A request that started before the close finishes first.
        s.request_started(t0 + secs(10), &t);
        assert_eq!(s.judge(t0 + secs(60), &t), Verdict::Wait(None));
        s.request_finished(t0 + secs(60));
        assert_eq!(
            s.judge(t0 + secs(60), &t),
            Verdict::Wait(Some(t0 + secs(60) + SHUTDOWN_GRACE))
        );
    }

    #[test]
    fn http2_frames_between_requests_do_not_start_a_header_limit() {
        assert!(is_h2_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"));
        assert!(is_h2_preface(b"PRI * HT"));
        assert!(!is_h2_preface(b"GET / HTTP/1.1\r\n"));
        assert!(!is_h2_preface(b""));
        let t = Timeouts::default();
        let t0 = Instant::now();
        let mut s = ConnState::new(t0);
        s.set_http2();
        s.request_started(t0, &t);
        s.request_finished(t0 + secs(1));
        assert!(!s.on_bytes(t0 + secs(2)));
        assert_eq!(
            s.judge(t0 + secs(20), &t),
            Verdict::Wait(Some(t0 + secs(301)))
        );
    }

    #[test]
    fn no_limits_never_close() {
        let t = Timeouts::from_settings(secs(0), secs(0), secs(0), secs(0));
        let t0 = Instant::now();
        let s = ConnState::new(t0);
        assert_eq!(s.judge(t0 + secs(1_000_000), &t), Verdict::Wait(None));
    }
}
