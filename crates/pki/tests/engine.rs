//! The PKI engine through `LogicalBackend::handle` on an in-memory store, with every issued
//! certificate checked by an independent verifier (rustls-webpki): it chains to the CA, names
//! exactly the requested SANs, is valid for exactly its TTL, and appears in the signed CRL
//! once revoked.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Map, Value, json};
use tresor_pki::Pki;
use tresor_sdk::{LogicalBackend, LogicalError, MountInfo, Operation, Request, Secret};
use tresor_storage::{InMemBackend, View};

const START: i64 = 1_800_000_000;

struct Harness {
    pki: Pki,
    view: View,
    now: Arc<AtomicI64>,
    mount: MountInfo,
}

impl Harness {
    /// The current CRL (DER), read from `crl` (a bare answer), checked against the PEM of
    /// `cert/crl` (JSON) and `crl/pem` (bare).
    async fn crl_der(&self) -> Vec<u8> {
        let raw = self.ok(Operation::Read, "crl", json!({})).await;
        assert_eq!(raw["http_content_type"], "application/pkix-crl");
        let der = STANDARD
            .decode(raw["http_raw_body"].as_str().unwrap())
            .unwrap();
        let pem = self.ok(Operation::Read, "cert/crl", json!({})).await["certificate"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(der_of(&pem, "X509 CRL"), der);
        let bare_pem = self.ok(Operation::Read, "crl/pem", json!({})).await;
        assert_eq!(
            STANDARD
                .decode(bare_pem["http_raw_body"].as_str().unwrap())
                .unwrap(),
            pem.as_bytes()
        );
        der
    }

    fn new() -> Self {
        let now = Arc::new(AtomicI64::new(START));
        let n = now.clone();
        Self {
            pki: Pki::with_clock(Arc::new(move || n.load(Ordering::SeqCst))),
            view: View::new(Arc::new(InMemBackend::new()), "logical/pki-uuid/"),
            now,
            mount: MountInfo {
                path: "pki/".into(),
                kind: "pki".into(),
                default_lease_ttl: 768 * 3600,
                max_lease_ttl: 8760 * 3600,
                ..MountInfo::default()
            },
        }
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<tresor_sdk::Response>, LogicalError> {
        let mut req = Request::new(op, path, self.view.clone())
            .with_data(body.as_object().cloned().unwrap_or_default());
        req.mount = self.mount.clone();
        self.pki.handle(&req).await
    }

    /// A call that must answer data.
    async fn ok(&self, op: Operation, path: &str, body: Value) -> Map<String, Value> {
        self.call(op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .and_then(|r| r.data)
            .unwrap_or_else(|| panic!("{path}: no data"))
    }

    async fn setup(&self, role: Value) -> String {
        let root = self
            .ok(
                Operation::Update,
                "root/generate/internal",
                json!({"common_name": "hvac.com", "ttl": "8760h", "key_type": "ec"}),
            )
            .await;
        self.ok(Operation::Update, "roles/my-role", role).await;
        root["certificate"].as_str().unwrap().to_owned()
    }
}

fn der_of(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).unwrap() + begin.len();
    let stop = pem.find(&end).unwrap();
    let b64: String = pem[start..stop].split_whitespace().collect();
    STANDARD.decode(b64).unwrap()
}

const ALGS: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
];

fn at(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs as u64))
}

/// Verifies `leaf` (PEM) against the CA `ca` (PEM) as a TLS server certificate at `time`,
/// optionally against `crl` (DER).
fn verify(ca: &str, leaf: &str, time: i64, crl: Option<&[u8]>) -> Result<(), webpki::Error> {
    let ca_der = CertificateDer::from(der_of(ca, "CERTIFICATE"));
    let anchor = webpki::anchor_from_trusted_cert(&ca_der).unwrap();
    let leaf_der = CertificateDer::from(der_of(leaf, "CERTIFICATE"));
    let ee = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    let crls: Vec<webpki::CertRevocationList<'_>> = crl
        .map(|d| {
            webpki::BorrowedCertRevocationList::from_der(d)
                .unwrap()
                .into()
        })
        .into_iter()
        .collect();
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        Some(
            webpki::RevocationOptionsBuilder::new(&crl_refs)
                .unwrap()
                .build(),
        )
    };
    ee.verify_for_usage(
        ALGS,
        &[anchor],
        &[],
        at(time),
        webpki::KeyUsage::server_auth(),
        revocation,
        None,
    )
    .map(|_| ())
}

fn valid_for(leaf: &str, name: &str) -> bool {
    let leaf_der = CertificateDer::from(der_of(leaf, "CERTIFICATE"));
    let ee = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    let server_name = match name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name.to_owned()).unwrap(),
    };
    ee.verify_is_valid_for_subject_name(&server_name).is_ok()
}

#[tokio::test]
async fn issued_certificates_chain_to_the_ca_with_the_asked_names_and_ttl() {
    let h = Harness::new();
    let ca = h
        .setup(json!({"allowed_domains": "hvac.com", "allow_subdomains": true, "key_type": "ec"}))
        .await;
    let out = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "test.hvac.com", "alt_names": "alt.hvac.com",
                   "ip_sans": "10.1.2.3", "ttl": "2h"}),
        )
        .await;
    let leaf = out["certificate"].as_str().unwrap();
    assert_eq!(out["issuing_ca"], ca.as_str());
    assert_eq!(out["ca_chain"], json!([ca]));
    assert_eq!(out["private_key_type"], "ec");
    assert!(
        out["private_key"]
            .as_str()
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    assert_eq!(out["expiration"], START + 7200);
    let serial = out["serial_number"].as_str().unwrap();
    assert_eq!(serial.len(), 20 * 3 - 1);

    // Chains to the CA, from just after issuance to just before the TTL runs out.
    verify(&ca, leaf, START, None).unwrap();
    verify(&ca, leaf, START + 7199, None).unwrap();
    assert!(matches!(
        verify(&ca, leaf, START + 7201, None),
        Err(webpki::Error::CertExpired { .. })
    ));
    // Not signed by another CA.
    let other = Harness::new();
    let other_ca = other.setup(json!({"allow_any_name": true})).await;
    assert!(verify(&other_ca, leaf, START, None).is_err());

    for name in ["test.hvac.com", "alt.hvac.com", "10.1.2.3"] {
        assert!(valid_for(leaf, name), "{name}");
    }
    for name in ["other.hvac.com", "hvac.com", "10.1.2.4"] {
        assert!(!valid_for(leaf, name), "{name}");
    }

    // Stored and listed; readable without the key.
    let listed = h.ok(Operation::List, "certs", json!({})).await;
    assert!(
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == serial)
    );
    let read = h
        .ok(Operation::Read, &format!("cert/{serial}"), json!({}))
        .await;
    assert_eq!(read["certificate"], leaf);
    assert_eq!(read["revocation_time"], 0);
}

#[tokio::test]
async fn names_outside_the_role_are_refused() {
    let h = Harness::new();
    h.setup(
        json!({"allowed_domains": "hvac.com", "allow_subdomains": true, "allow_ip_sans": false}),
    )
    .await;
    for body in [
        json!({"common_name": "evil.com"}),
        json!({"common_name": "hvac.com"}),
        json!({"common_name": "a.hvac.com", "alt_names": "b.evil.com"}),
        json!({"common_name": "a.hvac.com", "ip_sans": "10.0.0.1"}),
        json!({"common_name": "bad name.hvac.com"}),
    ] {
        let r = h
            .call(Operation::Update, "issue/my-role", body.clone())
            .await;
        assert!(
            matches!(r, Err(LogicalError::InvalidRequest(_))),
            "{body}: {r:?}"
        );
    }
    let r = h
        .call(
            Operation::Update,
            "issue/nope",
            json!({"common_name": "a.hvac.com"}),
        )
        .await;
    assert!(matches!(r, Err(LogicalError::InvalidRequest(m)) if m == "unknown role: nope"));
}

#[tokio::test]
async fn ttl_is_capped_by_role_and_by_the_ca() {
    let h = Harness::new();
    h.setup(json!({"allowed_domains": "hvac.com", "allow_subdomains": true, "max_ttl": "72h", "key_type": "ec"}))
        .await;
    // No TTL asked: the mount default (768h), capped at the role's 72h.
    let out = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "a.hvac.com"}),
        )
        .await;
    assert_eq!(out["expiration"], START + 72 * 3600);
    // Past the CA's own expiry: refused.
    let h2 = Harness::new();
    h2.ok(
        Operation::Update,
        "root/generate/internal",
        json!({"common_name": "c", "ttl": "1h", "key_type": "ec"}),
    )
    .await;
    h2.ok(
        Operation::Update,
        "roles/r",
        json!({"allow_any_name": true, "key_type": "ec"}),
    )
    .await;
    let r = h2
        .call(
            Operation::Update,
            "issue/r",
            json!({"common_name": "x.y", "ttl": "2h"}),
        )
        .await;
    assert!(
        matches!(r, Err(LogicalError::InvalidRequest(m)) if m.contains("beyond the expiration of the CA"))
    );
}

#[tokio::test]
async fn a_leased_certificate_is_revoked_with_its_lease_and_lands_in_the_crl() {
    let h = Harness::new();
    let ca = h
        .setup(
            json!({"allowed_domains": "hvac.com", "allow_subdomains": true, "generate_lease": true,
                      "max_ttl": "72h", "key_type": "ec"}),
        )
        .await;
    let resp = h
        .call(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "test.hvac.com"}),
        )
        .await
        .unwrap()
        .unwrap();
    let secret = resp.secret.expect("a lease-bearing secret");
    assert_eq!(secret.ttl, 72 * 3600);
    assert!(!secret.renewable);
    let data = resp.data.unwrap();
    let serial = data["serial_number"].as_str().unwrap().to_owned();
    assert_eq!(secret.internal["serial_number"], serial.as_str());
    let leaf = data["certificate"].as_str().unwrap().to_owned();

    let before = h.crl_der().await;
    verify(&ca, &leaf, START + 10, Some(&before)).unwrap();

    // What the expiration manager sends when the lease is revoked.
    h.now.store(START + 5, Ordering::SeqCst);
    let mut req = Request::new(Operation::Revoke, "issue/my-role", h.view.clone());
    req.secret = Some(Secret {
        internal: secret.internal.clone(),
        ..(*secret).clone()
    });
    assert!(h.pki.handle(&req).await.unwrap().is_none());

    let after = h.crl_der().await;
    let crl = webpki::BorrowedCertRevocationList::from_der(&after).unwrap();
    let bytes: Vec<u8> = serial
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    let entries: Vec<_> = (&crl).into_iter().map(|e| e.unwrap()).collect();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.serial_number, bytes.as_slice());
    assert_eq!(entry.revocation_date, at(START + 5));
    assert!(matches!(
        verify(&ca, &leaf, START + 10, Some(&after)),
        Err(webpki::Error::CertRevoked)
    ));

    let read = h
        .ok(Operation::Read, &format!("cert/{serial}"), json!({}))
        .await;
    assert_eq!(read["revocation_time"], START + 5);
    // Revoking again keeps the first time; the CA itself cannot be revoked.
    let again = h
        .ok(
            Operation::Update,
            "revoke",
            json!({"serial_number": serial}),
        )
        .await;
    assert_eq!(again["revocation_time"], START + 5);
    let ca_serial = h.ok(Operation::Read, "cert/ca", json!({})).await;
    assert_eq!(ca_serial["certificate"], ca.as_str());
    let listed = h.ok(Operation::List, "certs/revoked", json!({})).await;
    assert_eq!(listed["keys"], json!([serial]));

    // With the CA gone, revoking a lease is a no-op rather than an error that would leave the
    // lease irrevocable.
    assert!(
        h.call(Operation::Delete, "root", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.pki.handle(&req).await.unwrap().is_none());
}

#[tokio::test]
async fn role_writes_say_whether_the_role_exists() {
    let h = Harness::new();
    let req = |path: &str| {
        let mut r = Request::new(Operation::Update, path, h.view.clone());
        r.mount = h.mount.clone();
        r
    };
    assert_eq!(h.pki.exists(&req("roles/web")).await.unwrap(), Some(false));
    h.ok(Operation::Update, "roles/web", json!({})).await;
    assert_eq!(h.pki.exists(&req("roles/web")).await.unwrap(), Some(true));
    assert_eq!(h.pki.exists(&req("issue/web")).await.unwrap(), None);
}

#[tokio::test]
async fn revoke_by_serial_and_unknown_serials() {
    let h = Harness::new();
    h.setup(json!({"allow_any_name": true, "key_type": "ec"}))
        .await;
    let out = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "a.b"}),
        )
        .await;
    let serial = out["serial_number"].as_str().unwrap();
    let r = h
        .ok(
            Operation::Update,
            "revoke",
            json!({"serial_number": serial}),
        )
        .await;
    assert_eq!(r["revocation_time"], START);
    assert_eq!(r["state"], "revoked");
    for bad in ["", "zz", "01:02:03"] {
        let r = h
            .call(Operation::Update, "revoke", json!({"serial_number": bad}))
            .await;
        assert!(matches!(r, Err(LogicalError::InvalidRequest(_))), "{bad}");
    }
    assert!(
        h.call(Operation::Read, "cert/01:02", json!({}))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn root_generation_exported_rsa_urls_and_roles() {
    let h = Harness::new();
    // No CA yet.
    let r = h.call(Operation::Read, "ca", json!({})).await;
    assert!(matches!(r, Err(LogicalError::InvalidRequest(_))));
    let w = h
        .call(
            Operation::Update,
            "config/urls",
            json!({"issuing_certificates": "http://127.0.0.1:8200/v1/pki/ca",
                   "crl_distribution_points": ["http://127.0.0.1:8200/v1/pki/crl"]}),
        )
        .await
        .unwrap();
    assert!(w.is_none());
    let urls = h.ok(Operation::Read, "config/urls", json!({})).await;
    assert_eq!(
        urls["crl_distribution_points"],
        json!(["http://127.0.0.1:8200/v1/pki/crl"])
    );
    assert_eq!(urls["ocsp_servers"], json!([]));

    // Vault's default key type: RSA 2048.
    let root = h
        .ok(
            Operation::Update,
            "root/generate/exported",
            json!({"common_name": "Tresor Root", "ttl": "87600h"}),
        )
        .await;
    assert!(
        root["private_key"]
            .as_str()
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    assert_eq!(root["private_key_type"], "rsa");
    // Capped at the mount's max TTL.
    assert_eq!(root["expiration"], START + 8760 * 3600);
    let ca = root["certificate"].as_str().unwrap();
    let ca_der = der_of(ca, "CERTIFICATE");
    let has = |needle: &[u8]| ca_der.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"http://127.0.0.1:8200/v1/pki/crl"));
    assert!(has(b"http://127.0.0.1:8200/v1/pki/ca"));
    // A second root is refused while one exists.
    let again = h
        .call(
            Operation::Update,
            "root/generate/internal",
            json!({"common_name": "x"}),
        )
        .await;
    assert!(matches!(again, Err(LogicalError::InvalidRequest(_))));
    // Bare answers: PEM at ca/pem and ca_chain, DER at ca; JSON at cert/ca.
    for path in ["ca/pem", "ca_chain"] {
        let bare = h.ok(Operation::Read, path, json!({})).await;
        assert_eq!(
            bare["http_content_type"],
            "application/pem-certificate-chain"
        );
        let body = STANDARD
            .decode(bare["http_raw_body"].as_str().unwrap())
            .unwrap();
        assert_eq!(body, ca.as_bytes(), "{path}");
    }
    let der = h.ok(Operation::Read, "ca", json!({})).await;
    assert_eq!(der["http_content_type"], "application/pkix-cert");
    assert_eq!(
        STANDARD
            .decode(der["http_raw_body"].as_str().unwrap())
            .unwrap(),
        ca_der
    );
    assert_eq!(
        h.ok(Operation::Read, "cert/ca", json!({})).await["certificate"],
        ca
    );

    // Roles: write answers the role, read, list, delete.
    let role = h
        .ok(
            Operation::Update,
            "roles/web",
            json!({"allowed_domains": ["example.com"], "allow_bare_domains": true}),
        )
        .await;
    assert_eq!(role["key_type"], "rsa");
    assert_eq!(role["key_bits"], 2048);
    assert_eq!(role["allow_localhost"], true);
    let leaf = h
        .ok(
            Operation::Update,
            "issue/web",
            json!({"common_name": "example.com", "format": "der"}),
        )
        .await;
    let leaf_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        leaf["certificate"].as_str().unwrap()
    );
    verify(ca, &leaf_pem, START + 60, None).unwrap();
    assert!(valid_for(&leaf_pem, "example.com"));
    assert_eq!(leaf["private_key_type"], "rsa");
    assert_eq!(
        h.ok(Operation::List, "roles", json!({})).await["keys"],
        json!(["web"])
    );
    assert!(
        h.call(Operation::Delete, "roles/web", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.call(Operation::Read, "roles/web", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.call(Operation::List, "roles", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    let bad = h.call(Operation::Update, "roles/a%2Fb", json!({})).await;
    assert!(matches!(bad, Err(LogicalError::InvalidRequest(_))));
}

#[tokio::test]
async fn crl_config_sets_lifetime_and_disable() {
    let h = Harness::new();
    h.setup(json!({"allow_any_name": true, "key_type": "ec"}))
        .await;
    let out = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "a.b"}),
        )
        .await;
    h.ok(
        Operation::Update,
        "revoke",
        json!({"serial_number": out["serial_number"]}),
    )
    .await;
    let listed = |der: &[u8]| {
        let crl = webpki::BorrowedCertRevocationList::from_der(der).unwrap();
        (&crl).into_iter().count()
    };
    assert_eq!(listed(&h.crl_der().await), 1);
    let c = h
        .ok(
            Operation::Update,
            "config/crl",
            json!({"expiry": "1h", "disable": true}),
        )
        .await;
    assert_eq!(c["expiry"], "1h0m0s");
    assert_eq!(listed(&h.crl_der().await), 0);
    assert_eq!(
        h.ok(Operation::Read, "config/crl", json!({})).await["disable"],
        true
    );
    h.ok(Operation::Update, "config/crl", json!({"disable": false}))
        .await;
    let before = h.crl_der().await;
    assert_eq!(listed(&before), 1);
    // Past the 1h expiry a read signs a fresh CRL.
    h.now.store(START + 3601, Ordering::SeqCst);
    assert_ne!(h.crl_der().await, before);
}

#[tokio::test]
async fn tidy_removes_expired_certificates_and_revocations() {
    let h = Harness::new();
    h.setup(json!({"allow_any_name": true, "key_type": "ec"}))
        .await;
    let a = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "a.b", "ttl": "1h"}),
        )
        .await;
    let b = h
        .ok(
            Operation::Update,
            "issue/my-role",
            json!({"common_name": "c.d", "ttl": "1000h"}),
        )
        .await;
    let sa = a["serial_number"].as_str().unwrap().to_owned();
    let sb = b["serial_number"].as_str().unwrap().to_owned();
    h.ok(Operation::Update, "revoke", json!({"serial_number": sa}))
        .await;
    // One hour plus the 72h safety buffer later, only `a` is gone.
    h.now.store(START + 3600 + 72 * 3600 + 1, Ordering::SeqCst);
    let r = h
        .call(
            Operation::Update,
            "tidy",
            json!({"tidy_cert_store": true, "tidy_revoked_certs": true}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, tresor_sdk::ResponseStatus::Accepted);
    assert!(
        h.call(Operation::Read, &format!("cert/{sa}"), json!({}))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.call(Operation::Read, &format!("cert/{sb}"), json!({}))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        h.call(Operation::List, "certs/revoked", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    // Nothing asked: nothing removed, a warning says so.
    let r = h
        .call(Operation::Update, "tidy", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.data.unwrap()["removed"], 0);
    assert!(r.warnings[0].contains("Nothing tidied"));
}
