//! KV v2 `delete/`, `undelete/`, `destroy/` through `LogicalBackend::handle`.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::Harness;
use serde_json::{Value, json};
use tresor_sdk::Operation::*;

async fn seeded(n: u64) -> Harness {
    let h = Harness::v2();
    for i in 1..=n {
        h.data(Update, "data/hvac", json!({"data": {"pssst": i}}))
            .await;
    }
    h
}

async fn versions(h: &Harness) -> Value {
    h.data(Read, "metadata/hvac", json!({})).await["versions"].clone()
}

#[tokio::test]
async fn delete_selected_versions() {
    let h = seeded(7).await;
    assert!(
        h.ok(Update, "delete/hvac", json!({"versions": [1, 3, 7]}))
            .await
            .is_none()
    );
    let v = versions(&h).await;
    for n in 1..=7 {
        let deleted = v[n.to_string()]["deletion_time"] != "";
        assert_eq!(deleted, [1, 3, 7].contains(&n), "version {n}");
    }
    let resp = h
        .ok(Read, "data/hvac", json!({"version": 3}))
        .await
        .unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    assert_eq!(
        h.data(Read, "data/hvac", json!({"version": 2})).await["data"],
        json!({"pssst": 2})
    );
}

#[tokio::test]
async fn undelete_restores_versions() {
    let h = seeded(3).await;
    h.ok(Update, "delete/hvac", json!({"versions": [1, 2, 3]}))
        .await;
    h.ok(Update, "undelete/hvac", json!({"versions": [1, 3]}))
        .await;
    let v = versions(&h).await;
    assert_eq!(v["1"]["deletion_time"], "");
    assert_ne!(v["2"]["deletion_time"], "");
    assert_eq!(v["3"]["deletion_time"], "");
    assert_eq!(
        h.data(Read, "data/hvac", json!({})).await["data"],
        json!({"pssst": 3})
    );
}

#[tokio::test]
async fn destroy_removes_data_for_good() {
    let h = seeded(2).await;
    assert_eq!(h.stored_keys("versions/").len(), 2);
    assert!(
        h.ok(Update, "destroy/hvac", json!({"versions": [2]}))
            .await
            .is_none()
    );
    assert_eq!(h.stored_keys("versions/").len(), 1, "data removed");
    let v = versions(&h).await;
    assert_eq!(v["2"]["destroyed"], true);
    assert_eq!(v["1"]["destroyed"], false);
    let resp = h.ok(Read, "data/hvac", json!({})).await.unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::NotFound);
    let body = Value::Object(resp.data.unwrap());
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["destroyed"], true);
    // Undelete cannot bring it back.
    h.ok(Update, "undelete/hvac", json!({"versions": [2]}))
        .await;
    assert_eq!(
        h.ok(Read, "data/hvac", json!({})).await.unwrap().status,
        tresor_sdk::ResponseStatus::NotFound
    );
    // Destroy also works on a soft-deleted version.
    h.ok(Delete, "data/hvac", json!({})).await;
    h.ok(Update, "delete/hvac", json!({"versions": [1]})).await;
    h.ok(Create, "destroy/hvac", json!({"versions": "1"})).await;
    assert_eq!(versions(&h).await["1"]["destroyed"], true);
    assert!(h.stored_keys("versions/").is_empty());
}

#[tokio::test]
async fn nonexistent_versions_and_keys_are_ignored() {
    let h = seeded(3).await;
    let before = versions(&h).await;
    for op in ["delete", "undelete", "destroy"] {
        for vs in [json!([5]), json!([7, 9]), json!([7, 12])] {
            assert!(
                h.ok(Update, &format!("{op}/hvac"), json!({ "versions": vs }))
                    .await
                    .is_none()
            );
        }
        assert!(
            h.ok(Update, &format!("{op}/missing"), json!({"versions": [1]}))
                .await
                .is_none()
        );
    }
    assert_eq!(versions(&h).await, before);
    assert!(h.ok(Read, "metadata/missing", json!({})).await.is_none());
}

#[tokio::test]
async fn versions_are_required() {
    let h = seeded(1).await;
    for op in ["delete", "undelete", "destroy"] {
        for body in [
            json!({}),
            json!({"versions": []}),
            json!({"versions": null}),
        ] {
            assert_eq!(
                h.bad(Update, &format!("{op}/hvac"), body).await,
                "no versions provided"
            );
        }
        assert!(
            h.bad(Update, &format!("{op}/hvac"), json!({"versions": ["one"]}))
                .await
                .contains("version")
        );
    }
}
