//! KV v2 `metadata/` through `LogicalBackend::handle`.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::Harness;
use serde_json::{Value, json};
use tresor_sdk::Operation::*;

#[tokio::test]
async fn metadata_shape_after_writes() {
    let h = Harness::v2();
    assert!(h.ok(Read, "metadata/hvac", json!({})).await.is_none());
    h.data(Update, "data/hvac", json!({"data": {"a": 1}})).await;
    h.advance_secs(5);
    h.data(Update, "data/hvac", json!({"data": {"a": 2}})).await;
    let md = h.data(Read, "metadata/hvac", json!({})).await;
    let mut fields: Vec<&String> = md.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "cas_required",
            "created_time",
            "current_version",
            "custom_metadata",
            "delete_version_after",
            "max_versions",
            "oldest_version",
            "updated_time",
            "versions"
        ]
    );
    assert_eq!(md["current_version"], 2);
    assert_eq!(md["oldest_version"], 0);
    assert_eq!(md["max_versions"], 0);
    assert_eq!(md["cas_required"], false);
    assert_eq!(md["delete_version_after"], "0s");
    assert_eq!(md["custom_metadata"], Value::Null);
    assert_eq!(md["created_time"], "2023-11-14T22:13:20Z");
    assert_eq!(md["updated_time"], "2023-11-14T22:13:25Z");
    assert_eq!(
        md["versions"]["2"],
        json!({"created_time": "2023-11-14T22:13:25Z", "deletion_time": "", "destroyed": false})
    );
}

#[tokio::test]
async fn update_metadata_fields() {
    let h = Harness::v2();
    h.data(Update, "data/hvac", json!({"data": {"a": 1}})).await;
    h.ok(
        Update,
        "metadata/hvac",
        json!({"max_versions": 7, "cas_required": true, "delete_version_after": "30s",
               "custom_metadata": {"color": "blue"}}),
    )
    .await;
    let md = h.data(Read, "metadata/hvac", json!({})).await;
    assert_eq!(md["max_versions"], 7);
    assert_eq!(md["cas_required"], true);
    assert_eq!(md["delete_version_after"], "30s");
    assert_eq!(md["custom_metadata"], json!({"color": "blue"}));
    // Custom metadata shows up on version reads and writes.
    let w = h
        .data(
            Update,
            "data/hvac",
            json!({"data": {"a": 2}, "options": {"cas": 1}}),
        )
        .await;
    assert_eq!(w["custom_metadata"], json!({"color": "blue"}));
    assert_ne!(
        w["deletion_time"], "",
        "per-key delete_version_after applies"
    );
    // Only given fields change; max_versions 0 means "the mount's".
    h.ok(Update, "metadata/hvac", json!({"max_versions": 0}))
        .await;
    let md = h.data(Read, "metadata/hvac", json!({})).await;
    assert_eq!(md["max_versions"], 0);
    assert_eq!(md["cas_required"], true);
    assert_eq!(md["custom_metadata"], json!({"color": "blue"}));
    // Bad input.
    assert!(
        h.bad(Update, "metadata/hvac", json!({"cas_required": "cats"}))
            .await
            .contains("cas_required")
    );
    assert!(
        h.bad(
            Update,
            "metadata/hvac",
            json!({"custom_metadata": "not-a-dict!"})
        )
        .await
        .contains("custom_metadata")
    );
    let long = "x".repeat(600);
    assert!(
        h.bad(
            Update,
            "metadata/hvac",
            json!({"custom_metadata": {"k": long}})
        )
        .await
        .contains("custom_metadata")
    );
}

#[tokio::test]
async fn metadata_write_creates_a_key_without_versions() {
    let h = Harness::v2();
    assert_eq!(h.exists(Create, "metadata/fresh").await, Some(false));
    h.ok(Create, "metadata/fresh", json!({"max_versions": 2}))
        .await;
    assert_eq!(h.exists(Update, "metadata/fresh").await, Some(true));
    let md = h.data(Read, "metadata/fresh", json!({})).await;
    assert_eq!(md["current_version"], 0);
    assert_eq!(md["versions"], json!({}));
    assert!(h.ok(Read, "data/fresh", json!({})).await.is_none());
    for n in 1..=3 {
        h.data(Update, "data/fresh", json!({"data": {"n": n}}))
            .await;
    }
    let md = h.data(Read, "metadata/fresh", json!({})).await;
    assert_eq!(md["versions"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn patch_metadata_merges() {
    let h = Harness::v2();
    let resp = h
        .ok(Patch, "metadata/none", json!({"max_versions": 1}))
        .await
        .unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    assert!(h.ok(Read, "metadata/none", json!({})).await.is_none());

    h.data(Update, "data/k", json!({"data": {"a": 1}})).await;
    h.ok(
        Update,
        "metadata/k",
        json!({"custom_metadata": {"a": "1", "b": "2"}, "max_versions": 4}),
    )
    .await;
    h.ok(
        Patch,
        "metadata/k",
        json!({"custom_metadata": {"a": null, "c": "3"}, "cas_required": true}),
    )
    .await;
    let md = h.data(Read, "metadata/k", json!({})).await;
    assert_eq!(md["custom_metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(md["max_versions"], 4);
    assert_eq!(md["cas_required"], true);
}

#[tokio::test]
async fn delete_metadata_removes_everything() {
    let h = Harness::v2();
    for n in 1..=3 {
        h.data(Update, "data/hvac/top-secret", json!({"data": {"n": n}}))
            .await;
    }
    h.data(Update, "data/other", json!({"data": {"n": 0}}))
        .await;
    assert!(
        h.ok(Delete, "metadata/hvac/top-secret", json!({}))
            .await
            .is_none()
    );
    assert!(
        h.ok(Read, "metadata/hvac/top-secret", json!({}))
            .await
            .is_none()
    );
    assert!(
        h.ok(Read, "data/hvac/top-secret", json!({}))
            .await
            .is_none()
    );
    assert_eq!(h.stored_keys("versions/").len(), 1, "only `other` is left");
    assert_eq!(h.stored_keys("meta/"), ["logical/test-uuid/meta/other"]);
    assert!(
        h.ok(Delete, "metadata/hvac/no-secret-here", json!({}))
            .await
            .is_none()
    );
    // The key can be written again from version 1.
    let w = h
        .data(Update, "data/hvac/top-secret", json!({"data": {"n": 9}}))
        .await;
    assert_eq!(w["version"], 1);
}

#[tokio::test]
async fn deep_listing() {
    let h = Harness::v2();
    for p in ["a", "b/c", "b/d/e", "b/d/f", "b/d/g/h", "bz"] {
        h.data(Update, &format!("data/{p}"), json!({"data": {"v": p}}))
            .await;
    }
    assert_eq!(
        h.data(List, "metadata/", json!({})).await,
        json!({"keys": ["a", "b/", "bz"]})
    );
    assert_eq!(
        h.data(List, "metadata", json!({})).await,
        json!({"keys": ["a", "b/", "bz"]})
    );
    assert_eq!(
        h.data(List, "metadata/b", json!({})).await,
        json!({"keys": ["c", "d/"]})
    );
    assert_eq!(
        h.data(List, "metadata/b/d/", json!({})).await,
        json!({"keys": ["e", "f", "g/"]})
    );
    assert_eq!(
        h.data(List, "metadata/b/d/g/", json!({})).await,
        json!({"keys": ["h"]})
    );
    assert!(h.ok(List, "metadata/nothing/", json!({})).await.is_none());
    // A soft-deleted key is still listed; a metadata-deleted one is not.
    h.ok(Delete, "data/b/c", json!({})).await;
    assert_eq!(
        h.data(List, "metadata/b/", json!({})).await,
        json!({"keys": ["c", "d/"]})
    );
    h.ok(Delete, "metadata/b/c", json!({})).await;
    assert_eq!(
        h.data(List, "metadata/b/", json!({})).await,
        json!({"keys": ["d/"]})
    );
}
