//! `sys/storage/raft/snapshot` (GET: save, POST/PUT: restore) and
//! `sys/storage/raft/snapshot-force` (POST/PUT: restore without the sealed-checksum check).
//!
//! These bypass the buffered pipeline of [`crate::router`]: the archive is streamed out of a
//! blocking writer through a bounded channel on save, and spooled to a file on the data
//! volume on restore, so memory stays bounded whatever the snapshot's size. They also run
//! outside the request time limit (`max_request_duration`), take no JSON, and the upload has
//! its own size bound ([`MAX_UPLOAD`]); the listener gives their bodies
//! [`UPLOAD_READ_TIMEOUT`] instead of its read timeout ([`crate::connection`]).
//!
//! Access as in Vault: `read` on the path to save, `update` with `sudo` to restore. A
//! standby answers 307 to the active node. Without snapshot support (non-Raft storage) the
//! paths do not exist (404).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;
use tresor_core::snapshot::{SNAPSHOT_FORCE_PATH, SNAPSHOT_PATH};
use tresor_core::{Core, CoreError};
use tresor_sdk::Operation;

use crate::error::ApiError;
use crate::router::AppState;

/// Largest accepted snapshot upload.
pub(crate) const MAX_UPLOAD: u64 = 64 * 1024 * 1024 * 1024;
/// How long a snapshot upload may take to arrive (instead of the listener's read timeout).
pub(crate) const UPLOAD_READ_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// Bytes of archive buffered per message on the way out.
const CHUNK: usize = 256 * 1024;
/// Messages in flight between the writer and the connection.
const DEPTH: usize = 8;

/// Whether `path` (without `/v1/`) is one of these endpoints.
pub(crate) fn is_snapshot_path(path: &str) -> bool {
    path == SNAPSHOT_PATH || path == SNAPSHOT_FORCE_PATH
}

/// Whether a request with this raw URI path uploads a snapshot (for the listener's body
/// deadline).
pub(crate) fn is_upload(method: &Method, uri_path: &str) -> bool {
    (method == Method::POST || method == Method::PUT)
        && uri_path.strip_prefix("/v1/").is_some_and(is_snapshot_path)
}

fn err(e: CoreError) -> Response {
    ApiError::from(e).into_response()
}

/// Serves a snapshot request; `path_and_query` is kept for the standby's redirect.
pub(crate) async fn handle(
    state: &AppState,
    method: Method,
    path: &str,
    path_and_query: &str,
    headers: &axum::http::HeaderMap,
    client: &crate::client_addr::ClientAddr,
    body: Body,
) -> Response {
    let core = &state.core;
    if !core.has_snapshot_store() {
        return err(CoreError::UnsupportedPath);
    }
    let restore = match method {
        Method::GET | Method::HEAD if path == SNAPSHOT_PATH => false,
        Method::POST | Method::PUT => true,
        _ => return ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response(),
    };
    if core.is_sealed() {
        return err(CoreError::Sealed);
    }
    if core.is_standby() {
        return to_active(core, path_and_query);
    }
    let token = crate::router::token_of(headers);
    if let Err(e) = core
        .check_snapshot_access(token.as_deref(), path, restore)
        .await
    {
        return err(e);
    }
    let meta = crate::router::request_meta(client, headers);
    let operation = if restore {
        Operation::Update
    } else {
        Operation::Read
    };
    let raw = match core
        .audit_raw_request(path, operation, token.as_deref(), &meta)
        .await
    {
        Ok(raw) => raw,
        Err(e) => return err(e),
    };
    let resp = if restore {
        restore_from(core, body, path == SNAPSHOT_FORCE_PATH).await
    } else {
        save(core.clone())
    };
    let failed = (!resp.status().is_success()).then(|| resp.status().to_string());
    match core.audit_raw_response(raw, failed.as_deref()).await {
        Ok(()) => resp,
        Err(e) => err(e),
    }
}

/// A standby's answer: 307 to the same path on the active node.
fn to_active(core: &Core, path_and_query: &str) -> Response {
    let Some(leader) = core
        .ha()
        .leadership
        .leader()
        .filter(|l| !l.api_addr.is_empty())
    else {
        return crate::forward::no_active_node();
    };
    let location = format!("{}{path_and_query}", leader.api_addr.trim_end_matches('/'));
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => crate::forward::no_active_node(),
    }
}

/// A blocking writer that hands the archive to the response body in chunks; it fails once
/// the client is gone, which stops the snapshot.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // The store flushes the writer when the archive is complete; this is a last resort
        // that never blocks (it may run on the async runtime).
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            let _ = self.tx.try_send(Ok(chunk));
        }
    }
}

fn save(core: Arc<Core>) -> Response {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
    let failures = tx.clone();
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    // Ends on its own: when the archive is complete, or when the client goes away (the
    // writer then fails and the snapshot stops).
    tokio::spawn(async move {
        if let Err(e) = core.snapshot_save(Box::new(writer)).await {
            tracing::warn!(error = %e, "snapshot save failed");
            // Aborts the response body: the client sees a broken transfer, never a short
            // archive that looks complete.
            let _ = failures
                .send(Err(std::io::Error::other(e.to_string())))
                .await;
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    resp
}

/// Deletes the spooled upload when dropped.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn restore_from(core: &Arc<Core>, body: Body, force: bool) -> Response {
    let dir = match core.snapshot_spool_dir() {
        Ok(d) => d,
        Err(e) => return err(e),
    };
    let spool = Spooled(dir.join(format!("upload-{}.tmp", uuid::Uuid::new_v4().simple())));
    if let Err(resp) = spool_body(body, &spool.0).await {
        return resp;
    }
    match core.snapshot_restore(&spool.0, force).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(e),
    }
}

/// Writes the request body to `path`, bounded by [`MAX_UPLOAD`].
async fn spool_body(body: Body, path: &std::path::Path) -> Result<(), Response> {
    use http_body_util::BodyExt as _;
    let io_err = |e: std::io::Error| {
        err(CoreError::Snapshot(format!(
            "could not spool the snapshot upload: {e}"
        )))
    };
    let mut file = tokio::fs::File::create(path).await.map_err(io_err)?;
    let mut body = body;
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "error reading the request body").into_response()
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len() as u64);
        if seen > MAX_UPLOAD {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "http: request body too large",
            )
            .into_response());
        }
        file.write_all(&data).await.map_err(io_err)?;
    }
    file.flush().await.map_err(io_err)?;
    Ok(())
}
