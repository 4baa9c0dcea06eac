//! Limits, routing and failure behaviour of the cluster port.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Counting, PeerCertEcho, bind, client_options, node_identity};
use tresor_cluster::{
    ClientOptions, ClusterClient, ClusterError, ClusterIdentity, ClusterRouter, ServerOptions,
};

/// A server of `router` with `options` (node "vault-1") and a client of it (node "vault-2").
async fn serve_router(
    router: ClusterRouter,
    options: ServerOptions,
) -> (common::Served, ClusterClient) {
    let ca = ClusterIdentity::generate_ca("p").unwrap();
    let (listener, addr) = bind().await;
    let served = common::serve_with(
        listener,
        addr,
        &node_identity(&ca, "vault-1"),
        Arc::new(router),
        options,
    );
    let client = ClusterClient::new(&node_identity(&ca, "vault-2"), client_options()).unwrap();
    (served, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_body_limits_are_enforced() {
    let echo = Counting::new(Arc::new(PeerCertEcho));
    let router = ClusterRouter::new().route("echo", echo.clone());
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let (served, client) = serve_router(router, options).await;
    let addr = served.addr.clone();

    client
        .call(&addr, "echo/x", Bytes::from(vec![0u8; 1024]))
        .await
        .unwrap();
    match client
        .call(&addr, "echo/x", Bytes::from(vec![0u8; 1025]))
        .await
    {
        Err(ClusterError::Remote { status: 413, .. }) => {}
        other => panic!("oversized body: {other:?}"),
    }
    match client.call(&addr, "forward/x", Bytes::new()).await {
        Err(ClusterError::Remote { status: 404, .. }) => {}
        other => panic!("unknown route: {other:?}"),
    }
    assert_eq!(echo.seen(), 1);
    // Error statuses do not cost the pooled connection: the next call still works.
    client.call(&addr, "echo", Bytes::new()).await.unwrap();
    assert!(matches!(
        client
            .call("http://127.0.0.1:1", "echo", Bytes::new())
            .await,
        Err(ClusterError::InvalidAddress { .. })
    ));

    served.stop().await;
    // After shutdown the port is closed: calls fail instead of hanging.
    let after = client.call(&addr, "echo", Bytes::new()).await.unwrap_err();
    assert!(
        matches!(
            after,
            ClusterError::Connect { .. } | ClusterError::Protocol(_)
        ),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_times_out_without_blocking_other_peers() {
    let ca = ClusterIdentity::generate_ca("p").unwrap();
    // A peer that accepts TCP but never speaks TLS.
    let (silent, silent_addr) = bind().await;
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            open.push(sock);
        }
    });
    let (listener, live_addr) = bind().await;
    let served = common::serve(
        listener,
        live_addr.clone(),
        &node_identity(&ca, "vault-1"),
        Arc::new(PeerCertEcho),
    );
    let me = node_identity(&ca, "vault-2");

    // With a long connect timeout the silent peer's call stays pending while the live peer
    // is served.
    let patient = Arc::new(
        ClusterClient::new(
            &me,
            ClientOptions {
                connect_timeout: Duration::from_secs(60),
                ..client_options()
            },
        )
        .unwrap(),
    );
    let stuck = tokio::spawn({
        let patient = patient.clone();
        let silent_addr = silent_addr.clone();
        async move { patient.call(&silent_addr, "echo", Bytes::new()).await }
    });
    patient
        .call(&live_addr, "echo", Bytes::new())
        .await
        .unwrap();
    assert!(!stuck.is_finished());
    stuck.abort();

    // With the normal timeout the silent peer is reported as a connect failure.
    let quick = ClusterClient::new(
        &me,
        ClientOptions {
            connect_timeout: Duration::from_millis(200),
            ..client_options()
        },
    )
    .unwrap();
    match quick.call(&silent_addr, "echo", Bytes::new()).await {
        Err(ClusterError::Connect { reason, .. }) => assert!(reason.contains("timed out")),
        other => panic!("silent peer: {other:?}"),
    }
    hold.abort();
    served.stop().await;
}

/// Takes 600 ms to answer; routes ending in `/long` may take up to 5 s.
struct Slow;

#[async_trait::async_trait]
impl tresor_cluster::ClusterHandler for Slow {
    async fn handle(
        &self,
        _request: tresor_cluster::ClusterRequest,
    ) -> Result<Bytes, ClusterError> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok(Bytes::from_static(b"done"))
    }

    fn time_limit(&self, route: &str) -> Option<Duration> {
        route.ends_with("/long").then_some(Duration::from_secs(5))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_may_give_a_route_longer_than_the_request_timeout() {
    let router = ClusterRouter::new().route("slow", Arc::new(Slow));
    let options = ServerOptions {
        request_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let (served, client) = serve_router(router, options).await;
    let addr = served.addr.clone();

    match client.call(&addr, "slow/short", Bytes::new()).await {
        Err(ClusterError::Remote { status: 504, .. }) => {}
        other => panic!("past the server's request timeout: {other:?}"),
    }
    let answer = client.call(&addr, "slow/long", Bytes::new()).await.unwrap();
    assert_eq!(&answer[..], b"done");
    served.stop().await;
}
