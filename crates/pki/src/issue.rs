//! Issuing a leaf certificate under the CA for a role (request parsing and name checks are
//! pure; building signs).

use std::net::IpAddr;

use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use serde_json::{Map, Value};
use tresor_sdk::fields;

use crate::ca::{Signer, name, to_time};
use crate::error::PkiError;
use crate::keys::{KeyFormat, PrivateKey};
use crate::names::{check_ip, check_name};
use crate::role::Role;
use crate::urls::Urls;

/// At most this many `alt_names` plus `ip_sans`.
const MAX_SANS: usize = 100;

/// How certificates are written in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CertFormat {
    /// PEM (the default).
    Pem,
    /// Base64 of the DER.
    Der,
    /// PEM, with the private key and the issuing CA appended to `certificate`.
    PemBundle,
}

/// An issue request, checked against the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IssueRequest {
    /// The subject's common name.
    pub(crate) common_name: String,
    /// DNS SANs, the common name first unless excluded; no duplicates.
    pub(crate) dns_names: Vec<String>,
    /// IP SANs.
    pub(crate) ip_sans: Vec<IpAddr>,
    /// The TTL asked for.
    pub(crate) ttl: Option<u64>,
    /// Answer format.
    pub(crate) format: CertFormat,
    /// Private key format.
    pub(crate) key_format: KeyFormat,
}

fn invalid(e: tresor_sdk::LogicalError) -> PkiError {
    PkiError::Invalid(e.to_string())
}

/// Reads an issue request and checks every name against `role`.
pub(crate) fn parse_request(
    data: &Map<String, Value>,
    role: &Role,
) -> Result<IssueRequest, PkiError> {
    let policy = role.name_policy();
    let common_name = fields::get_str(data, "common_name")
        .map_err(invalid)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PkiError::Invalid("the common_name field is required".to_owned()))?;
    let alt_names = fields::get_str_list(data, "alt_names")
        .map_err(invalid)?
        .unwrap_or_default();
    let ip_texts = fields::get_str_list(data, "ip_sans")
        .map_err(invalid)?
        .unwrap_or_default();
    if alt_names.len() + ip_texts.len() > MAX_SANS {
        return Err(PkiError::Invalid(format!(
            "at most {MAX_SANS} alt_names and ip_sans together"
        )));
    }
    let exclude_cn = fields::get_bool(data, "exclude_cn_from_sans")
        .map_err(invalid)?
        .unwrap_or(false);
    let mut ip_sans = Vec::new();
    let mut dns_names = Vec::new();
    // A common name that is an IP address is checked (and added) as an IP SAN.
    match common_name.parse::<IpAddr>() {
        Ok(ip) => {
            check_ip(&policy, &common_name).map_err(|e| PkiError::Invalid(e.to_string()))?;
            if !exclude_cn {
                ip_sans.push(ip);
            }
        }
        Err(_) => {
            check_name(&policy, &common_name)
                .map_err(|e| PkiError::Invalid(format!("common name {e}")))?;
            if !exclude_cn {
                dns_names.push(common_name.clone());
            }
        }
    }
    for n in alt_names {
        check_name(&policy, &n)
            .map_err(|e| PkiError::Invalid(format!("subject alternate name {e}")))?;
        if !dns_names.iter().any(|d| d.eq_ignore_ascii_case(&n)) {
            dns_names.push(n);
        }
    }
    for t in ip_texts {
        let ip = check_ip(&policy, &t).map_err(|e| PkiError::Invalid(e.to_string()))?;
        if !ip_sans.contains(&ip) {
            ip_sans.push(ip);
        }
    }
    let ttl = fields::get_duration(data, "ttl").map_err(invalid)?;
    let format = match fields::get_str(data, "format").map_err(invalid)?.as_deref() {
        None | Some("") | Some("pem") => CertFormat::Pem,
        Some("der") => CertFormat::Der,
        Some("pem_bundle") => CertFormat::PemBundle,
        Some(_) => {
            return Err(PkiError::Invalid(
                "format must be pem, der or pem_bundle".to_owned(),
            ));
        }
    };
    let key_format = match fields::get_str(data, "private_key_format")
        .map_err(invalid)?
        .as_deref()
    {
        None | Some("") | Some("der") | Some("pem") => KeyFormat::Native,
        Some("pkcs8") => KeyFormat::Pkcs8,
        Some(_) => {
            return Err(PkiError::Invalid(
                "private_key_format must be der, pem or pkcs8".to_owned(),
            ));
        }
    };
    Ok(IssueRequest {
        common_name,
        dns_names,
        ip_sans,
        ttl,
        format,
        key_format,
    })
}

/// Validity of a leaf.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Validity {
    /// Start, Unix seconds.
    pub(crate) not_before: i64,
    /// End, Unix seconds.
    pub(crate) not_after: i64,
}

/// Signs a leaf for `req` over `key` with `serial`.
pub(crate) fn build_leaf(
    signer: &Signer,
    role: &Role,
    req: &IssueRequest,
    key: &PrivateKey,
    serial: &[u8],
    validity: Validity,
    urls: &Urls,
) -> Result<String, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(&req.common_name);
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.not_before = to_time(validity.not_before);
    p.not_after = to_time(validity.not_after);
    p.is_ca = IsCa::ExplicitNoCa;
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    if role.server_flag {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if role.client_flag {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for n in &req.dns_names {
        let ia5 = n
            .clone()
            .try_into()
            .map_err(|_| PkiError::Invalid(format!("{n:?} cannot be a DNS name")))?;
        p.subject_alt_names.push(SanType::DnsName(ia5));
    }
    p.subject_alt_names
        .extend(req.ip_sans.iter().map(|ip| SanType::IpAddress(*ip)));
    p.crl_distribution_points = urls.crl_points();
    p.custom_extensions.extend(urls.aia_extension());
    let leaf_key = key.key_pair()?;
    let cert = p.signed_by(&leaf_key, &signer.issuer, &signer.key)?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role() -> Role {
        Role {
            allowed_domains: vec!["hvac.com".to_owned()],
            allow_subdomains: true,
            ..Role::default()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_and_ips_are_checked_and_deduplicated() {
        let r = parse_request(
            &obj(json!({
                "common_name": "test.hvac.com",
                "alt_names": "a.hvac.com,TEST.hvac.com",
                "ip_sans": ["10.0.0.1", "10.0.0.1"],
                "ttl": "1h",
            })),
            &role(),
        );
        let r = r.ok();
        assert_eq!(
            r.as_ref().map(|r| r.dns_names.clone()),
            Some(vec!["test.hvac.com".to_owned(), "a.hvac.com".to_owned()])
        );
        assert_eq!(r.as_ref().map(|r| r.ip_sans.len()), Some(1));
        assert_eq!(r.as_ref().and_then(|r| r.ttl), Some(3600));
    }

    #[test]
    fn refusals() {
        let mut no_ip = role();
        no_ip.allow_ip_sans = false;
        for (data, role) in [
            (json!({}), role()),
            (json!({"common_name": "other.com"}), role()),
            (
                json!({"common_name": "x.hvac.com", "alt_names": "evil.com"}),
                role(),
            ),
            (
                json!({"common_name": "x.hvac.com", "ip_sans": "1.2.3.4"}),
                no_ip.clone(),
            ),
            (json!({"common_name": "10.1.1.1"}), no_ip),
            (
                json!({"common_name": "x.hvac.com", "format": "xml"}),
                role(),
            ),
            (
                json!({"common_name": "x.hvac.com", "alt_names": vec!["a.hvac.com"; 101]}),
                role(),
            ),
        ] {
            assert!(parse_request(&obj(data.clone()), &role).is_err(), "{data}");
        }
    }

    #[test]
    fn exclude_cn_from_sans() {
        let r = parse_request(
            &obj(json!({"common_name": "x.hvac.com", "exclude_cn_from_sans": true})),
            &role(),
        );
        assert_eq!(r.ok().map(|r| r.dns_names.len()), Some(0));
    }
}
