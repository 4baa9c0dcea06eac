//! `status` and `operator ...` against a fake server.

use crate::common;

use common::{FakeEnv, FakeServer, cli, envelope};
use serde_json::{Value, json};

fn seal_status(sealed: bool) -> Value {
    json!({"type":"shamir","initialized":true,"sealed":sealed,"t":3,"n":5,"progress":if sealed {1} else {0},
        "nonce":"","version":"0.1.0","build_date":"2024-01-01","migration":false,"recovery_seal":false,
        "storage_type":"raft"})
}

async fn server(sealed: bool) -> FakeServer {
    FakeServer::start(move |s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/v1/sys/seal-status") => (200, Some(seal_status(sealed))),
        ("GET", "/v1/sys/leader") => (200, Some(json!({"ha_enabled":true,"is_self":true,
            "active_time":"2024-01-01T00:00:00Z","leader_address":"http://n1:8200",
            "leader_cluster_address":"https://n1:8201","raft_committed_index":9,"raft_applied_index":9}))),
        ("PUT", "/v1/sys/init") => (200, Some(json!({"keys":["aa","bb","cc"],
            "keys_base64":["qg==","uw==","zA=="],"root_token":"s.root"}))),
        ("GET", "/v1/sys/init") => (200, Some(json!({"initialized": false}))),
        ("PUT", "/v1/sys/unseal") => (200, Some(seal_status(true))),
        ("GET", "/v1/sys/key-status") => (200, Some(json!({"term":2,"install_time":"2024-01-02T00:00:00Z",
            "encryptions":7,"data":{"term":2,"install_time":"2024-01-02T00:00:00Z","encryptions":7}}))),
        ("GET", "/v1/sys/storage/raft/configuration") => (200, Some(envelope(json!({"config":{"index":5,"servers":[
            {"node_id":"node1","address":"10.0.0.1:8201","leader":true,"protocol_version":"3","voter":true},
            {"node_id":"node2","address":"10.0.0.2:8201","leader":false,"protocol_version":"3","voter":false}]}})))),
        ("POST", "/v1/sys/storage/raft/join") => (200, Some(json!({"joined": true}))),
        ("GET", "/v1/sys/storage/raft/autopilot/configuration") => (200, Some(envelope(json!({
            "cleanup_dead_servers":false,"last_contact_threshold":"10s","dead_server_last_contact_threshold":"24h0m0s",
            "max_trailing_logs":1000,"min_quorum":0,"server_stabilization_time":"10s"})))),
        ("GET", "/v1/sys/generate-root/attempt") => (200, Some(json!({"started":true,"nonce":"gr-nonce",
            "progress":0,"required":3,"complete":false,"encoded_token":"","otp":"","otp_length":28}))),
        ("PUT", "/v1/sys/generate-root/update") => (200, Some(json!({"started":true,"nonce":"gr-nonce",
            "progress":1,"required":3,"complete":false,"encoded_token":""}))),
        ("PUT", "/v1/sys/rekey/update") => (200, Some(json!({"complete":true,"nonce":"rk",
            "keys":["aa","bb"],"keys_base64":["qg==","uw=="],"verification_required":false}))),
        ("GET", "/v1/sys/rekey/init") => (200, Some(json!({"started":true,"nonce":"rk","t":2,"n":2,
            "progress":0,"required":3,"verification_required":false}))),
        ("PUT", "/v1/sys/rekey/init") => (200, Some(json!({"started":true,"nonce":"rk","t":2,"n":3,
            "progress":0,"required":3,"verification_required":true}))),
        _ => (204, None),
    })
    .await
}

#[tokio::test]
async fn status_exit_codes_and_table() {
    let srv = server(false).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["status"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.starts_with("Key "), "{}", o.out);
    assert!(o.out.contains("Sealed                  false"), "{}", o.out);
    assert!(
        o.out.contains("HA Mode                 active"),
        "{}",
        o.out
    );
    let o = cli(&env, &["status", "-format=json"]).await;
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(
        (v["sealed"].clone(), v["ha_enabled"].clone()),
        (json!(false), json!(true))
    );

    let srv = server(true).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["status"]).await;
    assert_eq!(o.code, 2);
    assert!(o.out.contains("Unseal Progress"));
    assert!(srv.seen().iter().all(|s| s.path != "/v1/sys/leader"));

    let env = FakeEnv::new("http://127.0.0.1:1");
    let o = cli(&env, &["status"]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.err
            .starts_with("Error checking seal status: GET http://127.0.0.1:1/v1/sys/seal-status"),
        "{}",
        o.err
    );
}

#[tokio::test]
async fn init_json_and_table() {
    let srv = server(true).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(
        &env,
        &[
            "operator",
            "init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let init = srv
        .seen()
        .into_iter()
        .find(|s| s.path == "/v1/sys/init")
        .unwrap();
    assert_eq!(
        init.body,
        Some(json!({"secret_shares": 3, "secret_threshold": 2}))
    );
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["unseal_keys_b64"], json!(["qg==", "uw==", "zA=="]));
    assert_eq!(v["unseal_keys_hex"], json!(["aa", "bb", "cc"]));
    assert_eq!(
        (v["unseal_shares"].clone(), v["unseal_threshold"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(v["root_token"], "s.root");
    for k in [
        "recovery_keys_b64",
        "recovery_keys_hex",
        "recovery_keys_shares",
        "recovery_keys_threshold",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let o = cli(&env, &["operator", "init"]).await;
    assert!(
        o.out
            .contains("Unseal Key 1: qg==\nUnseal Key 2: uw==\nUnseal Key 3: zA==\n")
    );
    assert!(o.out.contains("Initial Root Token: s.root"));
    let last_init = srv
        .seen()
        .into_iter()
        .rfind(|s| s.path == "/v1/sys/init")
        .unwrap();
    assert_eq!(
        last_init.body,
        Some(json!({"secret_shares": 5, "secret_threshold": 3}))
    );
    let o = cli(&env, &["operator", "init", "-status"]).await;
    assert_eq!(o.code, 2);
}

#[tokio::test]
async fn unseal_from_arg_stdin_and_reset() {
    let srv = server(true).await;
    let env = FakeEnv::new(&srv.addr).stdin("key-from-stdin\n");
    let o = cli(&env, &["operator", "unseal", "abc="]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.last().body, Some(json!({"key": "abc="})));
    assert!(o.out.contains("Unseal Progress    1/3"), "{}", o.out);
    cli(&env, &["operator", "unseal"]).await;
    assert_eq!(srv.last().body, Some(json!({"key": "key-from-stdin"})));
    cli(&env, &["operator", "unseal", "-reset"]).await;
    assert_eq!(srv.last().body, Some(json!({"reset": true})));
}

#[tokio::test]
async fn seal_step_down_rotate_key_status() {
    let srv = server(false).await;
    let env = FakeEnv::new(&srv.addr).with("VAULT_TOKEN", "root");
    let o = cli(&env, &["operator", "seal"]).await;
    assert_eq!((o.code, o.out.as_str()), (0, "Success! Vault is sealed.\n"));
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("PUT", "/v1/sys/seal")
    );
    assert_eq!(srv.last().token.as_deref(), Some("root"));
    let o = cli(&env, &["operator", "step-down"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(srv.last().path, "/v1/sys/step-down");
    let o = cli(&env, &["operator", "rotate"]).await;
    assert_eq!(o.code, 0);
    assert!(
        srv.seen()
            .iter()
            .any(|s| s.method == "PUT" && s.path == "/v1/sys/rotate")
    );
    assert!(o.out.contains("Key Term            2"), "{}", o.out);
    let o = cli(&env, &["operator", "key-status", "-field=encryptions"]).await;
    assert_eq!(o.out, "7");
}

#[tokio::test]
async fn raft_commands() {
    let srv = server(false).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["operator", "raft", "list-peers"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "Node     Address          State       Voter\n\
         ----     -------          -----       -----\n\
         node1    10.0.0.1:8201    leader      true\n\
         node2    10.0.0.2:8201    follower    false\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let o = cli(
        &env,
        &[
            "operator",
            "raft",
            "join",
            &format!("-leader-ca-cert=@{}", ca.display()),
            "-non-voter",
            "https://n1:8200",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let b = srv.last().body.unwrap();
    assert_eq!(b["leader_api_addr"], "https://n1:8200");
    assert!(
        b["leader_ca_cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(b["non_voter"], true);
    assert!(o.out.contains("Joined    true"), "{}", o.out);
    let o = cli(&env, &["operator", "raft", "remove-peer", "node2"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(srv.last().path, "/v1/sys/storage/raft/remove-peer");
    assert_eq!(srv.last().body, Some(json!({"server_id": "node2"})));
    let o = cli(&env, &["operator", "raft", "autopilot", "get-config"]).await;
    assert!(o.out.contains("Max Trailing Logs"), "{}", o.out);
    let o = cli(
        &env,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-min-quorum=3",
            "-cleanup-dead-servers",
            "-last-contact-threshold=1m",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        srv.last().body,
        Some(json!({"min_quorum": 3, "cleanup_dead_servers": true,
        "last_contact_threshold": "1m0s"}))
    );
}

#[tokio::test]
async fn generate_root_and_rekey() {
    let srv = server(false).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["operator", "generate-root", "-generate-otp"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(o.out.trim().len(), 28);
    let o = cli(&env, &["operator", "generate-root", "-init", "-otp=abc"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(
        (srv.last().method.as_str(), srv.last().body.clone()),
        ("PUT", Some(json!({"otp": "abc"})))
    );
    let o = cli(&env, &["operator", "generate-root", "key1"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        srv.last().body,
        Some(json!({"key": "key1", "nonce": "gr-nonce"}))
    );
    assert!(o.out.contains("Progress    1/3"), "{}", o.out);
    cli(&env, &["operator", "generate-root", "-cancel"]).await;
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/sys/generate-root/attempt")
    );
    // Local decode: token XOR otp, base64 without padding.
    let o = cli(
        &env,
        &["operator", "generate-root", "-decode=AAAA", "-otp=abc"],
    )
    .await;
    assert_eq!((o.code, o.out.as_str()), (0, "abc\n"));
    assert_eq!(
        cli(&env, &["operator", "generate-root", "-decode=AAAA"])
            .await
            .code,
        2
    );

    let o = cli(
        &env,
        &[
            "operator",
            "rekey",
            "-init",
            "-key-shares=3",
            "-key-threshold=2",
            "-verify",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        srv.last().body,
        Some(json!({"secret_shares": 3, "secret_threshold": 2,
        "require_verification": true, "backup": false}))
    );
    let o = cli(&env, &["operator", "rekey", "-nonce=rk", "oldkey"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        srv.last().body,
        Some(json!({"key": "oldkey", "nonce": "rk"}))
    );
    assert!(o.out.starts_with("Key 1: qg==\nKey 2: uw==\n"), "{}", o.out);
    cli(&env, &["operator", "rekey", "-cancel"]).await;
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/sys/rekey/init")
    );
}
