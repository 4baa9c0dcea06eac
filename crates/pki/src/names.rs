//! Which names and addresses a role lets a certificate carry (pure).
//!
//! Vault's rules, as its PKI API documents them: `allow_any_name` lets any (well-formed) name
//! through; `allow_localhost` lets `localhost` and `localdomain` through; for each entry `d`
//! of `allowed_domains`, `allow_bare_domains` lets `d` itself through and `allow_subdomains`
//! lets any name ending in `.d` through, wildcards (`*.d`, `*.x.d`) included.
//! `enforce_hostnames` requires every DNS name to be a hostname (letters, digits and `-` in
//! labels of at most 63 bytes, an optional leading `*.` label). Comparison ignores ASCII case.
//! IP SANs pass only when `allow_ip_sans` is on.

use std::net::IpAddr;

/// The longest DNS name accepted (RFC 1035's limit on a name's text form).
pub const MAX_NAME_LEN: usize = 253;

/// The part of a role that decides which names it allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamePolicy {
    /// Domains the role issues for.
    pub allowed_domains: Vec<String>,
    /// Names below an allowed domain pass.
    pub allow_subdomains: bool,
    /// An allowed domain itself passes.
    pub allow_bare_domains: bool,
    /// Any well-formed name passes.
    pub allow_any_name: bool,
    /// `localhost` and `localdomain` pass.
    pub allow_localhost: bool,
    /// Names must be hostnames.
    pub enforce_hostnames: bool,
    /// IP addresses may be requested as SANs.
    pub allow_ip_sans: bool,
}

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long or not a hostname while hostnames are enforced.
    #[error("{0:?} is not a valid host name")]
    Malformed(String),
    /// Well-formed, but the role does not allow it.
    #[error("{0:?} not allowed by this role")]
    NotAllowed(String),
    /// IP SANs requested from a role without `allow_ip_sans`.
    #[error("IP Subject Alternative Names are not allowed in this role, but was provided {0}")]
    IpNotAllowed(String),
}

/// Whether `label` is a hostname label: 1 to 63 letters, digits or `-`, not starting or
/// ending with `-`.
fn is_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `name` is a hostname (a leading `*.` wildcard label allowed; one trailing dot is
/// not).
pub fn is_hostname(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    !rest.is_empty() && rest.split('.').all(is_label)
}

/// Whether `name` ends with `.domain` (ASCII case ignored) with something before the dot.
fn is_below(name: &str, domain: &str) -> bool {
    let (n, d) = (name.len(), domain.len());
    n > d + 1
        && name.is_char_boundary(n - d - 1)
        && name.as_bytes()[n - d - 1] == b'.'
        && name[n - d..].eq_ignore_ascii_case(domain)
}

/// Checks a DNS name (a common name or an `alt_names` entry) against `policy`.
pub fn check_name(policy: &NamePolicy, name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(NameError::Malformed(name.to_owned()));
    }
    if policy.enforce_hostnames && !is_hostname(name) {
        return Err(NameError::Malformed(name.to_owned()));
    }
    if policy.allow_any_name {
        return Ok(());
    }
    if policy.allow_localhost
        && (name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localdomain"))
    {
        return Ok(());
    }
    for domain in &policy.allowed_domains {
        let domain = domain.trim_start_matches("*.");
        if domain.is_empty() {
            continue;
        }
        if policy.allow_bare_domains && name.eq_ignore_ascii_case(domain) {
            return Ok(());
        }
        if policy.allow_subdomains {
            if is_below(name, domain) {
                return Ok(());
            }
            // `*.d` covers the names just below `d`: a subdomain wildcard.
            if let Some(base) = name.strip_prefix("*.")
                && base.eq_ignore_ascii_case(domain)
            {
                return Ok(());
            }
        }
    }
    Err(NameError::NotAllowed(name.to_owned()))
}

/// Parses and checks an IP SAN against `policy`.
pub fn check_ip(policy: &NamePolicy, ip: &str) -> Result<IpAddr, NameError> {
    let addr: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| NameError::Malformed(ip.to_owned()))?;
    if !policy.allow_ip_sans {
        return Err(NameError::IpNotAllowed(ip.to_owned()));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str]) -> NamePolicy {
        NamePolicy {
            allowed_domains: domains.iter().map(|d| d.to_string()).collect(),
            enforce_hostnames: true,
            allow_ip_sans: true,
            ..NamePolicy::default()
        }
    }

    #[test]
    fn subdomains_need_allow_subdomains() {
        let mut p = policy(&["hvac.com"]);
        assert!(check_name(&p, "test.hvac.com").is_err());
        p.allow_subdomains = true;
        assert_eq!(check_name(&p, "test.hvac.com"), Ok(()));
        assert_eq!(check_name(&p, "a.b.HVAC.com"), Ok(()));
        assert_eq!(check_name(&p, "*.hvac.com"), Ok(()));
        assert_eq!(check_name(&p, "*.x.hvac.com"), Ok(()));
        // Not the domain itself, nor a name that merely ends with the same letters.
        assert!(check_name(&p, "hvac.com").is_err());
        assert!(check_name(&p, "evilhvac.com").is_err());
        assert!(check_name(&p, "hvac.com.evil.org").is_err());
    }

    #[test]
    fn bare_domains_need_allow_bare_domains() {
        let mut p = policy(&["example.org"]);
        assert!(check_name(&p, "example.org").is_err());
        p.allow_bare_domains = true;
        assert_eq!(check_name(&p, "Example.ORG"), Ok(()));
        assert!(check_name(&p, "www.example.org").is_err());
    }

    #[test]
    fn localhost_and_any_name() {
        let mut p = policy(&[]);
        assert!(check_name(&p, "localhost").is_err());
        p.allow_localhost = true;
        assert_eq!(check_name(&p, "localhost"), Ok(()));
        assert_eq!(check_name(&p, "localdomain"), Ok(()));
        assert!(check_name(&p, "other.host").is_err());
        p.allow_any_name = true;
        assert_eq!(check_name(&p, "other.host"), Ok(()));
    }

    #[test]
    fn hostnames_are_enforced() {
        let mut p = policy(&[]);
        p.allow_any_name = true;
        for bad in [
            "",
            "has space.com",
            "-lead.com",
            "trail-.com",
            "a..b",
            "*.",
            "x.*.y",
            "under_score.com",
        ] {
            assert!(check_name(&p, bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&p, &"a".repeat(254)).is_err());
        assert!(check_name(&p, &format!("{}.com", "a".repeat(64))).is_err());
        p.enforce_hostnames = false;
        assert_eq!(check_name(&p, "under_score.com"), Ok(()));
        // Even then: not empty, not control characters, bounded.
        assert!(check_name(&p, "").is_err());
        assert!(check_name(&p, "a\nb").is_err());
    }

    #[test]
    fn ip_sans() {
        let mut p = policy(&[]);
        assert_eq!(
            check_ip(&p, "10.0.0.1").map(|a| a.to_string()),
            Ok("10.0.0.1".to_owned())
        );
        assert!(check_ip(&p, "::1").is_ok());
        assert!(matches!(
            check_ip(&p, "10.0.0"),
            Err(NameError::Malformed(_))
        ));
        p.allow_ip_sans = false;
        assert!(matches!(
            check_ip(&p, "10.0.0.1"),
            Err(NameError::IpNotAllowed(_))
        ));
    }

    #[test]
    fn multibyte_names_do_not_panic() {
        let mut p = policy(&["é.com"]);
        p.enforce_hostnames = false;
        p.allow_subdomains = true;
        assert_eq!(check_name(&p, "aé.é.com"), Ok(()));
        assert!(check_name(&p, "éé.com").is_err());
    }
}
