//! KV v2 `data/`, `subkeys/` and `config` through `LogicalBackend::handle`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;

use common::Harness;
use serde_json::{Value, json};
use tresor_sdk::{LogicalError, Operation::*};

async fn put(h: &Harness, path: &str, data: Value) -> Value {
    h.data(Update, &format!("data/{path}"), json!({ "data": data }))
        .await
}

#[tokio::test]
async fn write_then_read_versions() {
    let h = Harness::v2();
    assert!(h.ok(Read, "data/top-secret", json!({})).await.is_none());
    assert_eq!(h.exists(Create, "data/top-secret").await, Some(false));
    for n in 1..=3 {
        let w = put(&h, "top-secret", json!({ "pssst": n })).await;
        assert_eq!(w["version"], n);
        assert_eq!(w["destroyed"], false);
        assert_eq!(w["deletion_time"], "");
        assert_eq!(w["custom_metadata"], Value::Null);
        assert!(w["created_time"].as_str().unwrap().ends_with('Z'));
        h.advance_secs(1);
    }
    assert_eq!(h.exists(Update, "data/top-secret").await, Some(true));
    assert_eq!(h.exists(Update, "metadata/top-secret").await, Some(true));
    assert_eq!(h.exists(Update, "config").await, None);

    let latest = h.data(Read, "data/top-secret", json!({})).await;
    assert_eq!(latest["data"], json!({"pssst": 3}));
    assert_eq!(latest["metadata"]["version"], 3);
    let v1 = h
        .data(Read, "data/top-secret", json!({"version": "1"}))
        .await;
    assert_eq!(v1["data"], json!({"pssst": 1}));
    assert_eq!(v1["metadata"]["version"], 1);
    assert_eq!(
        v1["metadata"]["created_time"], "2023-11-14T22:13:20Z",
        "created at the harness start time"
    );
    assert!(
        h.ok(Read, "data/top-secret", json!({"version": 9}))
            .await
            .is_none(),
        "unknown version is a plain 404"
    );
    let msg = h
        .bad(Read, "data/top-secret", json!({"version": "two"}))
        .await;
    assert!(msg.contains("version"), "{msg}");
}

#[tokio::test]
async fn write_validation_messages() {
    let h = Harness::v2();
    assert_eq!(h.bad(Update, "data/k", json!({})).await, "no data provided");
    assert_eq!(
        h.bad(Update, "data/k", json!({"data": null})).await,
        "no data provided"
    );
    assert!(
        h.bad(Update, "data/k", json!({"data": "str"}))
            .await
            .contains("data")
    );
    assert!(
        h.bad(
            Update,
            "data/k",
            json!({"data": {}, "options": {"cas": "x"}})
        )
        .await
        .contains("cas")
    );
    assert!(
        h.bad(Update, "data/", json!({"data": {"a": 1}}))
            .await
            .contains("path")
    );
    assert!(h.stored_keys("").is_empty(), "refused writes store nothing");
}

#[tokio::test]
async fn check_and_set() {
    let h = Harness::v2();
    let cas = |n: i64| json!({"data": {"pssst": "hi"}, "options": {"cas": n}});
    assert_eq!(h.data(Update, "data/hvac", cas(0)).await["version"], 1);
    assert_eq!(
        h.bad(Update, "data/hvac", cas(0)).await,
        "check-and-set parameter did not match the current version"
    );
    assert_eq!(
        h.bad(Update, "data/hvac", cas(5)).await,
        "check-and-set parameter did not match the current version"
    );
    assert_eq!(
        h.bad(Update, "data/hvac", cas(-1)).await,
        "check-and-set parameter did not match the current version",
        "a negative cas is a mismatch, as in Vault"
    );
    assert_eq!(h.data(Update, "data/hvac", cas(1)).await["version"], 2);

    // Mount-wide requirement.
    h.ok(Update, "config", json!({"cas_required": true})).await;
    assert_eq!(
        h.bad(Update, "data/hvac", json!({"data": {"a": 1}})).await,
        "check-and-set parameter required for this call"
    );
    assert_eq!(h.data(Update, "data/hvac", cas(2)).await["version"], 3);
    h.ok(Update, "config", json!({"cas_required": false})).await;

    // Per-key requirement.
    h.ok(Update, "metadata/strict", json!({"cas_required": true}))
        .await;
    assert_eq!(
        h.bad(Update, "data/strict", json!({"data": {"a": 1}}))
            .await,
        "check-and-set parameter required for this call"
    );
    assert_eq!(h.data(Update, "data/strict", cas(0)).await["version"], 1);
    assert_eq!(put(&h, "free", json!({"a": 1})).await["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_writers_exactly_one_wins() {
    let h = Arc::new(Harness::v2());
    put(&h, "race", json!({"v": 0})).await;
    for round in 1..=5u64 {
        let mut tasks = Vec::new();
        for writer in 0..8 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.call(
                    Update,
                    "data/race",
                    json!({"data": {"writer": writer}, "options": {"cas": round}}),
                )
                .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Some(_)) => wins += 1,
                Err(LogicalError::InvalidRequest(m)) => {
                    assert!(m.contains("did not match"), "{m}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let md = h.data(Read, "metadata/race", json!({})).await;
        assert_eq!(md["current_version"], round + 1);
    }
}

#[tokio::test]
async fn max_versions_prunes_oldest() {
    let h = Harness::v2();
    h.ok(Update, "config", json!({"max_versions": 3})).await;
    for n in 1..=5 {
        put(&h, "k", json!({ "n": n })).await;
    }
    let md = h.data(Read, "metadata/k", json!({})).await;
    let versions: Vec<&String> = md["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["3", "4", "5"]);
    assert_eq!(md["oldest_version"], 3);
    assert_eq!(md["current_version"], 5);
    assert!(h.ok(Read, "data/k", json!({"version": 1})).await.is_none());
    assert_eq!(
        h.data(Read, "data/k", json!({"version": 3})).await["data"],
        json!({"n": 3})
    );
    assert_eq!(
        h.stored_keys("versions/").len(),
        3,
        "pruned data is removed"
    );

    // A per-key setting overrides the mount's.
    h.ok(Update, "metadata/k", json!({"max_versions": 1})).await;
    put(&h, "k", json!({"n": 6})).await;
    let md = h.data(Read, "metadata/k", json!({})).await;
    assert_eq!(md["versions"].as_object().unwrap().len(), 1);
    assert_eq!(md["oldest_version"], 6);
    assert_eq!(h.stored_keys("versions/").len(), 1);
}

#[tokio::test]
async fn patch_merges_into_a_new_version() {
    let h = Harness::v2();
    put(
        &h,
        "p",
        json!({"keep": "1", "drop": "2", "nested": {"a": 1, "b": 2}}),
    )
    .await;
    let w = h
        .data(
            Patch,
            "data/p",
            json!({"data": {"drop": null, "new": "3", "nested": {"b": null, "c": 3}}}),
        )
        .await;
    assert_eq!(w["version"], 2);
    assert_eq!(
        h.data(Read, "data/p", json!({})).await["data"],
        json!({"keep": "1", "new": "3", "nested": {"a": 1, "c": 3}})
    );
    assert_eq!(
        h.data(Read, "data/p", json!({"version": 1})).await["data"]["drop"],
        "2",
        "old version untouched"
    );
    assert_eq!(
        h.bad(
            Patch,
            "data/p",
            json!({"data": {"x": 1}, "options": {"cas": 1}})
        )
        .await,
        "check-and-set parameter did not match the current version"
    );
    assert_eq!(
        h.data(
            Patch,
            "data/p",
            json!({"data": {"x": 1}, "options": {"cas": 2}})
        )
        .await["version"],
        3
    );
    assert_eq!(h.bad(Patch, "data/p", json!({})).await, "no data provided");
}

#[tokio::test]
async fn patch_needs_a_live_current_version() {
    let h = Harness::v2();
    let missing = h
        .ok(Patch, "data/nope", json!({"data": {"a": 1}}))
        .await
        .expect("a 404 response, not 204");
    assert_eq!(missing.status, tresor_sdk::ResponseStatus::NotFound);
    put(&h, "gone", json!({"a": 1})).await;
    h.ok(Delete, "data/gone", json!({})).await;
    let resp = h
        .ok(Patch, "data/gone", json!({"data": {"a": 2}}))
        .await
        .unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    let md = h.data(Read, "metadata/gone", json!({})).await;
    assert_eq!(md["current_version"], 1, "nothing written");
}

#[tokio::test]
async fn delete_latest_soft_deletes() {
    let h = Harness::v2();
    for n in 1..=3 {
        put(&h, "hvac", json!({ "pssst": n })).await;
    }
    h.advance_secs(10);
    assert!(h.ok(Delete, "data/hvac", json!({})).await.is_none());
    let resp = h.ok(Read, "data/hvac", json!({})).await.unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    let body = Value::Object(resp.data.unwrap());
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["version"], 3);
    assert_eq!(body["metadata"]["deletion_time"], "2023-11-14T22:13:30Z");
    let md = h.data(Read, "metadata/hvac", json!({})).await;
    assert_ne!(md["versions"]["3"]["deletion_time"], "");
    assert_eq!(md["versions"]["1"]["deletion_time"], "");
    assert_eq!(md["versions"]["2"]["deletion_time"], "");
    // Earlier versions stay readable.
    assert_eq!(
        h.data(Read, "data/hvac", json!({"version": 2})).await["data"],
        json!({"pssst": 2})
    );
    // A missing key: 204, and no metadata appears.
    assert!(
        h.ok(Delete, "data/no-secret-here", json!({}))
            .await
            .is_none()
    );
    assert!(
        h.ok(Read, "metadata/no-secret-here", json!({}))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let h = Harness::v2();
    h.ok(Update, "config", json!({"delete_version_after": "1h"}))
        .await;
    let w = put(&h, "ttl", json!({"a": 1})).await;
    assert_eq!(w["deletion_time"], "2023-11-14T23:13:20Z");
    assert_eq!(
        h.data(Read, "data/ttl", json!({})).await["data"],
        json!({"a": 1})
    );
    h.advance_secs(3600);
    let resp = h.ok(Read, "data/ttl", json!({})).await.unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    // Undelete clears the scheduled deletion.
    h.ok(Update, "undelete/ttl", json!({"versions": [1]})).await;
    assert_eq!(
        h.data(Read, "data/ttl", json!({})).await["metadata"]["deletion_time"],
        ""
    );
}

#[tokio::test]
async fn subkeys_shows_structure() {
    let h = Harness::v2();
    put(
        &h,
        "s",
        json!({"foo": "x", "bar": {"baz": {"q": 1}, "n": 2}}),
    )
    .await;
    let full = h.data(Read, "subkeys/s", json!({})).await;
    assert_eq!(
        full["subkeys"],
        json!({"foo": null, "bar": {"baz": {"q": null}, "n": null}})
    );
    assert_eq!(full["metadata"]["version"], 1);
    let shallow = h.data(Read, "subkeys/s", json!({"depth": "1"})).await;
    assert_eq!(shallow["subkeys"], json!({"foo": null, "bar": null}));
    assert!(h.ok(Read, "subkeys/none", json!({})).await.is_none());
    h.ok(Delete, "data/s", json!({})).await;
    let resp = h.ok(Read, "subkeys/s", json!({})).await.unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
}

#[tokio::test]
async fn config_round_trips() {
    let h = Harness::v2();
    assert_eq!(
        h.data(Read, "config", json!({})).await,
        json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0})
    );
    h.ok(
        Update,
        "config",
        json!({"max_versions": 17, "cas_required": true, "delete_version_after": "30m0s"}),
    )
    .await;
    assert_eq!(
        h.data(Read, "config", json!({})).await,
        json!({"cas_required": true, "delete_version_after": "30m0s", "max_versions": 17})
    );
    h.ok(Update, "config", json!({"max_versions": 2})).await;
    let c = h.data(Read, "config", json!({})).await;
    assert_eq!(c["cas_required"], true, "unspecified fields are kept");
    assert!(
        h.bad(Update, "config", json!({"max_versions": "lots"}))
            .await
            .contains("max_versions")
    );
}

#[tokio::test]
async fn unknown_paths_and_operations() {
    let h = Harness::v2();
    // A path outside KV v2's API is a 404 with a hint, as Vault's engine answers.
    match h.call(Read, "nope/x", json!({})).await {
        Ok(Some(resp)) => {
            assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
            assert!(
                resp.warnings[0].contains("versioned K/V"),
                "{:?}",
                resp.warnings
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.call(List, "data/", json!({})).await,
        Err(LogicalError::UnsupportedOperation)
    ));
    assert!(matches!(
        h.call(Delete, "config", json!({})).await,
        Err(LogicalError::UnsupportedOperation)
    ));
}

#[tokio::test]
async fn setup_accepts_empty_mount_and_rejects_corrupt_config() {
    use tresor_storage::Backend;
    let h = Harness::v2();
    h.backend.setup(&h.view, &h.mount).await.unwrap();
    assert!(h.stored_keys("").is_empty(), "setup writes nothing");
    h.view.put("config", b"not json".to_vec()).await.unwrap();
    assert!(h.backend.setup(&h.view, &h.mount).await.is_err());
    assert!(matches!(
        h.call(Read, "config", json!({})).await,
        Err(LogicalError::Storage(_))
    ));
}
