//! The server's own log (stderr, redirected to a file by the test kit): no ANSI colour codes
//! when it is not a terminal, one JSON object per line with `log_format = "json"`, and never a
//! token, unseal key or secret value, even at trace level.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
use serde_json::{Value, json};

/// A secret value no log line has any reason to hold.
const SECRET_VALUE: &str = "hunter2-c0rrect-h0rse-b4ttery-st4ple";
/// The name of the `log_file` in the server's directory, when one is configured.
const FILE_LOG: &str = "tresor-file.log";
/// A wrapped value.
const WRAPPED_VALUE: &str = "wr4pped-s3cret-p4yload-77";

/// A server at `log_level = "trace"` (the kit's config sets `warn`, and HCL refuses a second
/// `log_level`, so the config is edited and the server restarted with a fresh log). With
/// `to_file`, it also logs to `log_file` = [`FILE_LOG`] in the server's directory.
fn start_trace(extra: &str, to_file: bool) -> Server {
    let mut s = Server::start_with(extra);
    s.stop();
    let hcl = std::fs::read_to_string(&s.config).unwrap();
    let (before, after) = hcl.split_once("log_level").unwrap();
    let (_, rest) = after.split_once('\n').unwrap();
    let mut hcl = format!("{before}log_level = \"trace\"\n{rest}");
    if to_file {
        let file = s.dir.path().join(FILE_LOG);
        hcl.push_str(&format!("log_file = \"{}\"\n", file.display()));
    }
    std::fs::write(&s.config, hcl).unwrap();
    std::fs::remove_file(s.dir.path().join("server.log")).unwrap();
    s.restart();
    s
}

/// Runs a session through the API and returns the strings that must never reach the log.
fn exercise(s: &mut Server) -> Vec<(String, String)> {
    let init = s.init_unseal(3, 2);
    let mut secrets: Vec<(String, String)> = vec![("root token".into(), init.root_token.clone())];
    for k in &init.keys {
        secrets.push(("unseal key (hex)".into(), k.clone()));
    }
    for k in &init.keys_base64 {
        secrets.push(("unseal key (base64)".into(), k.clone()));
    }

    let created = body(s.post("auth/token/create", json!({"policies": ["default"]})));
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    secrets.push(("created token".into(), token.clone()));
    // Looking a token up by body, and using it for a request it may not make.
    assert_eq!(
        s.post("auth/token/lookup", json!({ "token": token }))
            .status(),
        200
    );
    let denied = s
        .http
        .get(s.url("sys/mounts"))
        .header("X-Vault-Token", &token)
        .send()
        .unwrap();
    assert_eq!(denied.status(), 403);
    let bogus = "hvs.NotARealTokenButStillNotForTheLog0123";
    secrets.push(("presented bogus token".into(), bogus.into()));
    let r = s
        .http
        .get(s.url("sys/mounts"))
        .header("X-Vault-Token", bogus)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv-v2"}))
            .status(),
        204
    );
    secrets.push(("kv value".into(), SECRET_VALUE.into()));
    let w = s.post(
        "secret/data/app/db",
        json!({"data": {"password": SECRET_VALUE}}),
    );
    assert_eq!(w.status(), 200);
    let r = body(s.get("secret/data/app/db"));
    assert_eq!(r["data"]["data"]["password"], SECRET_VALUE);

    secrets.push(("wrapped value".into(), WRAPPED_VALUE.into()));
    let wrapped = s
        .req("POST", "sys/wrapping/wrap")
        .header("X-Vault-Wrap-TTL", "5m")
        .json(&json!({ "v": WRAPPED_VALUE }))
        .send()
        .unwrap();
    assert_eq!(wrapped.status(), 200);
    let wtoken = body(wrapped)["wrap_info"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(("wrapping token".into(), wtoken.clone()));
    let un = body(s.post("sys/wrapping/unwrap", json!({ "token": wtoken })));
    assert_eq!(un["data"]["v"], WRAPPED_VALUE);

    // Seal and unseal again: the key path once more.
    assert_eq!(s.put("sys/seal", json!({})).status(), 204);
    s.unseal(&init.keys_base64[1..3]);
    secrets
}

/// Stops the server (so every line is flushed) and checks its log: its stderr, or its
/// `log_file` when `to_file`.
fn check_log(
    s: &mut Server,
    secrets: &[(String, String)],
    json_lines: bool,
    to_file: bool,
) -> String {
    s.stop();
    let log = if to_file {
        let stderr = s.log();
        for (what, value) in secrets {
            assert!(!stderr.contains(value.as_str()), "the {what} is on stderr");
        }
        std::fs::read_to_string(s.dir.path().join(FILE_LOG)).unwrap()
    } else {
        s.log()
    };
    assert!(
        log.lines().count() > 5,
        "a trace-level log should not be nearly empty:\n{log}"
    );
    assert!(
        !log.contains("\x1b["),
        "ANSI escape codes in a log that is not a terminal:\n{}",
        process::tail(&log, 20)
    );
    for (what, value) in secrets {
        if let Some(line) = log.lines().find(|l| l.contains(value.as_str())) {
            panic!("the {what} appears in the server log: {line}");
        }
    }
    if json_lines {
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(v.get("level").is_some(), "no level in {line}");
        }
    }
    log
}

#[test]
fn standard_trace_log_is_plain_and_holds_no_secret() {
    let mut s = start_trace("", false);
    let secrets = exercise(&mut s);
    let log = check_log(&mut s, &secrets, false, false);
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "log_level = trace was not honoured:\n{}",
        process::tail(&log, 20)
    );
}

#[test]
fn json_trace_log_is_one_object_per_line_and_holds_no_secret() {
    let mut s = start_trace("log_format = \"json\"\n", false);
    let secrets = exercise(&mut s);
    check_log(&mut s, &secrets, true, false);
}

#[test]
fn log_file_standard_and_json_are_plain_and_hold_no_secret() {
    let mut s = start_trace("", true);
    let secrets = exercise(&mut s);
    let log = check_log(&mut s, &secrets, false, true);
    assert!(
        log.contains("DEBUG"),
        "log_level = trace not honoured in log_file"
    );

    let mut s = start_trace("log_format = \"json\"\n", true);
    let secrets = exercise(&mut s);
    check_log(&mut s, &secrets, true, true);
}
