//! Keyring rotation, generate-root (OTP) and rekey (with verification) over HTTP.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use base64::Engine as _;
use process::{Server, body};
use serde_json::json;

fn decode_root(encoded: &str, otp: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .unwrap();
    assert_eq!(raw.len(), otp.len());
    String::from_utf8(raw.iter().zip(otp.bytes()).map(|(a, b)| a ^ b).collect()).unwrap()
}

#[test]
fn rotate_generate_root_and_rekey() {
    let mut s = Server::start();
    let init = s.init_unseal(5, 3);
    s.post("sys/mounts/secret", json!({"type": "kv-v2"}));
    s.post("secret/data/x", json!({"data": {"v": "before"}}));

    // Rotation adds a term; old data stays readable.
    let before = body(s.get("sys/key-status"))["data"]["term"]
        .as_u64()
        .unwrap();
    assert_eq!(s.post("sys/rotate", json!({})).status(), 204);
    let after = body(s.get("sys/key-status"))["data"]["term"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 1);
    assert_eq!(body(s.get("secret/data/x"))["data"]["data"]["v"], "before");

    // Generate-root with a client OTP (28 chars).
    let otp = "abcdefghijklmnopqrstuvwxyz01";
    assert_eq!(body(s.get("sys/generate-root/attempt"))["started"], false);
    assert_eq!(
        s.put("sys/generate-root/attempt", json!({"otp": "short"}))
            .status(),
        400
    );
    let start = body(s.put("sys/generate-root/attempt", json!({"otp": otp})));
    let nonce = start["nonce"].as_str().unwrap().to_owned();
    assert_eq!(
        s.put("sys/generate-root/attempt", json!({"otp": otp}))
            .status(),
        400,
        "already in progress"
    );
    assert_eq!(
        s.put(
            "sys/generate-root/update",
            json!({"key": init.keys[0], "nonce": "wrong"})
        )
        .status(),
        400
    );
    let mut last = serde_json::Value::Null;
    for k in &init.keys[0..3] {
        last = body(s.put(
            "sys/generate-root/update",
            json!({"key": k, "nonce": nonce}),
        ));
    }
    assert_eq!(last["complete"], true);
    let new_root = decode_root(last["encoded_root_token"].as_str().unwrap(), otp);
    assert!(new_root.starts_with("hvs."), "{new_root}");
    let look = s
        .http
        .get(s.url("auth/token/lookup-self"))
        .header("X-Vault-Token", &new_root)
        .send()
        .unwrap();
    assert_eq!(body(look)["data"]["policies"], json!(["root"]));
    // Server-generated OTP, then cancel.
    let generated = body(s.put("sys/generate-root/attempt", json!({})));
    assert_eq!(generated["otp"].as_str().unwrap().len(), 28);
    assert_eq!(s.delete("sys/generate-root/attempt").status(), 204);
    assert_eq!(body(s.get("sys/generate-root/attempt"))["started"], false);

    // Rekey to 3 shares / threshold 2 with verification.
    let st = body(s.put(
        "sys/rekey/init",
        json!({"secret_shares": 3, "secret_threshold": 2, "require_verification": true}),
    ));
    let nonce = st["nonce"].as_str().unwrap().to_owned();
    assert_eq!(st["t"], 2);
    let mut done = serde_json::Value::Null;
    for k in &init.keys[0..3] {
        done = body(s.put("sys/rekey/update", json!({"key": k, "nonce": nonce})));
    }
    assert_eq!(done["complete"], true);
    let new_keys = process::strings(&done["keys"]);
    assert_eq!(new_keys.len(), 3);
    let v1 = body(s.get("sys/rekey/verify"))["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let v2 = body(s.delete("sys/rekey/verify"))["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(v1, v2, "cancelling verification issues a new nonce");
    let mut vdone = serde_json::Value::Null;
    for k in &new_keys[0..2] {
        vdone = body(s.put("sys/rekey/verify", json!({"key": k, "nonce": v2})));
    }
    assert_eq!(vdone["complete"], true);
    assert_eq!(s.get("sys/rekey/backup").status(), 400);

    // The old keys no longer unseal; the new ones do, after a restart.
    s.restart();
    let st = body(s.get("sys/seal-status"));
    assert_eq!((st["t"].as_u64(), st["n"].as_u64()), (Some(2), Some(3)));
    s.put("sys/unseal", json!({"key": init.keys[0]}));
    assert_eq!(
        s.put("sys/unseal", json!({"key": init.keys[1]})).status(),
        400
    );
    s.unseal(&new_keys[1..3]);
    assert_eq!(body(s.get("secret/data/x"))["data"]["data"]["v"], "before");
}
