//! Peers without a certificate from the cluster CA are refused.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Counting, DEADLINE, PeerCertEcho, bind, client_options, node_identity, serve, start_node,
};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tresor_cluster::{ALPN_CLUSTER_V1, ClusterClient, ClusterError, ClusterIdentity, RevokedCerts};

/// Sends one request with a hand-built rustls client; returns the status or what failed.
async fn raw_request(config: ClientConfig, addr: &str) -> Result<u16, String> {
    let hostport = addr.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| format!("tcp: {e}"))?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| format!("h2: {e}"))?;
    tokio::spawn(conn);
    let req = hyper::Request::post(format!("{addr}/cluster/v1/raft/vote"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok(status)
}

fn roots(ca: &ClusterIdentity) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.ca_cert_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

fn tls13_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_is_refused() {
    let ca = ClusterIdentity::generate_ca("c").unwrap();
    let (listener, addr) = bind().await;
    let handler = Counting::new(Arc::new(PeerCertEcho));
    let served = serve(
        listener,
        addr.clone(),
        &node_identity(&ca, "vault-1"),
        handler.clone(),
    );

    // No client certificate, but otherwise a perfect client: trusts the CA, speaks the ALPN.
    let mut anonymous = tls13_builder()
        .with_root_certificates(roots(&ca))
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![ALPN_CLUSTER_V1.to_vec()];
    let refused = raw_request(anonymous, &addr).await;
    assert!(refused.is_err(), "anonymous client got {refused:?}");
    assert_eq!(handler.seen(), 0);

    // The same client with a cluster certificate is served: the refusal was the certificate.
    let id = node_identity(&ca, "vault-2");
    let ok = raw_request((*id.client_config().unwrap()).clone(), &addr).await;
    assert_eq!(ok, Ok(200));
    assert_eq!(handler.seen(), 1);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_cluster_alpn_is_refused() {
    let ca = ClusterIdentity::generate_ca("c").unwrap();
    let (listener, addr) = bind().await;
    let handler = Counting::new(Arc::new(PeerCertEcho));
    let served = serve(
        listener,
        addr.clone(),
        &node_identity(&ca, "vault-1"),
        handler.clone(),
    );
    let id = node_identity(&ca, "vault-2");
    let mut other_alpn = (*id.client_config().unwrap()).clone();
    other_alpn.alpn_protocols = vec![b"h2".to_vec()];
    assert!(raw_request(other_alpn, &addr).await.is_err());
    let mut no_alpn = (*id.client_config().unwrap()).clone();
    no_alpn.alpn_protocols.clear();
    assert!(raw_request(no_alpn, &addr).await.is_err());
    assert_eq!(handler.seen(), 0);
    served.stop().await;
}

fn is_transport_refusal(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Connect { .. } | ClusterError::Protocol(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_ca_cannot_talk_to_or_join_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterIdentity::generate_ca("good").unwrap();
    // Same cluster name, so the same issuer name: only the CA key differs.
    let other_ca = ClusterIdentity::generate_ca("good").unwrap();
    let n1 = start_node(dir.path(), "vault-1", &node_identity(&ca, "vault-1")).await;
    n1.store.bootstrap_single().await.unwrap();
    n1.store.wait_for_leader(DEADLINE).await.unwrap();
    let rogue = start_node(dir.path(), "rogue", &node_identity(&other_ca, "rogue")).await;

    // Control: a node with a cluster certificate reaches the handler (which rejects junk).
    let friend = ClusterClient::new(&node_identity(&ca, "vault-9"), client_options()).unwrap();
    match friend
        .call(
            n1.addr(),
            "raft/append_entries",
            Bytes::from_static(b"junk"),
        )
        .await
    {
        Err(ClusterError::Remote { status: 400, .. }) => {}
        other => panic!("friend call: {other:?}"),
    }
    let seen_before = n1.handler.seen();
    assert_eq!(seen_before, 1);

    // The rogue cannot reach the cluster's handler, nor the cluster the rogue's.
    let from_rogue = rogue
        .transport
        .client()
        .call(
            n1.addr(),
            "raft/append_entries",
            Bytes::from_static(b"junk"),
        )
        .await
        .unwrap_err();
    assert!(is_transport_refusal(&from_rogue), "{from_rogue:?}");
    let to_rogue = n1
        .transport
        .client()
        .call(
            rogue.addr(),
            "raft/append_entries",
            Bytes::from_static(b"junk"),
        )
        .await
        .unwrap_err();
    assert!(is_transport_refusal(&to_rogue), "{to_rogue:?}");

    // Adding it as a learner commits the membership entry but nothing ever reaches it
    // (openraft's blocking add_learner gives up waiting by itself), and it cannot be made a
    // voter: the joint configuration needs its acknowledgement.
    let _ = tokio::time::timeout(
        DEADLINE,
        n1.store
            .add_learner("rogue", rogue.store.node_info().clone()),
    )
    .await;
    let promoted = tokio::time::timeout(Duration::from_secs(3), n1.store.promote("rogue")).await;
    assert!(
        !matches!(promoted, Ok(Ok(()))),
        "rogue promoted: {promoted:?}"
    );
    let rogue_status = rogue.store.metrics().await;
    assert_eq!(rogue_status.last_log_index, None, "{rogue_status:?}");
    assert!(!rogue.store.is_bootstrapped().await.unwrap());
    assert_eq!(rogue.handler.seen(), 0);
    assert_eq!(n1.handler.seen(), seen_before);
    let leader_view = n1.store.metrics().await;
    let rogue_progress = leader_view
        .followers
        .iter()
        .find(|f| f.node_id == "rogue")
        .and_then(|f| f.matched_index);
    assert_eq!(rogue_progress, None, "{leader_view:?}");

    rogue.kill().await;
    n1.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificates_are_refused_on_both_ends() {
    let ca = ClusterIdentity::generate_ca("c").unwrap();
    let revoked = RevokedCerts::new();
    let server_id = node_identity(&ca, "vault-1").with_revocations(&revoked);
    let (listener, addr) = bind().await;
    let handler = Counting::new(Arc::new(PeerCertEcho));
    let served = serve(listener, addr.clone(), &server_id, handler.clone());

    let removed = node_identity(&ca, "vault-2");
    let removed_cert = removed.node_cert().unwrap().clone();
    let call = |id: &ClusterIdentity| {
        let client = ClusterClient::new(id, client_options()).unwrap();
        let addr = addr.clone();
        async move {
            client
                .call(&addr, "raft/append_entries", Bytes::from_static(b"{}"))
                .await
        }
    };
    // Before revocation the node is served.
    assert!(call(&removed).await.is_ok());
    assert_eq!(handler.seen(), 1);

    // The server refuses the revoked client certificate at the handshake, from the next
    // connection on (the set is shared with the running server's verifier).
    let fp = removed_cert.fingerprint().unwrap();
    assert!(revoked.replace([(fp.clone(), "vault-2".to_owned())].into()));
    assert!(
        !revoked.replace([(fp, "vault-2".to_owned())].into()),
        "unchanged"
    );
    let refused = call(&removed).await.unwrap_err();
    assert!(is_transport_refusal(&refused), "{refused:?}");
    assert_eq!(
        handler.seen(),
        1,
        "the revoked node never reached a handler"
    );
    // Another node's certificate from the same CA still works.
    assert!(call(&node_identity(&ca, "vault-3")).await.is_ok());
    assert_eq!(handler.seen(), 2);

    // The client side refuses a revoked server: vault-3, told that vault-1's certificate is
    // revoked, will not talk to it.
    let server_fp = server_id.node_cert().unwrap().fingerprint().unwrap();
    let client_list = RevokedCerts::new();
    client_list.replace([(server_fp, "vault-1".to_owned())].into());
    let wary = node_identity(&ca, "vault-3").with_revocations(&client_list);
    let refused = call(&wary).await.unwrap_err();
    assert!(is_transport_refusal(&refused), "{refused:?}");
    assert_eq!(handler.seen(), 2);

    // Lifting the revocation restores the removed node.
    revoked.replace(Default::default());
    assert!(call(&removed).await.is_ok());
    served.stop().await;
}
