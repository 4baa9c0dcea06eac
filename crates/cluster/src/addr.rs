//! Parsing of peer cluster addresses (pure).

use rustls::pki_types::ServerName;

use crate::ClusterError;

/// A peer's cluster address split into what the client needs to dial and verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl PeerAddr {
    /// Parses `https://host:port`, `host:port` or `[v6]:port` (a trailing `/` is allowed).
    /// Any other scheme, a path, a missing or zero port is refused.
    pub fn parse(addr: &str) -> Result<Self, ClusterError> {
        let bad = |reason: &str| ClusterError::InvalidAddress {
            addr: addr.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = match addr.split_once("://") {
            Some(("https" | "HTTPS" | "tcp", rest)) => rest,
            Some((scheme, _)) => return Err(bad(&format!("unsupported scheme {scheme:?}"))),
            None => addr,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(bad("must be host:port without path or user"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = after.strip_prefix(':').ok_or_else(|| bad("missing port"))?;
            (host, port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
            if host.contains(':') {
                return Err(bad("IPv6 addresses must be in brackets"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
        if port == 0 {
            return Err(bad("port 0"));
        }
        Ok(PeerAddr {
            host: host.to_owned(),
            port,
        })
    }

    /// The name the peer's certificate must carry (DNS name or IP address).
    pub fn server_name(&self) -> Result<ServerName<'static>, ClusterError> {
        ServerName::try_from(self.host.clone()).map_err(|e| ClusterError::InvalidAddress {
            addr: self.host.clone(),
            reason: e.to_string(),
        })
    }

    /// `host:port` as used in URLs (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let p = PeerAddr::parse(s).unwrap();
        (p.host, p.port)
    }

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(
            ok("https://node-1.example:8201"),
            ("node-1.example".into(), 8201)
        );
        assert_eq!(ok("https://10.0.0.7:8201/"), ("10.0.0.7".into(), 8201));
        assert_eq!(ok("127.0.0.1:9"), ("127.0.0.1".into(), 9));
        assert_eq!(ok("[::1]:8201"), ("::1".into(), 8201));
        assert_eq!(ok("https://[fe80::2]:1"), ("fe80::2".into(), 1));
    }

    #[test]
    fn refuses_bad_forms() {
        for bad in [
            "http://a:1",
            "a",
            "a:",
            "a:0",
            "a:70000",
            ":8201",
            "https://a:1/path",
            "::1:8201",
            "[::1",
            "u@a:1",
        ] {
            assert!(
                matches!(
                    PeerAddr::parse(bad),
                    Err(ClusterError::InvalidAddress { .. })
                ),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn server_name_and_authority() {
        let v6 = PeerAddr::parse("[::1]:8201").unwrap();
        assert_eq!(v6.authority(), "[::1]:8201");
        assert!(matches!(
            v6.server_name().unwrap(),
            ServerName::IpAddress(_)
        ));
        let dns = PeerAddr::parse("https://vault-1.internal:8201").unwrap();
        assert_eq!(dns.authority(), "vault-1.internal:8201");
        assert!(matches!(dns.server_name().unwrap(), ServerName::DnsName(_)));
    }
}
