//! CIDR bindings (`token_bound_cidrs`, `secret_id_bound_cidrs`, `bound_cidrs`): parsing the
//! blocks a role or user is bound to and checking a client address against them. Pure.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::LogicalError;

/// Longest list of blocks one binding may hold (hostile input is bounded).
pub const MAX_BLOCKS: usize = 256;

/// Parses CIDR blocks; a bare address is a single-host block (`/32` or `/128`). The blocks come
/// back in their canonical text (`10.0.0.0/8`), as stored and shown.
pub fn parse_blocks(items: &[String]) -> Result<Vec<String>, LogicalError> {
    if items.len() > MAX_BLOCKS {
        return Err(LogicalError::invalid(format!(
            "too many CIDR blocks (at most {MAX_BLOCKS})"
        )));
    }
    items
        .iter()
        .map(|s| parse_block(s).map(|n| n.to_string()))
        .collect()
}

fn parse_block(text: &str) -> Result<IpNet, LogicalError> {
    let text = text.trim();
    if let Ok(net) = IpNet::from_str(text) {
        return Ok(net);
    }
    IpAddr::from_str(text)
        .map(IpNet::from)
        .map_err(|_| LogicalError::invalid(format!("invalid CIDR block {text:?}")))
}

/// Whether `addr` may use something bound to `blocks`: any address when there are no blocks;
/// otherwise only a known address inside one of them (an unknown address is refused, and so
/// is a stored block that no longer parses).
pub fn allows(blocks: &[String], addr: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(addr) = addr else {
        return false;
    };
    // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 client.
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    blocks
        .iter()
        .filter_map(|b| parse_block(b).ok())
        .any(|net| net.contains(&addr))
}

/// Whether every block of `inner` lies inside some block of `outer` (a secret id's CIDRs must
/// stay within its role's). Unparsable blocks are never inside.
pub fn is_subset(inner: &[String], outer: &[String]) -> bool {
    let outer: Vec<IpNet> = outer.iter().filter_map(|b| parse_block(b).ok()).collect();
    inner
        .iter()
        .all(|b| parse_block(b).is_ok_and(|net| outer.iter().any(|o| o.contains(&net))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn blocks(items: &[&str]) -> Vec<String> {
        parse_blocks(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn bare_addresses_are_host_blocks_and_blocks_are_canonical() {
        assert_eq!(blocks(&["127.0.0.1"]), vec!["127.0.0.1/32"]);
        assert_eq!(blocks(&[" 10.1.2.3/8 "]), vec!["10.1.2.3/8"]);
        assert_eq!(blocks(&["::1"]), vec!["::1/128"]);
        assert!(parse_blocks(&["10.0.0.0/33".into()]).is_err());
        assert!(parse_blocks(&["nope".into()]).is_err());
        assert!(parse_blocks(&vec!["10.0.0.1".to_string(); MAX_BLOCKS + 1]).is_err());
    }

    #[test]
    fn membership() {
        let b = blocks(&["10.0.0.0/8", "192.168.1.7"]);
        assert!(allows(&b, ip("10.200.3.4")));
        assert!(allows(&b, ip("192.168.1.7")));
        assert!(!allows(&b, ip("192.168.1.8")));
        assert!(!allows(&b, ip("127.0.0.1")));
        assert!(!allows(&b, None), "an unknown client is refused");
        assert!(allows(&[], None), "no binding, no check");
        assert!(allows(&b, ip("::ffff:10.0.0.1")), "v4-mapped v6");
        assert!(!allows(&["garbage".into()], ip("10.0.0.1")));
    }

    #[test]
    fn subsets() {
        let role = blocks(&["10.0.0.0/8"]);
        assert!(is_subset(&blocks(&["10.1.0.0/16", "10.2.3.4"]), &role));
        assert!(!is_subset(&blocks(&["10.0.0.0/7"]), &role));
        assert!(!is_subset(&blocks(&["11.0.0.1"]), &role));
        assert!(is_subset(&[], &role));
    }
}
