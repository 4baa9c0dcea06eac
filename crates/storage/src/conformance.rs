//! The conformance suite every [`Backend`] implementation runs.
//!
//! Call [`run`] with a fresh, empty backend (or a view onto an empty prefix). It panics with a
//! message naming the broken guarantee.

use crate::{Backend, Op, list_recursive};

/// Runs every check against `b`, which must start empty.
pub async fn run(b: &dyn Backend) {
    get_missing_is_none(b).await;
    put_get_overwrite(b).await;
    delete_is_idempotent(b).await;
    list_children(b).await;
    batch_is_atomic_and_ordered(b).await;
    binary_values_round_trip(b).await;
    cleanup(b).await;
}

async fn get_missing_is_none(b: &dyn Backend) {
    assert_eq!(
        b.get("conf/missing").await.expect("get"),
        None,
        "missing key must read as None"
    );
}

async fn put_get_overwrite(b: &dyn Backend) {
    b.put("conf/a", b"1".to_vec()).await.expect("put");
    assert_eq!(
        b.get("conf/a").await.expect("get").as_deref(),
        Some(&b"1"[..])
    );
    b.put("conf/a", b"2".to_vec()).await.expect("overwrite");
    assert_eq!(
        b.get("conf/a").await.expect("get").as_deref(),
        Some(&b"2"[..]),
        "put must overwrite"
    );
}

async fn delete_is_idempotent(b: &dyn Backend) {
    b.delete("conf/a").await.expect("delete");
    assert_eq!(
        b.get("conf/a").await.expect("get"),
        None,
        "deleted key must be gone"
    );
    b.delete("conf/a")
        .await
        .expect("deleting a missing key is not an error");
}

async fn list_children(b: &dyn Backend) {
    for k in [
        "conf/l/x",
        "conf/l/y/z",
        "conf/l/y/w",
        "conf/l/a",
        "conf/lz",
    ] {
        b.put(k, b"v".to_vec()).await.expect("put");
    }
    assert_eq!(
        b.list("conf/l/").await.expect("list"),
        vec!["a".to_owned(), "x".to_owned(), "y/".to_owned()],
        "list must return sorted immediate children, folders with a trailing slash"
    );
    assert!(
        b.list("conf/nothing/").await.expect("list").is_empty(),
        "empty prefix lists nothing"
    );
    let all = list_recursive(b, "conf/l/").await.expect("recursive");
    assert_eq!(all.len(), 4);
}

async fn batch_is_atomic_and_ordered(b: &dyn Backend) {
    b.apply(vec![
        Op::Put {
            key: "conf/batch/1".into(),
            value: b"a".to_vec(),
        },
        Op::Put {
            key: "conf/batch/2".into(),
            value: b"b".to_vec(),
        },
        Op::Delete {
            key: "conf/batch/1".into(),
        },
        Op::Put {
            key: "conf/batch/3".into(),
            value: b"c".to_vec(),
        },
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.get("conf/batch/1").await.expect("get"),
        None,
        "ops apply in order"
    );
    assert_eq!(
        b.get("conf/batch/2").await.expect("get").as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(
        b.get("conf/batch/3").await.expect("get").as_deref(),
        Some(&b"c"[..])
    );
    // A batch containing an invalid op must change nothing.
    let res = b
        .apply(vec![
            Op::Put {
                key: "conf/batch/4".into(),
                value: b"d".to_vec(),
            },
            Op::Put {
                key: String::new(),
                value: b"bad".to_vec(),
            },
        ])
        .await;
    if res.is_err() {
        assert_eq!(
            b.get("conf/batch/4").await.expect("get"),
            None,
            "a refused batch must change nothing"
        );
    }
}

async fn binary_values_round_trip(b: &dyn Backend) {
    let value: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    b.put("conf/bin", value.clone()).await.expect("put");
    assert_eq!(b.get("conf/bin").await.expect("get"), Some(value));
    b.put("conf/empty", Vec::new()).await.expect("empty value");
    assert_eq!(
        b.get("conf/empty").await.expect("get"),
        Some(Vec::new()),
        "empty value is not missing"
    );
}

async fn cleanup(b: &dyn Backend) {
    for k in list_recursive(b, "conf/").await.expect("list") {
        b.delete(&k).await.expect("delete");
    }
    assert!(b.list("conf/").await.expect("list").is_empty());
}
