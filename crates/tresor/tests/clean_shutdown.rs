//! A node stopped with SIGTERM closes its state database, so the next start opens it at once
//! instead of checking every page (which takes seconds per GiB). A node killed with SIGKILL
//! does not need that check either: every durable commit of the state database records redb's
//! allocator state (quick repair), so the next start trusts the last durable commit and
//! Raft re-applies the rest from its log. (The case that made restarts slow, a snapshot build
//! still running on the blocking pool at exit, is not staged here; `bench/recovery.sh cold`
//! shows it: 1,935 ms to serve 1 GiB before the runtime was shut down before exit, 88 ms
//! after.)

#![allow(clippy::unwrap_used)] // tests may unwrap

use serde_json::json;
use tresor_testkit::cluster::Cluster;

const CHECKED: &str = "state.redb was not closed cleanly";

#[test]
fn neither_sigterm_nor_sigkill_makes_the_next_start_check_every_page() {
    let mut c = Cluster::start(1);
    let http = c.http.clone();
    let write = c.put(0, "sys/mounts/kv", json!({"type": "kv"}));
    assert!(write.status().is_success(), "{}", write.status());
    let put = c.put(0, "kv/a", json!({"v": "1"}));
    assert!(put.status().is_success(), "{}", put.status());

    assert_eq!(c.nodes[0].terminate(), Some(0), "a clean stop exits 0");
    c.nodes[0].spawn(&http);
    c.unseal(0);
    c.wait_leader(None, std::time::Duration::from_secs(30));
    let read = c.get(0, "kv/a");
    assert!(read.status().is_success(), "{}", read.status());
    assert!(
        !c.nodes[0].log().contains(CHECKED),
        "the state database was checked after a clean stop"
    );

    // Writes after the restart, some of them only in non-durable commits, then a kill.
    for i in 0..20 {
        let put = c.put(0, &format!("kv/b{i}"), json!({"v": i}));
        assert!(put.status().is_success(), "{}", put.status());
    }
    c.nodes[0].kill9();
    c.nodes[0].spawn(&http);
    c.unseal(0);
    c.wait_leader(None, std::time::Duration::from_secs(30));
    assert!(
        !c.nodes[0].log().contains(CHECKED),
        "a killed node's state database was checked page by page"
    );
    for i in 0..20 {
        let read = c.get(0, &format!("kv/b{i}"));
        assert_eq!(read.json::<serde_json::Value>().unwrap()["data"]["v"], i);
    }
    let read = c.get(0, "kv/a");
    assert_eq!(read.json::<serde_json::Value>().unwrap()["data"]["v"], "1");
}
