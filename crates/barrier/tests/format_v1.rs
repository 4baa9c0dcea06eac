//! Format stability: data written by the first version of the barrier format must stay
//! readable. The fixture below was produced once with root key `[0x11; 32]`: initialize,
//! unseal, write `secret/data/app`, rotate, write `sys/policy/dev`. Never regenerate it; add a
//! new fixture when the format changes.

use std::sync::Arc;

use tresor_barrier::{Barrier, BarrierError};
use tresor_crypto::Key32;
use tresor_storage::{Backend, InMemBackend};

const FIXTURE_V1: &[(&str, &str)] = &[
    (
        "core/keyring",
        "01000000001560e5cb2aff9498d7f7d2fd136562ff6f15b24a44ca26f4d841e8b8aaa497b8504e4f4fc802807ceb5cb6bbd5cb12cfc67418ae610d6f6db282d89257616e71314445c4aea67321a74ee5439b4d1d32c542f1f352d3a3453917cc40944b5330d679588a00cadcff3bca3e756ed60cf604e42b943b9860f3377b329b34b8a35506b564d2f6717325f42906989f8fe0a3ccb2af60cc7a62f5d676d9f91311cb7977836cee6d30f396f43b7f79c06e468061a6cded77489f2e7d2d4a96a2c5f9f4b6b0889a2eafc937e9662dd85c004cbf7883deec561002a441a29151be7f0112c71ebfc6ea2f7b67670bd5f85bbb6d2619a7186675ec5dd6bc6e5c1634f856b796a7f4f4b9776f8d0f73b5e63bc59527112ca67a44ef",
    ),
    (
        "secret/data/app",
        "0100000001b50f2fd77d8213e8a975dce75827de17ccbe9f8b0da09c80149f52cdfc2ccfb013bafcb9785f4a7832edfb0061a927e95a0c",
    ),
    (
        "sys/policy/dev",
        "01000000023e416d5f44584c83a0f6fdc5a057f8176ac304546c8a237be37f81ba257a632d16357ddf577876",
    ),
];

async fn load_fixture() -> Arc<InMemBackend> {
    let physical = Arc::new(InMemBackend::new());
    for (key, value) in FIXTURE_V1 {
        physical
            .put(key, hex::decode(value).expect("fixture is hex"))
            .await
            .expect("put");
    }
    physical
}

#[tokio::test]
async fn reads_format_v1_fixture() {
    let barrier = Barrier::new(load_fixture().await);
    let root = Key32::from_slice(&[0x11; 32]).unwrap();
    barrier.unseal(&root).await.unwrap();
    assert_eq!(barrier.key_status().unwrap().term, 2);
    assert_eq!(
        barrier.get("secret/data/app").await.unwrap().as_deref(),
        Some(&br#"{"password":"hunter2"}"#[..])
    );
    assert_eq!(
        barrier.get("sys/policy/dev").await.unwrap().as_deref(),
        Some(&br#"path "*" {}"#[..])
    );
}

#[tokio::test]
async fn fixture_refuses_other_root_keys() {
    let barrier = Barrier::new(load_fixture().await);
    let wrong = Key32::from_slice(&[0x12; 32]).unwrap();
    assert_eq!(barrier.unseal(&wrong).await, Err(BarrierError::InvalidKey));
}
