//! KV v1 and v2 through Vault's HTTP API: envelope, status codes, CAS, versions, lists,
//! request size limit.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
use serde_json::json;

#[test]
fn kv_v2_over_http() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv-v2"}))
            .status(),
        204
    );
    let mounts = body(s.get("sys/mounts"));
    assert_eq!(mounts["data"]["secret/"]["type"], "kv");
    assert_eq!(mounts["data"]["secret/"]["options"]["version"], "2");

    let w = body(s.post(
        "secret/data/team/db",
        json!({"data": {"user": "a", "pass": "b"}}),
    ));
    assert_eq!(w["data"]["version"], 1);
    assert!(w["request_id"].as_str().is_some());
    let w = s.post(
        "secret/data/team/db",
        json!({"data": {"user": "a2"}, "options": {"cas": 0}}),
    );
    assert_eq!(w.status(), 400, "cas 0 on an existing key must fail");
    assert!(
        body(w)["errors"][0]
            .as_str()
            .unwrap()
            .contains("check-and-set")
    );
    assert_eq!(
        s.post(
            "secret/data/team/db",
            json!({"data": {"user": "a2"}, "options": {"cas": 1}})
        )
        .status(),
        200
    );

    let r = body(s.get("secret/data/team/db"));
    assert_eq!(r["data"]["data"]["user"], "a2");
    assert_eq!(r["data"]["metadata"]["version"], 2);
    assert_eq!(
        body(s.get("secret/data/team/db?version=1"))["data"]["data"]["pass"],
        "b"
    );

    // PATCH (merge patch) needs the merge-patch content type in Vault's CLI; the API takes JSON.
    let p = s
        .req("PATCH", "secret/data/team/db")
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"data": {"extra": "x"}}).to_string())
        .send()
        .unwrap();
    assert_eq!(p.status(), 200);
    let r = body(s.get("secret/data/team/db"));
    assert_eq!(
        (
            r["data"]["data"]["user"].as_str(),
            r["data"]["data"]["extra"].as_str()
        ),
        (Some("a2"), Some("x"))
    );

    // List with LIST and with ?list=true.
    assert_eq!(
        body(s.list("secret/metadata/team"))["data"]["keys"],
        json!(["db"])
    );
    assert_eq!(
        body(s.get("secret/metadata/?list=true"))["data"]["keys"],
        json!(["team/"])
    );

    // Soft delete → 404 with metadata; undelete; destroy.
    assert_eq!(s.delete("secret/data/team/db").status(), 204);
    let gone = s.get("secret/data/team/db");
    assert_eq!(gone.status(), 404);
    let gone = body(gone);
    assert!(gone["data"]["data"].is_null());
    assert!(
        !gone["data"]["metadata"]["deletion_time"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.post("secret/undelete/team/db", json!({"versions": [3]}))
            .status(),
        204
    );
    assert_eq!(s.get("secret/data/team/db").status(), 200);
    assert_eq!(
        s.put("secret/destroy/team/db", json!({"versions": [1]}))
            .status(),
        204
    );
    let meta = body(s.get("secret/metadata/team/db"));
    assert_eq!(meta["data"]["versions"]["1"]["destroyed"], true);
    assert_eq!(meta["data"]["current_version"], 3);

    // Missing key: 404 with an empty errors list.
    let missing = s.get("secret/data/nope");
    assert_eq!(missing.status(), 404);
    assert_eq!(body(missing), json!({"errors": []}));

    // Unknown mount: 404; bad JSON: 400; oversized body: 413.
    assert_eq!(s.get("nomount/x").status(), 404);
    let bad = s
        .req("POST", "secret/data/x")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    let big = "x".repeat(2 * 1024 * 1024);
    let too_big = s.post("secret/data/big", json!({"data": {"v": big}}));
    assert_eq!(too_big.status(), 413);
    assert!(body(too_big)["errors"][0].as_str().is_some());

    // Token in Authorization: Bearer works too.
    let root = s.token.clone().unwrap();
    let bearer = s
        .http
        .get(s.url("secret/data/team/db"))
        .header("Authorization", format!("Bearer {root}"))
        .send()
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // No token: 403.
    let anon = s.http.get(s.url("secret/data/team/db")).send().unwrap();
    assert_eq!(anon.status(), 403);
}

#[test]
fn kv_v1_and_mount_management() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    assert_eq!(
        s.post(
            "sys/mounts/kv1",
            json!({"type": "kv", "options": {"version": "1"}})
        )
        .status(),
        204
    );
    assert_eq!(
        s.post("sys/mounts/kv1", json!({"type": "kv"})).status(),
        400,
        "path in use"
    );
    assert_eq!(
        s.post("sys/mounts/sys", json!({"type": "kv"})).status(),
        400,
        "reserved"
    );
    assert_eq!(s.put("kv1/app/config", json!({"a": "1"})).status(), 204);
    let r = body(s.get("kv1/app/config"));
    assert_eq!(r["data"]["a"], "1");
    assert_eq!(r["lease_duration"], 2764800);
    assert_eq!(body(s.list("kv1/app"))["data"]["keys"], json!(["config"]));

    let tune = body(s.get("sys/mounts/kv1/tune"));
    assert_eq!(tune["data"]["default_lease_ttl"], 2764800);
    assert_eq!(
        s.post(
            "sys/mounts/kv1/tune",
            json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"})
        )
        .status(),
        204
    );
    let tune = body(s.get("sys/mounts/kv1/tune"));
    assert_eq!(
        (
            tune["data"]["default_lease_ttl"].as_u64(),
            tune["data"]["max_lease_ttl"].as_u64()
        ),
        (Some(3600), Some(7200))
    );
    assert_eq!(body(s.get("kv1/app/config"))["lease_duration"], 3600);

    // Remount keeps the data.
    assert_eq!(
        s.post("sys/remount", json!({"from": "kv1", "to": "moved"}))
            .status(),
        200
    );
    assert_eq!(body(s.get("moved/app/config"))["data"]["a"], "1");
    assert_eq!(s.get("kv1/app/config").status(), 404);

    // Disable removes the data: a new mount at the same path is empty.
    assert_eq!(s.delete("sys/mounts/moved").status(), 204);
    assert_eq!(
        s.post("sys/mounts/moved", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(s.get("moved/app/config").status(), 404);

    // The CLI's mount probe.
    let ui = body(s.get("sys/internal/ui/mounts/moved/app"));
    assert_eq!(ui["data"]["path"], "moved/");
    assert_eq!(ui["data"]["type"], "kv");

    // Wrong method on a raw endpoint.
    assert_eq!(s.get("sys/seal").status(), 405);
}
