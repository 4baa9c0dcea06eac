//! A fake snapshot source and helpers shared by the scheduler tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tresor_autosnap::{SnapshotSource, SourceError};

/// Writes `size` bytes of a recognizable pattern per snapshot; can be told to fail (after
/// writing half) or to hang midway.
pub struct FakeSource {
    pub size: usize,
    pub fail: AtomicBool,
    pub hang: AtomicBool,
    /// Virtual seconds to pause midway.
    pub delay_secs: AtomicU64,
    pub calls: AtomicU64,
    pub ok: AtomicU64,
}

impl FakeSource {
    pub fn new(size: usize) -> Arc<FakeSource> {
        Arc::new(FakeSource {
            size,
            fail: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            delay_secs: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            ok: AtomicU64::new(0),
        })
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn successes(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// The bytes one snapshot consists of.
    pub fn bytes(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }
}

#[async_trait]
impl SnapshotSource for FakeSource {
    async fn write_snapshot(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let data = FakeSource::bytes(self.size);
        let half = self.size / 2;
        out.write_all(&data[..half]).await?;
        let delay = self.delay_secs.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        }
        if self.hang.load(Ordering::SeqCst) {
            out.flush().await?;
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(SourceError("raft snapshot failed: injected".into()));
        }
        out.write_all(&data[half..]).await?;
        self.ok.fetch_add(1, Ordering::SeqCst);
        Ok(self.size as u64)
    }
}

/// A JSON object body.
pub fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
