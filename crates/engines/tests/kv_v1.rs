//! KV v1 through `LogicalBackend::handle`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use common::Harness;
use serde_json::json;
use tresor_engines::{EngineError, new_backend};
use tresor_sdk::{LogicalError, Operation::*};

#[test]
fn factory_picks_engine_by_kind_and_version() {
    let opts = |v: &str| BTreeMap::from([("version".to_owned(), v.to_owned())]);
    assert!(new_backend("kv", &BTreeMap::new()).is_ok());
    assert!(new_backend("kv", &opts("1")).is_ok());
    assert!(new_backend("kv", &opts("2")).is_ok());
    assert!(new_backend("kv-v2", &BTreeMap::new()).is_ok());
    let err = new_backend("nope", &BTreeMap::new()).err().unwrap();
    assert_eq!(err, EngineError::UnknownType("nope".into()));
    assert!(err.to_string().contains("unknown secrets engine type"));
    assert!(matches!(
        new_backend("kv", &opts("3")).err().unwrap(),
        EngineError::InvalidKvVersion(_)
    ));
}

#[tokio::test]
async fn factory_version_two_is_versioned() {
    // The same write means different things to v1 and v2: v2 needs a `data` wrapper.
    let opts = BTreeMap::from([("version".to_owned(), "2".to_owned())]);
    let mut h = Harness::v1();
    h.backend = new_backend("kv", &opts).unwrap();
    let v = h.data(Update, "data/x", json!({"data": {"a": "b"}})).await;
    assert_eq!(v["version"], 1);
    let h1 = Harness::v1();
    assert!(h1.ok(Update, "data/x", json!({"a": "b"})).await.is_none());
    assert_eq!(h1.data(Read, "data/x", json!({})).await, json!({"a": "b"}));
}

#[tokio::test]
async fn write_read_delete_round_trip() {
    let h = Harness::v1();
    assert!(h.ok(Read, "top-secret", json!({})).await.is_none());
    assert_eq!(h.exists(Create, "top-secret").await, Some(false));
    let written = h
        .ok(Create, "top-secret", json!({"pssst": "hi", "n": 1}))
        .await;
    assert!(written.is_none(), "writes answer 204");
    assert_eq!(h.exists(Update, "top-secret").await, Some(true));
    let resp = h.ok(Read, "top-secret", json!({})).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(resp.data.clone().unwrap()),
        json!({"pssst": "hi", "n": 1})
    );
    assert_eq!(resp.lease_duration, 2_764_800);
    assert!(!resp.renewable);
    // Overwrite replaces the whole object.
    h.ok(Update, "top-secret", json!({"other": true})).await;
    assert_eq!(
        h.data(Read, "top-secret", json!({})).await,
        json!({"other": true})
    );
    assert!(h.ok(Delete, "top-secret", json!({})).await.is_none());
    assert!(h.ok(Read, "top-secret", json!({})).await.is_none());
    assert!(
        h.ok(Delete, "top-secret", json!({})).await.is_none(),
        "idempotent"
    );
}

#[tokio::test]
async fn ttl_field_sets_lease_duration() {
    let h = Harness::v1();
    h.ok(Update, "a", json!({"v": "x", "ttl": "1h"})).await;
    let resp = h.ok(Read, "a", json!({})).await.unwrap();
    assert_eq!(resp.lease_duration, 3600);
    h.ok(Update, "b", json!({"v": "x", "lease": 90})).await;
    assert_eq!(h.ok(Read, "b", json!({})).await.unwrap().lease_duration, 90);
    let msg = h.bad(Update, "c", json!({"ttl": "forever"})).await;
    assert!(msg.contains("failed to parse ttl"), "{msg}");
    assert!(
        h.ok(Read, "c", json!({})).await.is_none(),
        "refused write stored nothing"
    );
}

#[tokio::test]
async fn empty_body_and_bad_paths_are_refused() {
    let h = Harness::v1();
    assert_eq!(h.bad(Update, "k", json!({})).await, "missing data fields");
    assert!(
        h.bad(Update, "", json!({"a": 1}))
            .await
            .contains("missing path")
    );
    assert!(
        h.bad(Update, "dir/", json!({"a": 1}))
            .await
            .contains("slash")
    );
    assert!(matches!(
        h.call(Patch, "k", json!({"a": 1})).await,
        Err(LogicalError::UnsupportedOperation)
    ));
}

#[tokio::test]
async fn list_returns_children_and_folders() {
    let h = Harness::v1();
    for p in ["hvac/top-secret", "hvac/deep/a", "hvac/deep/b/c", "other"] {
        h.ok(Update, p, json!({"v": 1})).await;
    }
    assert_eq!(
        h.data(List, "hvac", json!({})).await,
        json!({"keys": ["deep/", "top-secret"]})
    );
    assert_eq!(
        h.data(List, "hvac/deep/", json!({})).await,
        json!({"keys": ["a", "b/"]})
    );
    assert_eq!(
        h.data(List, "", json!({})).await,
        json!({"keys": ["hvac/", "other"]})
    );
    assert!(
        h.ok(List, "hvac/no-secret-here/", json!({}))
            .await
            .is_none()
    );
}
