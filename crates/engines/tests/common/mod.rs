//! Shared harness: a backend over an in-memory store, driven through `LogicalBackend::handle`.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Map, Value};
use tresor_engines::{KvV2, Transit, new_backend};
use tresor_sdk::{LogicalBackend, LogicalError, MountInfo, Operation, Request, Response};
use tresor_storage::{InMemBackend, View};

pub const START_NS: i64 = 1_700_000_000_000_000_000;

pub struct Harness {
    pub backend: Arc<dyn LogicalBackend>,
    pub inner: Arc<InMemBackend>,
    pub view: View,
    pub now: Arc<AtomicI64>,
    pub mount: MountInfo,
}

impl Harness {
    fn with(backend: Arc<dyn LogicalBackend>, now: Arc<AtomicI64>, kind: &str) -> Self {
        let inner = Arc::new(InMemBackend::new());
        let view = View::new(inner.clone(), "logical/test-uuid/");
        let mount = MountInfo {
            path: "secret/".into(),
            kind: kind.into(),
            default_lease_ttl: 2_764_800,
            max_lease_ttl: 2_764_800,
            ..MountInfo::default()
        };
        Self {
            backend,
            inner,
            view,
            now,
            mount,
        }
    }

    /// KV v1 built through `new_backend("kv", {})`.
    pub fn v1() -> Self {
        let b = new_backend("kv", &BTreeMap::new()).unwrap();
        Self::with(b, Arc::new(AtomicI64::new(START_NS)), "kv")
    }

    /// KV v2 on a manual clock.
    pub fn v2() -> Self {
        let now = Arc::new(AtomicI64::new(START_NS));
        let n = now.clone();
        let b = Arc::new(KvV2::with_clock(Arc::new(move || n.load(Ordering::SeqCst))));
        Self::with(b, now, "kv")
    }

    /// Transit on a manual clock, mounted at `transit/`.
    pub fn transit() -> Self {
        let now = Arc::new(AtomicI64::new(START_NS));
        let n = now.clone();
        let b = Arc::new(Transit::with_clock(Arc::new(move || {
            n.load(Ordering::SeqCst)
        })));
        let mut h = Self::with(b, now, "transit");
        h.mount.path = "transit/".into();
        h
    }

    pub fn advance_secs(&self, secs: i64) {
        self.now.fetch_add(secs * 1_000_000_000, Ordering::SeqCst);
    }

    pub fn request(&self, op: Operation, path: &str, body: Value) -> Request {
        let data: Map<String, Value> = match body {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => panic!("body must be an object, got {other}"),
        };
        let mut req = Request::new(op, path, self.view.clone()).with_data(data);
        req.mount = self.mount.clone();
        req
    }

    pub async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, LogicalError> {
        self.backend.handle(&self.request(op, path, body)).await
    }

    /// A call that must succeed.
    pub async fn ok(&self, op: Operation, path: &str, body: Value) -> Option<Response> {
        self.call(op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"))
    }

    /// A call that must succeed with a body; returns its `data` as JSON.
    pub async fn data(&self, op: Operation, path: &str, body: Value) -> Value {
        let resp = self
            .ok(op, path, body)
            .await
            .unwrap_or_else(|| panic!("{op:?} {path}: no response"));
        assert_eq!(
            resp.status,
            tresor_sdk::ResponseStatus::Ok,
            "{op:?} {path}: unexpected status"
        );
        Value::Object(resp.data.expect("data"))
    }

    /// A call that must fail with 400; returns the message.
    pub async fn bad(&self, op: Operation, path: &str, body: Value) -> String {
        match self.call(op, path, body).await {
            Err(LogicalError::InvalidRequest(m)) => m,
            other => panic!("{op:?} {path}: expected InvalidRequest, got {other:?}"),
        }
    }

    pub async fn exists(&self, op: Operation, path: &str) -> Option<bool> {
        self.backend
            .exists(&self.request(op, path, Value::Null))
            .await
            .unwrap()
    }

    /// Storage keys below the mount view that start with `prefix`.
    pub fn stored_keys(&self, prefix: &str) -> Vec<String> {
        let full = format!("logical/test-uuid/{prefix}");
        self.inner
            .dump()
            .into_keys()
            .filter(|k| k.starts_with(&full))
            .collect()
    }
}
