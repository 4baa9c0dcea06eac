//! Loopback ports for servers a test starts.
//!
//! A port the kernel hands out for `127.0.0.1:0` comes from the ephemeral range, the same
//! range outgoing connections take their local ports from: between the test's check and the
//! server's bind, a client connection elsewhere in the suite can take it ("Address already in
//! use"). These ports come from below that range (20000–31999, under Linux's default
//! 32768–60999), spread by process id so concurrent test processes start apart, and are
//! checked free before they are handed out.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// First port handed out.
const LOW: u32 = 20_000;
/// How many ports the range holds.
const SPAN: u32 = 12_000;
/// A stride coprime with `SPAN`, so one process walks the whole range.
const STRIDE: u32 = 7_919;

/// Ports already handed out by this process (test-only counter: one test binary, one range).
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port, outside the ephemeral range, that was free when checked.
pub fn free_port() -> u16 {
    free_port_on(&["127.0.0.1"])
}

/// A port free on every one of `hosts` (loopback addresses) when checked.
pub fn free_port_on(hosts: &[&str]) -> u16 {
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let offset = start.wrapping_add(n.wrapping_mul(STRIDE)) % SPAN;
        let Ok(port) = u16::try_from(LOW + offset) else {
            continue;
        };
        if hosts.iter().all(|h| TcpListener::bind((*h, port)).is_ok()) {
            return port;
        }
    }
    panic!("no free port in {LOW}..{} on {hosts:?}", LOW + SPAN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_outside_the_ephemeral_range_and_distinct() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        assert!(
            ports.iter().all(|p| (20_000..32_000).contains(p)),
            "{ports:?}"
        );
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
    }
}
