//! Target addresses: parsing, normalising and the loopback guard.

use std::net::IpAddr;

use reqwest::Url;

use crate::error::BenchError;

/// Parses a target address (`http(s)://host[:port]`) into a base URL without a trailing slash.
///
/// Unless `allow_non_loopback` is set, the host must be `localhost`, an address in
/// `127.0.0.0/8` or `::1` (also written as the IPv4-mapped `::ffff:127.x.y.z`).
pub fn parse_target(addr: &str, allow_non_loopback: bool) -> Result<String, BenchError> {
    let bad = |reason: &str| BenchError::invalid("addr", format!("{addr:?}: {reason}"));
    let url = Url::parse(addr.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the address are not supported"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("give only scheme, host and port (no path or query)"));
    }
    let host = url.host_str().ok_or_else(|| bad("missing host"))?;
    if !allow_non_loopback && !is_loopback(host) {
        return Err(BenchError::NonLoopback {
            addr: addr.to_owned(),
        });
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Whether `url` points at a loopback host (used to vet redirects).
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    url.host_str().is_some_and(is_loopback)
}

/// Whether `host` (as [`Url::host_str`] gives it: IPv6 in brackets) names the local machine's
/// loopback interface.
fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.is_loopback(),
            None => ip.is_loopback(),
        },
        Err(_) => bare.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_accepted_and_normalised() {
        for (given, want) in [
            ("http://127.0.0.1:8200", "http://127.0.0.1:8200"),
            ("http://127.0.0.1:8200/", "http://127.0.0.1:8200"),
            ("https://127.4.5.6:8200", "https://127.4.5.6:8200"),
            ("http://localhost:8200", "http://localhost:8200"),
            ("http://LOCALHOST:8200", "http://localhost:8200"),
            ("http://[::1]:8200", "http://[::1]:8200"),
            (
                "http://[::ffff:127.0.0.1]:2379",
                "http://[::ffff:7f00:1]:2379",
            ),
            ("http://127.0.0.1", "http://127.0.0.1"),
        ] {
            assert_eq!(parse_target(given, false).unwrap(), want, "{given}");
        }
    }

    #[test]
    fn non_loopback_hosts_are_refused() {
        for addr in [
            "http://10.0.0.1:8200",
            "http://192.168.1.10:8200",
            "https://vault.example.com:8200",
            "http://localhost.example.com:8200",
            "http://[2001:db8::1]:8200",
            "http://[::ffff:10.0.0.1]:8200",
            "http://0.0.0.0:8200",
            "http://128.0.0.1:8200",
        ] {
            assert!(
                matches!(
                    parse_target(addr, false),
                    Err(BenchError::NonLoopback { .. })
                ),
                "{addr} must be refused"
            );
            assert!(
                parse_target(addr, true).is_ok(),
                "{addr} allowed on request"
            );
        }
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for addr in [
            "127.0.0.1:8200",
            "ftp://127.0.0.1",
            "http://",
            "http://127.0.0.1:8200/v1",
            "http://127.0.0.1:8200/?x=1",
            "http://user:pw@127.0.0.1:8200",
            "",
        ] {
            assert!(
                matches!(
                    parse_target(addr, true),
                    Err(BenchError::InvalidArg { flag: "addr", .. })
                ),
                "{addr:?} must be rejected"
            );
        }
    }
}
