//! CIDR blocks a token may be bound to (`token_bound_cidrs`): parsing and membership, pure.

use std::net::IpAddr;

use crate::error::TokenError;

/// Most blocks one token or role may list.
pub const MAX_CIDRS: usize = 64;

/// One block: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `v6::/n`, or a bare address (a single host). Host bits may be set
    /// (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(s: &str) -> Result<Cidr, TokenError> {
        let bad = || TokenError::invalid(format!("invalid CIDR block {s:?}"));
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Checks a list of blocks (empty entries dropped, at most [`MAX_CIDRS`]) and returns it
/// trimmed, single hosts (`/32`, `/128`) written as bare addresses.
pub fn parse_list(list: &[String]) -> Result<Vec<String>, TokenError> {
    let out: Vec<String> = list
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if out.len() > MAX_CIDRS {
        return Err(TokenError::invalid(format!(
            "at most {MAX_CIDRS} CIDR blocks may be bound"
        )));
    }
    out.iter()
        .map(|c| {
            let parsed = Cidr::parse(c)?;
            let host = parsed.prefix == if parsed.addr.is_ipv4() { 32 } else { 128 };
            Ok(if host {
                parsed.addr.to_string()
            } else {
                c.clone()
            })
        })
        .collect()
}

/// Whether a request from `remote` may use a token bound to `blocks`: always when `blocks` is
/// empty; never when the address is unknown; else when one block contains it. Blocks that do
/// not parse (never stored: checked on write) match nothing.
pub fn allows(blocks: &[String], remote: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(ip) = remote else {
        return false;
    };
    blocks
        .iter()
        .filter_map(|b| Cidr::parse(b).ok())
        .any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_contain() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(c.contains(ip("10.200.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.9")), "v4-mapped v6");
        let host = Cidr::parse("192.0.2.7").unwrap();
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10/8",
            "x",
            "::/129",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "1.2.3.4/0008",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allows_rules() {
        let blocks = vec!["10.0.0.0/8".to_owned(), "127.0.0.1".to_owned()];
        assert!(allows(&[], None));
        assert!(!allows(&blocks, None), "unknown address, bound token");
        assert!(allows(&blocks, Some(ip("127.0.0.1"))));
        assert!(!allows(&blocks, Some(ip("192.0.2.1"))));
        assert_eq!(
            parse_list(&[" 10.0.0.0/8 ".into(), String::new()]).unwrap(),
            vec!["10.0.0.0/8"]
        );
        assert!(parse_list(&["nope".into()]).is_err());
        assert_eq!(
            parse_list(&["127.0.0.1/32".into(), "::1/128".into()]).unwrap(),
            vec!["127.0.0.1", "::1"]
        );
        assert!(parse_list(&vec!["10.0.0.1".to_owned(); MAX_CIDRS + 1]).is_err());
    }
}
