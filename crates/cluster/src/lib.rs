//! The cluster port of Tresor: node-to-node traffic over mutual TLS.
//!
//! Every node listens on its `cluster_addr` with a [`ClusterServer`] and talks to its peers
//! with a [`ClusterClient`]. The protocol is HTTP/2 over TLS 1.3 (rustls, ring) with ALPN
//! `tresor-cluster/1`; each request is a `POST /cluster/v1/<route>` whose body and reply are
//! opaque bytes. Raft RPCs use the routes `raft/<rpc-kind>` ([`TlsTransport`] on the sending
//! side, [`RaftHandler`] on the receiving side); joins and request forwarding will add routes
//! of their own, combined with a [`ClusterRouter`].
//!
//! Both ends must present a certificate signed by the cluster CA and not revoked
//! ([`RevokedCerts`]: nodes removed from the cluster): a node without one cannot talk to the
//! cluster. [`ClusterIdentity`] generates that CA and issues node certificates
//! (ECDSA P-256 via rcgen) when the operator gives none, and serializes to PEM-in-JSON so the
//! core can keep it inside the barrier. Certificates can be swapped at runtime on both sides
//! (`set_identity`). The protocol and certificate lifecycle are described in
//! `docs/design/cluster-port.md`.

mod addr;
mod client;
mod error;
mod handler;
mod identity;
mod options;
pub mod protocol;
mod raft_handler;
mod revocation;
mod server;
mod tls;
mod transport;

pub use addr::PeerAddr;
pub use client::ClusterClient;
pub use error::ClusterError;
pub use handler::{ClusterHandler, ClusterRequest, ClusterRouter};
pub use identity::{CA_VALIDITY, ClusterIdentity, DEFAULT_NODE_CERT_VALIDITY, NodeCertificate};
pub use options::{ClientOptions, DEFAULT_MAX_BODY_BYTES, ServerOptions};
pub use protocol::ALPN_CLUSTER_V1;
pub use raft_handler::{RaftHandler, parse_raft_route, raft_route};
pub use revocation::{RevokedCerts, cert_fingerprint};
pub use server::ClusterServer;
pub use transport::TlsTransport;

/// Re-exported so callers can create the shutdown token without depending on tokio-util.
pub use tokio_util::sync::CancellationToken;
