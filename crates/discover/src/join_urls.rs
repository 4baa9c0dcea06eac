//! Turning discovered addresses into leader API URLs. Pure.

use std::net::IpAddr;

/// Scheme used when `auto_join_scheme` is unset.
pub const DEFAULT_SCHEME: &str = "https";
/// Port used when `auto_join_port` is unset.
pub const DEFAULT_PORT: u16 = 8200;

/// `scheme://ip:port` for each address (IPv6 in brackets), with `https` and 8200 as the
/// defaults for an absent or empty scheme and an absent port.
pub fn join_urls(addrs: &[IpAddr], scheme: Option<&str>, port: Option<u16>) -> Vec<String> {
    let scheme = scheme
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SCHEME);
    let port = port.unwrap_or(DEFAULT_PORT);
    addrs
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("{scheme}://{v4}:{port}"),
            IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{port}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_brackets() {
        let addrs: Vec<IpAddr> = ["10.0.0.1", "2001:db8::7"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            join_urls(&addrs, None, None),
            vec!["https://10.0.0.1:8200", "https://[2001:db8::7]:8200"]
        );
        assert_eq!(
            join_urls(&addrs, Some("http"), Some(18200)),
            vec!["http://10.0.0.1:18200", "http://[2001:db8::7]:18200"]
        );
        assert_eq!(
            join_urls(&addrs[..1], Some(""), None),
            vec!["https://10.0.0.1:8200"]
        );
        assert!(join_urls(&[], None, None).is_empty());
    }
}
