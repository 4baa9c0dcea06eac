//! Certificate rotation on a running cluster port.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use common::{
    PeerCertEcho, bind, client_options, node_identity, serve, three_node_cluster, wait_caught_up,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tresor_cluster::{ClusterClient, ClusterError, ClusterIdentity};
use tresor_storage::Backend;

fn leaf_der(identity: &ClusterIdentity) -> Vec<u8> {
    let pem = &identity.node_cert().unwrap().cert_pem;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

/// The leaf certificate a fresh TLS connection to `addr` is shown by the server.
async fn server_leaf(client: &ClusterIdentity, addr: &str) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(addr.trim_start_matches("https://"))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(client.client_config().unwrap())
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_identities_are_used_by_client_and_server() {
    let ca = ClusterIdentity::generate_ca("rot").unwrap();
    let (listener, addr) = bind().await;
    let server_v1 = node_identity(&ca, "vault-1");
    let served = serve(listener, addr.clone(), &server_v1, Arc::new(PeerCertEcho));

    let client_v1 = node_identity(&ca, "vault-2");
    let client = ClusterClient::new(&client_v1, client_options()).unwrap();
    let seen = client.call(&addr, "echo", Bytes::new()).await.unwrap();
    assert_eq!(seen.as_ref(), leaf_der(&client_v1).as_slice());

    // Client rotation: the server now sees the new certificate.
    let client_v2 = node_identity(&ca, "vault-2");
    assert_ne!(leaf_der(&client_v1), leaf_der(&client_v2));
    client.set_identity(&client_v2).unwrap();
    let seen = client.call(&addr, "echo", Bytes::new()).await.unwrap();
    assert_eq!(seen.as_ref(), leaf_der(&client_v2).as_slice());

    // Server rotation: new connections are shown the new certificate.
    assert_eq!(server_leaf(&client_v2, &addr).await, leaf_der(&server_v1));
    let server_v2 = node_identity(&ca, "vault-1");
    served.server.set_identity(&server_v2).unwrap();
    assert_eq!(server_leaf(&client_v2, &addr).await, leaf_der(&server_v2));
    // The client's pooled connection predates the server's rotation: the server retires it
    // (421) and the client transparently redials, so the call still succeeds.
    let seen = client.call(&addr, "echo", Bytes::new()).await.unwrap();
    assert_eq!(seen.as_ref(), leaf_der(&client_v2).as_slice());

    // Rotating the client to a foreign CA really takes effect: it is refused.
    let foreign = node_identity(&ClusterIdentity::generate_ca("rot").unwrap(), "vault-2");
    client.set_identity(&foreign).unwrap();
    let err = client.call(&addr, "echo", Bytes::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClusterError::Connect { .. } | ClusterError::Protocol(_)
        ),
        "{err:?}"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_keeps_working_across_certificate_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterIdentity::generate_ca("rot").unwrap();
    let nodes = three_node_cluster(dir.path(), &ca).await;
    let leader = nodes[0].store.clone();
    leader.put("before", b"1".to_vec()).await.unwrap();
    for n in &nodes[1..] {
        wait_caught_up(&leader, &n.store).await;
    }

    // Every node gets a fresh certificate from the same CA.
    for n in &nodes {
        n.rotate(&node_identity(&ca, &n.name));
    }
    for i in 0..20u32 {
        leader
            .put(&format!("after/{i}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    for n in &nodes[1..] {
        wait_caught_up(&leader, &n.store).await;
        assert_eq!(
            n.store.get("after/19").await.unwrap(),
            Some(19u32.to_be_bytes().to_vec())
        );
    }

    // A node moved to a foreign CA is cut off (the leader's RPCs to it are refused) ...
    let foreign = ClusterIdentity::generate_ca("rot").unwrap();
    let n3 = &nodes[2];
    n3.rotate(&node_identity(&foreign, &n3.name));
    let err = nodes[0]
        .transport
        .client()
        .call(n3.addr(), "raft/vote", Bytes::from_static(b"junk"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClusterError::Connect { .. } | ClusterError::Protocol(_)
        ),
        "{err:?}"
    );
    // ... while the other two, a quorum, keep committing.
    leader.put("while/cut", b"x".to_vec()).await.unwrap();
    wait_caught_up(&leader, &nodes[1].store).await;

    // Back on a certificate of the cluster CA, it catches up.
    n3.rotate(&node_identity(&ca, &n3.name));
    wait_caught_up(&leader, &n3.store).await;
    assert_eq!(
        n3.store.get("while/cut").await.unwrap(),
        Some(b"x".to_vec())
    );
    for n in nodes {
        n.kill().await;
    }
}
