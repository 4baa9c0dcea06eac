//! rustls configurations of the cluster port: TLS 1.3 only, ring, ALPN `tresor-cluster/1`,
//! and peers REQUIRED to present a certificate signed by the cluster CA and not revoked
//! ([`RevokedCerts`](crate::RevokedCerts)), in both directions.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::revocation::{RevocationClientVerifier, RevocationServerVerifier};
use crate::{ALPN_CLUSTER_V1, ClusterError, ClusterIdentity};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ClusterIdentity {
    fn root_store(&self) -> Result<Arc<RootCertStore>, ClusterError> {
        let mut roots = RootCertStore::empty();
        for ca in self.trusted_cas()? {
            roots.add(ca)?;
        }
        Ok(Arc::new(roots))
    }

    /// The server side of the cluster port: presents the node certificate and requires every
    /// client to present a certificate chaining to the cluster CA.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, ClusterError> {
        let provider = provider();
        let (chain, key) = self.node_chain()?;
        let inner =
            WebPkiClientVerifier::builder_with_provider(self.root_store()?, provider.clone())
                .build()
                .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let verifier = Arc::new(RevocationClientVerifier {
            inner,
            revoked: self.revocations().clone(),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_CLUSTER_V1.to_vec()];
        Ok(Arc::new(config))
    }

    /// The client side of the cluster port: presents the node certificate and verifies the
    /// server's certificate against the cluster CA and the dialled host name or IP.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ClusterError> {
        let provider = provider();
        let (chain, key) = self.node_chain()?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.root_store()?, provider.clone())
                .build()
                .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let verifier = Arc::new(RevocationServerVerifier {
            inner,
            revoked: self.revocations().clone(),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_CLUSTER_V1.to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_tls13_with_alpn_and_need_a_node_cert() {
        let ca = ClusterIdentity::generate_ca("t").unwrap();
        assert!(matches!(
            ca.server_config(),
            Err(ClusterError::IncompleteIdentity(_))
        ));
        assert!(matches!(
            ca.client_config(),
            Err(ClusterError::IncompleteIdentity(_))
        ));
        let node = ca
            .issue_node_identity("vault-1", &["127.0.0.1".into()])
            .unwrap();
        let server = node.server_config().unwrap();
        let client = node.client_config().unwrap();
        assert_eq!(server.alpn_protocols, vec![ALPN_CLUSTER_V1.to_vec()]);
        assert_eq!(client.alpn_protocols, vec![ALPN_CLUSTER_V1.to_vec()]);
        assert!(client.client_auth_cert_resolver.has_certs());
    }
}
