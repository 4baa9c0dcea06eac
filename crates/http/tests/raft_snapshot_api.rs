//! `sys/storage/raft/snapshot` and `snapshot-force` through the router (no sockets), over a
//! recording snapshot store: 404 without snapshot support, Vault's access rules, the
//! archive streamed out, the upload handed over whole, and the sealed-checksum check that
//! only `snapshot-force` skips.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;
use tresor_core::snapshot::{CheckSumsFn, SealSumsFn};
use tresor_core::{SnapshotStore, SnapshotStoreError};
use tresor_http::{AppState, router};

const SUMS: &[u8] = b"0123  meta.json\n4567  state.bin\n";

/// Writes a fixed archive and remembers the sealed sums; a restore hands the uploaded bytes
/// and the sealed sums it is told to check.
struct Recorder {
    dir: tempfile::TempDir,
    sealed: Mutex<Vec<u8>>,
    restored: Mutex<Vec<Vec<u8>>>,
    /// The sealed sums a restore checks (defaults to those of the last save).
    present: Mutex<Option<Vec<u8>>>,
}

#[async_trait::async_trait]
impl SnapshotStore for Recorder {
    async fn save(
        &self,
        mut out: Box<dyn Write + Send>,
        seal: SealSumsFn,
    ) -> Result<(), SnapshotStoreError> {
        let sealed = seal(SUMS).map_err(SnapshotStoreError::Io)?;
        *self.sealed.lock().unwrap() = sealed;
        let archive = vec![7u8; 600_000];
        tokio::task::spawn_blocking(move || {
            out.write_all(&archive).unwrap();
            out.flush().unwrap();
        })
        .await
        .unwrap();
        Ok(())
    }

    async fn restore(&self, archive: &Path, check: CheckSumsFn) -> Result<(), SnapshotStoreError> {
        let bytes = std::fs::read(archive).unwrap();
        let sealed = self
            .present
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.sealed.lock().unwrap().clone());
        check(SUMS, &sealed).map_err(SnapshotStoreError::Refused)?;
        self.restored.lock().unwrap().push(bytes);
        Ok(())
    }

    fn spool_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

async fn send(
    state: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(format!("/v1/{path}"));
    if let Some(t) = token {
        req = req.header("x-vault-token", t);
    }
    let resp = router(state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

#[tokio::test]
async fn without_raft_storage_the_paths_do_not_exist() {
    let (s, root) = common::unsealed_node().await;
    for (method, path) in [
        ("GET", "sys/storage/raft/snapshot"),
        ("POST", "sys/storage/raft/snapshot"),
        ("POST", "sys/storage/raft/snapshot-force"),
    ] {
        let (status, _, _) = send(&s, method, path, Some(&root), b"x".to_vec()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
}

#[tokio::test]
async fn save_and_restore_with_vaults_access_rules() {
    let (s, root) = common::unsealed_node().await;
    let rec = Arc::new(Recorder {
        dir: tempfile::tempdir().unwrap(),
        sealed: Mutex::new(Vec::new()),
        restored: Mutex::new(Vec::new()),
        present: Mutex::new(None),
    });
    s.core.set_snapshot_store(rec.clone());

    let (status, _, _) = send(&s, "GET", "sys/storage/raft/snapshot", None, vec![]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, body) =
        send(&s, "GET", "sys/storage/raft/snapshot", Some(&root), vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/gzip");
    assert_eq!(headers["content-disposition"], "attachment");
    assert_eq!(body, vec![7u8; 600_000], "streamed whole");
    assert!(!rec.sealed.lock().unwrap().is_empty());

    // A token with `read` only may save but not restore.
    let policy = r#"path "sys/storage/raft/snapshot" { capabilities = ["read"] }"#;
    let a = common::call(
        &s,
        "PUT",
        "/v1/sys/policies/acl/snap",
        Some(&root),
        Some(json!({"policy": policy})),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let t = common::call(
        &s,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["snap"]})),
    )
    .await;
    let reader = t.body["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, _, _) = send(
        &s,
        "GET",
        "sys/storage/raft/snapshot",
        Some(&reader),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        &s,
        "POST",
        "sys/storage/raft/snapshot",
        Some(&reader),
        b"a".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &s,
        "GET",
        "sys/storage/raft/snapshot-force",
        Some(&root),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // The upload reaches the store whole, well past the JSON and request-size limits.
    let upload: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
    let (status, _, body) = send(
        &s,
        "POST",
        "sys/storage/raft/snapshot",
        Some(&root),
        upload.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(rec.restored.lock().unwrap().last(), Some(&upload));
    assert_eq!(
        std::fs::read_dir(rec.dir.path()).unwrap().count(),
        0,
        "spool removed"
    );

    // Sealed sums of other keys: refused, pointing to snapshot-force, which skips the check.
    *rec.present.lock().unwrap() = Some(b"sealed by someone else".to_vec());
    let (status, _, body) = send(
        &s,
        "POST",
        "sys/storage/raft/snapshot",
        Some(&root),
        b"b".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("snapshot-force"));
    assert_eq!(rec.restored.lock().unwrap().len(), 1);
    let (status, _, _) = send(
        &s,
        "POST",
        "sys/storage/raft/snapshot-force",
        Some(&root),
        b"c".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(rec.restored.lock().unwrap().last(), Some(&b"c".to_vec()));
}
