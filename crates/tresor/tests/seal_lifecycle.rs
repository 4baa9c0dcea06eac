//! Init, unseal (hex and base64, progress, nonce, reset), seal, health and leader codes,
//! restart and kill -9 recovery, over HTTP against the real binary.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
use serde_json::json;

#[test]
fn init_unseal_seal_health_and_restart() {
    let mut s = Server::start();

    // Before init: health 501, seal-status uninitialized, logical requests refused.
    assert_eq!(s.get("sys/health").status(), 501);
    assert_eq!(s.req("HEAD", "sys/health").send().unwrap().status(), 501);
    assert_eq!(s.get("sys/health?uninitcode=299").status(), 299);
    assert_eq!(body(s.get("sys/init"))["initialized"], false);
    let st = body(s.get("sys/seal-status"));
    assert_eq!(st["initialized"], false);
    assert_eq!(st["sealed"], true);
    assert_eq!(st["t"], 0);

    // Bad init requests.
    assert_eq!(
        s.put(
            "sys/init",
            json!({"secret_shares": 3, "secret_threshold": 4})
        )
        .status(),
        400
    );
    assert_eq!(s.put("sys/init", json!({"secret_shares": 3})).status(), 400);
    assert_eq!(
        s.put(
            "sys/init",
            json!({"secret_shares": 3, "secret_threshold": 2, "recovery_shares": 1})
        )
        .status(),
        400
    );

    let r = s.put(
        "sys/init",
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    assert_eq!(r.status(), 200);
    let init = body(r);
    let keys = process::strings(&init["keys"]);
    let keys_b64 = process::strings(&init["keys_base64"]);
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert_eq!(keys.len(), 5);
    assert_eq!(keys_b64.len(), 5);
    assert!(
        root.starts_with("hvs.") && root.len() == 28,
        "root token format: {root}"
    );
    assert_eq!(
        s.put(
            "sys/init",
            json!({"secret_shares": 1, "secret_threshold": 1})
        )
        .status(),
        400
    );

    // Sealed after init: 503 for health and for logical requests.
    assert_eq!(s.get("sys/health").status(), 503);
    assert_eq!(s.get("sys/health?sealedcode=298").status(), 298);
    let denied = s
        .req("GET", "sys/mounts")
        .header("X-Vault-Token", &root)
        .send()
        .unwrap();
    assert_eq!(denied.status(), 503);
    assert_eq!(body(denied)["errors"][0], "Vault is sealed");

    // Unseal progress with a hex key and a base64 key, nonce, reset.
    let st = body(s.put("sys/unseal", json!({"key": keys[0]})));
    assert_eq!(st["progress"], 1);
    assert_eq!(st["sealed"], true);
    let nonce = st["nonce"].as_str().unwrap().to_owned();
    assert!(!nonce.is_empty());
    let st = body(s.put("sys/unseal", json!({"key": keys_b64[1]})));
    assert_eq!(st["progress"], 2);
    assert_eq!(st["nonce"], nonce.as_str());
    let st = body(s.put("sys/unseal", json!({"reset": true})));
    assert_eq!(st["progress"], 0);
    assert_eq!(s.put("sys/unseal", json!({})).status(), 400);
    assert_eq!(
        s.put("sys/unseal", json!({"key": "not-a-key!"})).status(),
        400
    );
    assert_eq!(s.get("sys/unseal").status(), 405);
    // The same share twice does not count twice (ignored, as Vault does).
    s.put("sys/unseal", json!({"key": keys[0]}));
    let dup = body(s.put("sys/unseal", json!({"key": keys[0]})));
    assert_eq!(dup["progress"], 1);
    s.put("sys/unseal", json!({"reset": true}));

    s.unseal(&keys[2..5]);
    s.token = Some(root.clone());
    let st = body(s.get("sys/seal-status"));
    assert_eq!(
        (st["sealed"].as_bool(), st["t"].as_u64(), st["n"].as_u64()),
        (Some(false), Some(3), Some(5))
    );
    assert!(st["cluster_id"].as_str().is_some_and(|c| !c.is_empty()));
    let h = s.get("sys/health");
    assert_eq!(h.status(), 200);
    let h = body(h);
    assert_eq!(
        (
            h["initialized"].as_bool(),
            h["sealed"].as_bool(),
            h["standby"].as_bool()
        ),
        (Some(true), Some(false), Some(false))
    );
    assert_eq!(s.get("sys/health?activecode=204").status(), 204);
    assert_eq!(s.get("sys/health?activecode=abc").status(), 400);
    assert_eq!(s.post("sys/health", json!({})).status(), 405);
    let leader = body(s.get("sys/leader"));
    assert_eq!(leader["ha_enabled"], true);
    assert_eq!(leader["is_self"], true);
    assert_eq!(leader["leader_address"], s.addr.as_str());
    assert!(
        leader["raft_committed_index"]
            .as_u64()
            .is_some_and(|i| i > 0)
    );

    // Data written now must survive seal, restart and kill -9.
    assert_eq!(
        s.post(
            "sys/mounts/kv",
            json!({"type": "kv", "options": {"version": "2"}})
        )
        .status(),
        204
    );
    assert_eq!(
        s.post("kv/data/app", json!({"data": {"password": "hunter2"}}))
            .status(),
        200
    );

    // Seal needs a token with sudo.
    let anon = s.http.put(s.url("sys/seal")).send().unwrap();
    assert_eq!(anon.status(), 403);
    assert_eq!(body(anon)["errors"][0], "permission denied");
    assert_eq!(s.put("sys/seal", json!({})).status(), 204);
    assert_eq!(s.get("kv/data/app").status(), 503);
    s.unseal(&keys[0..3]);
    assert_eq!(
        body(s.get("kv/data/app"))["data"]["data"]["password"],
        "hunter2"
    );

    // Restart: comes back sealed; unsealing brings the data back.
    s.restart();
    assert_eq!(body(s.get("sys/seal-status"))["sealed"], true);
    s.unseal(&keys_b64[1..4]);
    assert_eq!(
        body(s.get("kv/data/app"))["data"]["data"]["password"],
        "hunter2"
    );

    // kill -9 right after an acknowledged write.
    assert_eq!(
        s.post("kv/data/app", json!({"data": {"password": "v2"}}))
            .status(),
        200
    );
    s.restart_after_kill();
    s.unseal(&keys[2..5]);
    let v = body(s.get("kv/data/app"));
    assert_eq!(v["data"]["data"]["password"], "v2");
    assert_eq!(v["data"]["metadata"]["version"], 2);
}

#[test]
fn wrong_keys_do_not_unseal() {
    let s = Server::start();
    let mut other = Server::start();
    let init = body(s.put(
        "sys/init",
        json!({"secret_shares": 3, "secret_threshold": 2}),
    ));
    let foreign = other.init_unseal(3, 2);
    let mine = process::strings(&init["keys"]);
    // Two shares of another cluster's key combine into the wrong key: refused, still sealed.
    s.put("sys/unseal", json!({"key": foreign.keys[0]}));
    let r = s.put("sys/unseal", json!({"key": foreign.keys[1]}));
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    assert_eq!(body(s.get("sys/seal-status"))["sealed"], true);
    // Progress was reset; the right shares still work.
    s.unseal(&mine[0..2]);
    other.token = None;
}
