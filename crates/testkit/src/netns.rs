//! Network namespaces for partition tests: one namespace per node plus a hub namespace
//! holding a bridge, all wired with veth pairs, and a veth from the test process's namespace
//! into the bridge so the test can always reach every node. Names carry a per-test tag
//! (`tr` + a hash of the test pid and a counter) so leftovers are recognisable; `Drop`
//! deletes the namespaces, which takes their links and firewall rules with them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The namespaces, addresses and links of one test.
pub struct Netns {
    /// Name prefix, e.g. `tr3fa2c1`.
    pub tag: String,
    /// First three octets of the /24, e.g. `10.213.41`.
    pub subnet: String,
    /// Node namespaces, index = node index.
    pub nodes: Vec<String>,
    hub: String,
    host_link: String,
}

/// Runs `ip`/`iptables` (optionally inside namespace `ns`) and returns stderr on failure.
pub fn run(ns: Option<&str>, args: &[&str]) -> Result<(), String> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]);
            c.args(args);
            c
        }
        None => {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        }
    };
    let out = cmd.output().map_err(|e| format!("running {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?} in {ns:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(ns: Option<&str>, args: &[&str]) {
    if let Err(e) = run(ns, args) {
        panic!("network namespace setup: {e}");
    }
}

impl Netns {
    /// Creates `n` node namespaces on a fresh /24 in 10.0.0.0/8. Panics with a clear message
    /// when namespaces cannot be created (the tests need root: CI runs them as root).
    pub fn create(n: usize) -> Netns {
        let pid = std::process::id();
        let k = COUNTER.fetch_add(1, Ordering::Relaxed);
        // A small, well-mixed number from (pid, k) gives the name tag and the subnet.
        let h = (u64::from(pid) << 8 | u64::from(k)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let tag = format!("tr{:06x}", h & 0xff_ffff);
        let subnet = format!("10.{}.{}", 200 + (h >> 8) % 50, h & 0xff);
        let hub = format!("{tag}hub");
        if let Err(e) = run(None, &["ip", "netns", "add", &hub]) {
            panic!(
                "cannot create network namespaces ({e}); the partition tests need root \
                 (CAP_NET_ADMIN) and iproute2 + iptables (scripts/ci-deps.sh installs them)"
            );
        }
        let mut net = Netns {
            tag: tag.clone(),
            subnet: subnet.clone(),
            nodes: Vec::new(),
            hub: hub.clone(),
            host_link: format!("{tag}h"),
        };
        must(Some(&hub), &["ip", "link", "add", "br0", "type", "bridge"]);
        must(Some(&hub), &["ip", "link", "set", "br0", "up"]);
        // The test process's own leg into the bridge.
        let peer = format!("{tag}H");
        must(
            None,
            &[
                "ip",
                "link",
                "add",
                &net.host_link,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
        );
        must(None, &["ip", "link", "set", &peer, "netns", &hub]);
        must(Some(&hub), &["ip", "link", "set", &peer, "master", "br0"]);
        must(Some(&hub), &["ip", "link", "set", &peer, "up"]);
        must(
            None,
            &[
                "ip",
                "addr",
                "add",
                &format!("{subnet}.1/24"),
                "dev",
                &net.host_link,
            ],
        );
        must(None, &["ip", "link", "set", &net.host_link, "up"]);
        for i in 0..n {
            let ns = format!("{tag}n{i}");
            must(None, &["ip", "netns", "add", &ns]);
            net.nodes.push(ns.clone());
            let inner = format!("{tag}v{i}");
            let outer = format!("{tag}b{i}");
            must(
                None,
                &[
                    "ip", "link", "add", &inner, "type", "veth", "peer", "name", &outer,
                ],
            );
            must(None, &["ip", "link", "set", &inner, "netns", &ns]);
            must(None, &["ip", "link", "set", &outer, "netns", &hub]);
            must(Some(&hub), &["ip", "link", "set", &outer, "master", "br0"]);
            must(Some(&hub), &["ip", "link", "set", &outer, "up"]);
            must(Some(&ns), &["ip", "link", "set", "lo", "up"]);
            must(
                Some(&ns),
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", net.ip(i)),
                    "dev",
                    &inner,
                ],
            );
            must(Some(&ns), &["ip", "link", "set", &inner, "up"]);
        }
        net
    }

    /// The address of node `i`.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// The test process's address on the bridge.
    pub fn host_ip(&self) -> String {
        format!("{}.1", self.subnet)
    }

    /// Drops all traffic between node `i` and every other node (both directions, inside
    /// node `i`'s namespace); the test process's address stays reachable.
    pub fn isolate(&self, i: usize) {
        for j in (0..self.nodes.len()).filter(|j| *j != i) {
            let other = self.ip(j);
            must(
                Some(&self.nodes[i]),
                &["iptables", "-A", "INPUT", "-s", &other, "-j", "DROP"],
            );
            must(
                Some(&self.nodes[i]),
                &["iptables", "-A", "OUTPUT", "-d", &other, "-j", "DROP"],
            );
        }
    }

    /// Removes every rule added by [`Netns::isolate`].
    pub fn heal(&self) {
        for ns in &self.nodes {
            must(Some(ns), &["iptables", "-F"]);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it, and with them their peers
        // (the host leg included) and its iptables rules.
        for ns in self.nodes.iter().chain(std::iter::once(&self.hub)) {
            let _ = run(None, &["ip", "netns", "del", ns]);
        }
        let _ = run(None, &["ip", "link", "del", &self.host_link]);
    }
}
