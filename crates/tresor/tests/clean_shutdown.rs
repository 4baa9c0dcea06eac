//! A node stopped with SIGTERM closes its state database, so the next start opens it at once
//! instead of checking every page (which takes seconds per GiB); a node killed with SIGKILL
//! is checked, and says so in its log. (The case that made restarts slow, a snapshot build
//! still running on the blocking pool at exit, is not staged here; `bench/recovery.sh cold`
//! shows it: 1,935 ms to serve 1 GiB before the runtime was shut down before exit, 88 ms
//! after.)

#![allow(clippy::unwrap_used)] // tests may unwrap

use serde_json::json;
use tresor_testkit::cluster::Cluster;

const CHECKED: &str = "state.redb was not closed cleanly";

#[test]
fn sigterm_closes_the_state_database_and_sigkill_does_not() {
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

    c.nodes[0].kill9();
    c.nodes[0].spawn(&http);
    assert_eq!(
        c.nodes[0].log().matches(CHECKED).count(),
        1,
        "a killed node's state database is checked once, and the log says so"
    );
    c.unseal(0);
    c.wait_leader(None, std::time::Duration::from_secs(30));
    let read = c.get(0, "kv/a");
    assert_eq!(read.json::<serde_json::Value>().unwrap()["data"]["v"], "1");
}
