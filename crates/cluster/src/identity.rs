//! [`ClusterIdentity`]: the cluster CA and this node's certificate, generated with rcgen.
//!
//! The CA is ECDSA P-256 and self-signed; node certificates are ECDSA P-256, signed by it and
//! valid for both TLS server and client authentication. Everything is kept as PEM text in a
//! serde struct so the core can store it inside the barrier; private keys live in
//! [`Zeroizing`] strings and are wiped on drop. The [`Debug`] output never shows a key.

use std::fmt;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ClusterError;
use crate::revocation::{RevokedCerts, cert_fingerprint};

/// How long a generated cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a node certificate issued by [`ClusterIdentity::issue_node_cert`] is valid.
pub const DEFAULT_NODE_CERT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
/// Node certificates are back-dated by this much to tolerate clock skew between nodes.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A node's certificate and private key (PEM), as issued by the cluster CA or given by the
/// operator.
#[derive(Clone, Serialize, Deserialize)]
pub struct NodeCertificate {
    /// The node the certificate was issued for (its common name).
    pub node_id: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, PEM. Wiped on drop.
    #[serde(with = "secret_string")]
    pub key_pem: Zeroizing<String>,
    /// When the certificate became valid (Unix seconds), if known.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// When the certificate expires (Unix seconds), if known.
    #[serde(default)]
    pub not_after: Option<i64>,
}

impl fmt::Debug for NodeCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCertificate")
            .field("node_id", &self.node_id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl NodeCertificate {
    /// The SHA-256 fingerprint (lowercase hex) of the leaf certificate, as the cluster port's
    /// revocation check computes it.
    pub fn fingerprint(&self) -> Result<String, ClusterError> {
        let certs = parse_certs(&self.cert_pem, "node certificate")?;
        let leaf = certs
            .first()
            .ok_or_else(|| ClusterError::Certificate("node certificate: empty chain".into()))?;
        Ok(cert_fingerprint(leaf.as_ref()))
    }

    /// Whether the certificate should be replaced at Unix time `now`: once two thirds of its
    /// validity have passed (or it is expired). Certificates of unknown validity (operator
    /// supplied) are never rotated automatically.
    pub fn needs_rotation(&self, now: i64) -> bool {
        match (self.not_before, self.not_after) {
            (Some(start), Some(end)) if end > start => {
                let renew_at = start + (end - start) / 3 * 2;
                now >= renew_at
            }
            (_, Some(end)) => now >= end,
            _ => false,
        }
    }
}

/// The cluster's TLS identity as seen by one node: the CA certificate every peer is checked
/// against, optionally the CA key (only where certificates are issued), and this node's own
/// certificate.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// The cluster name the CA was generated for (empty for operator-supplied CAs).
    cluster_name: String,
    /// The cluster CA certificate, PEM.
    ca_cert_pem: String,
    /// The CA's PKCS#8 private key, PEM, if this copy may issue certificates.
    #[serde(default, with = "opt_secret_string")]
    ca_key_pem: Option<Zeroizing<String>>,
    /// When the CA expires (Unix seconds), if known.
    #[serde(default)]
    ca_not_after: Option<i64>,
    /// Further CA certificates (PEM) whose node certificates are also accepted, for CA
    /// rollover.
    #[serde(default)]
    extra_trusted_ca_pems: Vec<String>,
    /// This node's certificate, if one was issued.
    #[serde(default)]
    node: Option<NodeCertificate>,
    /// Certificates refused although the CA signed them (not stored: the holder of the
    /// identity attaches the cluster's list with [`with_revocations`](Self::with_revocations)).
    #[serde(skip)]
    revoked: RevokedCerts,
}

impl fmt::Debug for ClusterIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterIdentity")
            .field("cluster_name", &self.cluster_name)
            .field("has_ca_key", &self.ca_key_pem.is_some())
            .field("extra_trusted_cas", &self.extra_trusted_ca_pems.len())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl ClusterIdentity {
    /// Generates a new cluster CA (ECDSA P-256, self-signed, valid for [`CA_VALIDITY`]) for
    /// `cluster_name`. The result holds the CA key and no node certificate yet.
    pub fn generate_ca(cluster_name: &str) -> Result<Self, ClusterError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = ca_params(cluster_name);
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let not_after = params.not_after.unix_timestamp();
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cluster_name: cluster_name.to_owned(),
            ca_cert_pem: cert.pem(),
            ca_key_pem: Some(Zeroizing::new(key.serialize_pem())),
            ca_not_after: Some(not_after),
            extra_trusted_ca_pems: Vec::new(),
            node: None,
            revoked: RevokedCerts::default(),
        })
    }

    /// An identity from operator-supplied PEM: the CA certificate that signs every node's
    /// certificate, and this node's certificate chain and private key. It cannot issue
    /// certificates. The PEM is checked to parse.
    pub fn from_operator_pem(
        ca_cert_pem: &str,
        node_cert_pem: &str,
        node_key_pem: &str,
    ) -> Result<Self, ClusterError> {
        let identity = Self {
            cluster_name: String::new(),
            ca_cert_pem: ca_cert_pem.to_owned(),
            ca_key_pem: None,
            ca_not_after: None,
            extra_trusted_ca_pems: Vec::new(),
            node: Some(NodeCertificate {
                node_id: String::new(),
                cert_pem: node_cert_pem.to_owned(),
                key_pem: Zeroizing::new(node_key_pem.to_owned()),
                not_before: None,
                not_after: None,
            }),
            revoked: RevokedCerts::default(),
        };
        identity.trusted_cas()?;
        identity.node_chain()?;
        Ok(identity)
    }

    /// Issues a certificate for `node_id`, valid for [`DEFAULT_NODE_CERT_VALIDITY`]. See
    /// [`issue_node_cert_valid_for`](Self::issue_node_cert_valid_for).
    pub fn issue_node_cert(
        &self,
        node_id: &str,
        hosts: &[String],
    ) -> Result<NodeCertificate, ClusterError> {
        self.issue_node_cert_valid_for(node_id, hosts, DEFAULT_NODE_CERT_VALIDITY)
    }

    /// Issues a certificate (new ECDSA P-256 key) for `node_id`, signed by the CA. Its subject
    /// alternative names are `hosts` (DNS names or IP literals: every host peers dial this node
    /// by) plus `node_id` itself when that is a valid DNS name. The validity is capped at the
    /// CA's. Needs the CA key.
    pub fn issue_node_cert_valid_for(
        &self,
        node_id: &str,
        hosts: &[String],
        validity: Duration,
    ) -> Result<NodeCertificate, ClusterError> {
        let ca_key_pem = self
            .ca_key_pem
            .as_ref()
            .ok_or(ClusterError::IncompleteIdentity(
                "no CA key to issue certificates",
            ))?;
        let ca_key = KeyPair::from_pem(ca_key_pem)?;
        // rcgen signs with the issuer's distinguished name, key usages and key: rebuilding the
        // CA's parameters yields the same issuer as the stored CA certificate.
        let issuer = ca_params(&self.cluster_name).self_signed(&ca_key)?;

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        params.subject_alt_names = subject_alt_names(node_id, hosts)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = now - CLOCK_SKEW;
        let mut not_after = now + validity;
        if let Some(ca_end) = self.ca_not_after {
            not_after = not_after.min(
                OffsetDateTime::from_unix_timestamp(ca_end)
                    .map_err(|e| ClusterError::Certificate(e.to_string()))?,
            );
        }
        params.not_after = not_after;
        let not_before = params.not_before.unix_timestamp();
        let cert = params.signed_by(&key, &issuer, &ca_key)?;
        Ok(NodeCertificate {
            node_id: node_id.to_owned(),
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
            not_before: Some(not_before),
            not_after: Some(not_after.unix_timestamp()),
        })
    }

    /// A copy of this identity using `cert` as the node certificate.
    pub fn with_node_cert(&self, cert: NodeCertificate) -> Self {
        Self {
            node: Some(cert),
            ..self.clone()
        }
    }

    /// A copy whose TLS configurations refuse the certificates in `revoked` (shared: later
    /// changes to the set apply to every configuration built from the copy).
    pub fn with_revocations(&self, revoked: &RevokedCerts) -> Self {
        Self {
            revoked: revoked.clone(),
            ..self.clone()
        }
    }

    /// The revoked certificates this identity's TLS configurations refuse.
    pub fn revocations(&self) -> &RevokedCerts {
        &self.revoked
    }

    /// A copy without the CA key (what a node that only talks, and never issues, should hold).
    pub fn without_ca_key(&self) -> Self {
        Self {
            ca_key_pem: None,
            ..self.clone()
        }
    }

    /// Issues a certificate for `node_id` (see [`issue_node_cert`](Self::issue_node_cert)) and
    /// returns the identity that node needs: CA certificate and its own certificate, no CA key.
    pub fn issue_node_identity(
        &self,
        node_id: &str,
        hosts: &[String],
    ) -> Result<Self, ClusterError> {
        let cert = self.issue_node_cert(node_id, hosts)?;
        Ok(self.with_node_cert(cert).without_ca_key())
    }

    /// A copy that also accepts node certificates signed by `ca_cert_pem` (CA rollover).
    pub fn also_trusting(&self, ca_cert_pem: &str) -> Result<Self, ClusterError> {
        parse_certs(ca_cert_pem, "extra CA certificate")?;
        let mut out = self.clone();
        out.extra_trusted_ca_pems.push(ca_cert_pem.to_owned());
        Ok(out)
    }

    /// The cluster name the CA was generated for (empty for operator-supplied CAs).
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// Whether this copy holds the CA key and can issue certificates.
    pub fn can_issue(&self) -> bool {
        self.ca_key_pem.is_some()
    }

    /// This node's certificate, if any.
    pub fn node_cert(&self) -> Option<&NodeCertificate> {
        self.node.as_ref()
    }

    /// Every CA certificate peers are verified against (DER).
    pub(crate) fn trusted_cas(&self) -> Result<Vec<CertificateDer<'static>>, ClusterError> {
        let mut out = parse_certs(&self.ca_cert_pem, "CA certificate")?;
        for pem in &self.extra_trusted_ca_pems {
            out.extend(parse_certs(pem, "extra CA certificate")?);
        }
        Ok(out)
    }

    /// This node's certificate chain and private key (DER).
    pub(crate) fn node_chain(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ClusterError> {
        let node = self
            .node
            .as_ref()
            .ok_or(ClusterError::IncompleteIdentity("no node certificate"))?;
        let chain = parse_certs(&node.cert_pem, "node certificate")?;
        let key = PrivateKeyDer::from_pem_slice(node.key_pem.as_bytes())
            .map_err(|e| ClusterError::Certificate(format!("node key: {e}")))?;
        Ok((chain, key))
    }
}

/// The CA's parameters that determine it as an issuer (name, usages, constraints).
fn ca_params(cluster_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Tresor");
    dn.push(DnType::CommonName, format!("{cluster_name} cluster CA"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and non-zero, as RFC 5280 wants.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

/// Whether `name` is usable as a DNS subject alternative name (letters, digits, `-`, `.`).
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The subject alternative names of a node certificate.
fn subject_alt_names(node_id: &str, hosts: &[String]) -> Result<Vec<SanType>, ClusterError> {
    let mut out: Vec<SanType> = Vec::new();
    let mut push = |san: SanType| {
        if !out.contains(&san) {
            out.push(san);
        }
    };
    for host in hosts {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            push(SanType::IpAddress(ip));
        } else if is_dns_name(host) {
            let name = host.to_owned().try_into()?;
            push(SanType::DnsName(name));
        } else {
            return Err(ClusterError::Certificate(format!(
                "{host:?} is neither an IP address nor a DNS name"
            )));
        }
    }
    if is_dns_name(node_id) {
        push(SanType::DnsName(node_id.to_owned().try_into()?));
    }
    Ok(out)
}

fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, ClusterError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClusterError::Certificate(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(ClusterError::Certificate(format!(
            "{what}: no certificate in PEM"
        )));
    }
    Ok(certs)
}

/// Serde for a secret string: serialized as a plain string, deserialized straight into a
/// [`Zeroizing`] buffer.
mod secret_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(d).map(Zeroizing::new)
    }
}

/// [`secret_string`] for an optional value.
mod opt_secret_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        v: &Option<Zeroizing<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Zeroizing<String>>, D::Error> {
        Option::<String>::deserialize(d).map(|v| v.map(Zeroizing::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn generated_identity_round_trips_through_json() {
        let ca = ClusterIdentity::generate_ca("test").unwrap();
        assert!(ca.can_issue());
        assert!(ca.ca_cert_pem().contains("BEGIN CERTIFICATE"));
        let node = ca
            .issue_node_identity("vault-1", &hosts(&["127.0.0.1"]))
            .unwrap();
        assert!(!node.can_issue());
        let json = serde_json::to_string(&node).unwrap();
        let back: ClusterIdentity = serde_json::from_str(&json).unwrap();
        assert_eq!(back.ca_cert_pem(), node.ca_cert_pem());
        let (a, b) = (back.node_cert().unwrap(), node.node_cert().unwrap());
        assert_eq!(a.cert_pem, b.cert_pem);
        assert_eq!(*a.key_pem, *b.key_pem);
        assert_eq!(a.node_id, "vault-1");
        back.node_chain().unwrap();
        // The CA key survives a round trip of the issuing copy.
        let ca_back: ClusterIdentity =
            serde_json::from_str(&serde_json::to_string(&ca).unwrap()).unwrap();
        assert!(ca_back.can_issue());
        ca_back.issue_node_cert("vault-2", &[]).unwrap();
    }

    #[test]
    fn issuing_needs_the_ca_key() {
        let ca = ClusterIdentity::generate_ca("test").unwrap();
        let node = ca.issue_node_identity("vault-1", &[]).unwrap();
        assert!(matches!(
            node.issue_node_cert("vault-2", &[]),
            Err(ClusterError::IncompleteIdentity(_))
        ));
        assert!(matches!(
            ca.node_chain(),
            Err(ClusterError::IncompleteIdentity(_))
        ));
    }

    #[test]
    fn debug_never_shows_keys() {
        let ca = ClusterIdentity::generate_ca("test").unwrap();
        let node = ca.issue_node_cert("vault-1", &[]).unwrap();
        let id = ca.with_node_cert(node.clone());
        let shown = format!("{id:?} {node:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!shown.contains(node.key_pem.as_str()));
        assert!(shown.contains("vault-1"));
    }

    #[test]
    fn each_issue_makes_a_new_key_and_certificate() {
        let ca = ClusterIdentity::generate_ca("test").unwrap();
        let a = ca.issue_node_cert("vault-1", &[]).unwrap();
        let b = ca.issue_node_cert("vault-1", &[]).unwrap();
        assert_ne!(a.cert_pem, b.cert_pem);
        assert_ne!(*a.key_pem, *b.key_pem);
    }

    #[test]
    fn validity_is_recorded_and_capped_by_the_ca() {
        let ca = ClusterIdentity::generate_ca("test").unwrap();
        let short = ca
            .issue_node_cert_valid_for("n", &[], Duration::from_secs(3600))
            .unwrap();
        let (start, end) = (short.not_before.unwrap(), short.not_after.unwrap());
        assert_eq!(end - start, 3600 + CLOCK_SKEW.as_secs() as i64);
        let long = ca
            .issue_node_cert_valid_for("n", &[], CA_VALIDITY * 2)
            .unwrap();
        assert_eq!(long.not_after, ca.ca_not_after);
    }

    #[test]
    fn rotation_is_due_after_two_thirds_of_validity() {
        let cert = NodeCertificate {
            node_id: "n".into(),
            cert_pem: String::new(),
            key_pem: Zeroizing::new(String::new()),
            not_before: Some(1000),
            not_after: Some(1900),
        };
        assert!(!cert.needs_rotation(1000));
        assert!(!cert.needs_rotation(1599));
        assert!(cert.needs_rotation(1600));
        assert!(cert.needs_rotation(5000));
        let operator = NodeCertificate {
            not_before: None,
            not_after: None,
            ..cert.clone()
        };
        assert!(!operator.needs_rotation(i64::MAX));
        let end_only = NodeCertificate {
            not_before: None,
            ..cert
        };
        assert!(!end_only.needs_rotation(1899) && end_only.needs_rotation(1900));
    }

    #[test]
    fn subject_alt_names_cover_hosts_and_node_id() {
        let sans = subject_alt_names(
            "vault-1",
            &hosts(&["10.0.0.1", "[::1]", "node.example", "10.0.0.1"]),
        )
        .unwrap();
        assert_eq!(sans.len(), 4, "{sans:?}");
        assert!(sans.contains(&SanType::IpAddress("::1".parse().unwrap())));
        // A node id that is not a DNS name is left out rather than refused.
        let sans = subject_alt_names("node one", &hosts(&["a.b"])).unwrap();
        assert_eq!(sans.len(), 1);
        assert!(subject_alt_names("n", &hosts(&["bad host"])).is_err());
        assert!(!is_dns_name("-a") && !is_dns_name("a..b") && is_dns_name("a-1.b"));
    }

    #[test]
    fn operator_pem_is_checked() {
        let ca = ClusterIdentity::generate_ca("op").unwrap();
        let node = ca.issue_node_cert("vault-1", &[]).unwrap();
        let id =
            ClusterIdentity::from_operator_pem(ca.ca_cert_pem(), &node.cert_pem, &node.key_pem)
                .unwrap();
        assert!(!id.can_issue());
        assert!(ClusterIdentity::from_operator_pem("junk", &node.cert_pem, &node.key_pem).is_err());
        assert!(
            ClusterIdentity::from_operator_pem(ca.ca_cert_pem(), &node.cert_pem, "junk").is_err()
        );
    }
}
