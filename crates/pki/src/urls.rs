//! `config/urls`: the URLs written into issued certificates (issuing CA and OCSP in the
//! Authority Information Access extension, CRL distribution points in their own).

use rcgen::{CrlDistributionPoint, CustomExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields;

use crate::error::PkiError;

/// At most this many URLs per list.
const MAX_URLS: usize = 16;
/// At most this many bytes per URL.
const MAX_URL_LEN: usize = 2048;

/// The mount's URL configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Urls {
    /// Where the issuing CA certificate can be fetched.
    pub(crate) issuing_certificates: Vec<String>,
    /// Where the CRL can be fetched.
    pub(crate) crl_distribution_points: Vec<String>,
    /// OCSP responders.
    pub(crate) ocsp_servers: Vec<String>,
}

fn check_list(field: &str, urls: Vec<String>) -> Result<Vec<String>, PkiError> {
    if urls.len() > MAX_URLS {
        return Err(PkiError::Invalid(format!(
            "{field}: at most {MAX_URLS} URLs"
        )));
    }
    for u in &urls {
        let ok = u.len() <= MAX_URL_LEN
            && u.bytes().all(|b| b.is_ascii_graphic())
            && u.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty()
            });
        if !ok {
            return Err(PkiError::Invalid(format!(
                "invalid URL in {field}: {:?}",
                u.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(urls)
}

impl Urls {
    /// Applies a write: fields present replace the stored ones, absent fields stay.
    pub(crate) fn update(mut self, data: &Map<String, Value>) -> Result<Self, PkiError> {
        let get =
            |f: &str| fields::get_str_list(data, f).map_err(|e| PkiError::Invalid(e.to_string()));
        if let Some(v) = get("issuing_certificates")? {
            self.issuing_certificates = check_list("issuing_certificates", v)?;
        }
        if let Some(v) = get("crl_distribution_points")? {
            self.crl_distribution_points = check_list("crl_distribution_points", v)?;
        }
        if let Some(v) = get("ocsp_servers")? {
            self.ocsp_servers = check_list("ocsp_servers", v)?;
        }
        Ok(self)
    }

    /// The read answer.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "issuing_certificates": self.issuing_certificates,
            "crl_distribution_points": self.crl_distribution_points,
            "ocsp_servers": self.ocsp_servers,
            "enable_templating": false,
        })
    }

    /// The CRL distribution points extension's content, if any URL is set.
    pub(crate) fn crl_points(&self) -> Vec<CrlDistributionPoint> {
        if self.crl_distribution_points.is_empty() {
            Vec::new()
        } else {
            vec![CrlDistributionPoint {
                uris: self.crl_distribution_points.clone(),
            }]
        }
    }

    /// The Authority Information Access extension, if any issuing or OCSP URL is set.
    pub(crate) fn aia_extension(&self) -> Option<CustomExtension> {
        if self.issuing_certificates.is_empty() && self.ocsp_servers.is_empty() {
            return None;
        }
        Some(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 1],
            aia_der(&self.ocsp_servers, &self.issuing_certificates),
        ))
    }
}

/// DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// `id-ad-ocsp` (1.3.6.1.5.5.7.48.1) and `id-ad-caIssuers` (1.3.6.1.5.5.7.48.2), encoded.
const OID_OCSP: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const OID_CA_ISSUERS: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];

/// `AuthorityInfoAccessSyntax`: a SEQUENCE of (method OID, URI general name `[6]`).
fn aia_der(ocsp: &[String], issuers: &[String]) -> Vec<u8> {
    let mut items = Vec::new();
    for (oid, uris) in [(&OID_OCSP, ocsp), (&OID_CA_ISSUERS, issuers)] {
        for uri in uris {
            let mut desc = tlv(0x06, oid);
            desc.extend(tlv(0x86, uri.as_bytes()));
            items.extend(tlv(0x30, &desc));
        }
    }
    tlv(0x30, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_long_form_above_127() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = tlv(0x04, &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn aia_encodes_ca_issuers() {
        let der = aia_der(&[], &["http://a/ca".to_owned()]);
        let mut expect = vec![0x30, 25, 0x30, 23, 0x06, 8];
        expect.extend(OID_CA_ISSUERS);
        expect.extend([0x86, 11]);
        expect.extend(b"http://a/ca");
        assert_eq!(der, expect);
    }

    #[test]
    fn writes_replace_present_fields_and_check_urls() {
        let d = json!({"issuing_certificates": "http://127.0.0.1:8200/v1/pki/ca"});
        let u = Urls::default()
            .update(d.as_object().unwrap_or(&Map::new()))
            .ok();
        assert_eq!(
            u.map(|u| u.issuing_certificates),
            Some(vec!["http://127.0.0.1:8200/v1/pki/ca".to_owned()])
        );
        for bad in ["no scheme", "http://", "http://a b", "://x"] {
            let d = json!({ "ocsp_servers": [bad] });
            assert!(
                Urls::default()
                    .update(d.as_object().unwrap_or(&Map::new()))
                    .is_err(),
                "{bad}"
            );
        }
    }
}
