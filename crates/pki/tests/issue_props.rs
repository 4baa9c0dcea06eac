//! Property test through the engine: for random names and role flags, `issue` succeeds
//! exactly when the role's rules allow every name, and then the certificate (checked by
//! rustls-webpki) chains to the CA and is valid for exactly those names. Seeds are printed;
//! replay with `PROPTEST_RNG_SEED=<seed>`.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tresor_pki::Pki;
use tresor_sdk::{LogicalBackend, MountInfo, Operation, Request};
use tresor_storage::{InMemBackend, View};
use tresor_testkit::props::seeded_config;

const NOW: i64 = 1_800_000_000;

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(body).unwrap()
}

async fn call(pki: &Pki, view: &View, path: &str, body: Value) -> Result<Value, String> {
    let mut req = Request::new(Operation::Update, path, view.clone())
        .with_data(body.as_object().cloned().unwrap());
    req.mount = MountInfo {
        default_lease_ttl: 3600,
        max_lease_ttl: 86400,
        ..MountInfo::default()
    };
    pki.handle(&req)
        .await
        .map(|r| Value::Object(r.and_then(|r| r.data).unwrap_or_default()))
        .map_err(|e| e.to_string())
}

fn valid_for(leaf: &[u8], name: &str) -> bool {
    let leaf = CertificateDer::from(leaf.to_vec());
    let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
    let sn = match name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name.to_owned()).unwrap(),
    };
    ee.verify_is_valid_for_subject_name(&sn).is_ok()
}

proptest! {
    #![proptest_config(seeded_config(24))]

    #[test]
    fn issue_follows_the_role_and_the_certificate_says_so(
        sub in proptest::collection::vec("[a-z][a-z0-9]{0,6}", 0..3),
        other_domain in any::<bool>(),
        subdomains in any::<bool>(),
        bare in any::<bool>(),
        allow_ip in any::<bool>(),
        ip in proptest::option::of((1u8..255, 0u8..255)),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let pki = Pki::with_clock(Arc::new(|| NOW));
            let view = View::new(Arc::new(InMemBackend::new()), "logical/p/");
            let root = call(&pki, &view, "root/generate/internal",
                json!({"common_name": "Root", "key_type": "ec"})).await.unwrap();
            call(&pki, &view, "roles/r", json!({
                "allowed_domains": "example.com", "allow_subdomains": subdomains,
                "allow_bare_domains": bare, "allow_ip_sans": allow_ip, "key_type": "ec",
            })).await.unwrap();
            let domain = if other_domain { "example.org" } else { "example.com" };
            let mut parts = sub.clone();
            parts.push(domain.to_owned());
            let cn = parts.join(".");
            let ip_text = ip.map(|(a, b)| format!("10.{a}.{b}.1"));
            let mut body = json!({"common_name": cn, "ttl": "1h"});
            if let Some(t) = &ip_text {
                body["ip_sans"] = json!(t);
            }
            let name_ok = !other_domain && if sub.is_empty() { bare } else { subdomains };
            let expected = name_ok && (ip_text.is_none() || allow_ip);
            let out = call(&pki, &view, "issue/r", body).await;
            prop_assert_eq!(out.is_ok(), expected, "{} {:?}: {:?}", cn, ip_text, out);
            if let Ok(out) = out {
                let leaf = der(out["certificate"].as_str().unwrap());
                let ca = CertificateDer::from(der(root["certificate"].as_str().unwrap()));
                let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
                let leaf_der = CertificateDer::from(leaf.clone());
                let ee = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
                let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(NOW as u64 + 60));
                prop_assert!(ee.verify_for_usage(&[webpki::ring::ECDSA_P256_SHA256], &[anchor], &[],
                    time, webpki::KeyUsage::server_auth(), None, None).is_ok());
                prop_assert!(valid_for(&leaf, &cn));
                let prefixed = format!("x{cn}");
                prop_assert!(!valid_for(&leaf, &prefixed));
                if let Some(t) = &ip_text {
                    prop_assert!(valid_for(&leaf, t));
                }
                prop_assert!(!valid_for(&leaf, "10.255.255.254"));
            }
            Ok(())
        })?;
    }
}
