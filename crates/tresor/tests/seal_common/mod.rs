//! Harness for the auto-unseal and seal-migration process tests: SoftHSM2 tokens in a temp
//! directory, and `tresor server` nodes whose config carries `seal` stanzas and whose process
//! gets `SOFTHSM2_CONF` in its environment. Waits poll with deadlines; dropping a node kills
//! its process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::common::{bin, free_port, strings, wait_for};

/// The user PIN of every test token.
pub const PIN: &str = "1234";
const SO_PIN: &str = "5678";

/// The SoftHSM2 module (override with TRESOR_SOFTHSM_LIB).
pub fn softhsm_lib() -> String {
    let lib = std::env::var("TRESOR_SOFTHSM_LIB")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    assert!(
        Path::new(&lib).is_file(),
        "SoftHSM2 not found at {lib}: run `bash scripts/ci-deps.sh` (softhsm2)"
    );
    lib
}

/// A private SoftHSM2 configuration with its own token directory.
pub struct Hsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub token_dir: PathBuf,
}

impl Hsm {
    /// A fresh token directory with one initialized token per label.
    pub fn new(labels: &[&str]) -> Hsm {
        softhsm_lib();
        let dir = tempfile::tempdir().unwrap();
        let token_dir = dir.path().join("tokens");
        std::fs::create_dir(&token_dir).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                token_dir.display()
            ),
        )
        .unwrap();
        let hsm = Hsm {
            dir,
            conf,
            token_dir,
        };
        for label in labels {
            hsm.init_token(label);
        }
        hsm
    }

    /// `softhsm2-util --init-token --free --label <label>`.
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run softhsm2-util (install softhsm2)");
        assert!(
            out.status.success(),
            "softhsm2-util: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Moves every key object out of the token directory: a node started now finds its token
    /// but not its key (the HSM cannot unwrap). SoftHSM2 sees token objects added or removed by
    /// other processes, but not new tokens, so this is the outage it can recover from.
    pub fn take_keys_away(&self) {
        let away = self.dir.path().join("keys.away");
        std::fs::create_dir_all(&away).unwrap();
        for token in std::fs::read_dir(&self.token_dir).unwrap() {
            let token = token.unwrap().path();
            let name = token.file_name().unwrap().to_owned();
            let target = away.join(&name);
            std::fs::create_dir_all(&target).unwrap();
            for f in std::fs::read_dir(&token).unwrap() {
                let f = f.unwrap().path();
                let file = f.file_name().unwrap().to_string_lossy().into_owned();
                if !file.starts_with("token.") {
                    std::fs::rename(&f, target.join(&file)).unwrap();
                }
            }
        }
    }

    /// Puts the key objects back.
    pub fn bring_keys_back(&self) {
        let away = self.dir.path().join("keys.away");
        for token in std::fs::read_dir(&away).unwrap() {
            let token = token.unwrap().path();
            let target = self.token_dir.join(token.file_name().unwrap());
            for f in std::fs::read_dir(&token).unwrap() {
                let f = f.unwrap().path();
                std::fs::rename(&f, target.join(f.file_name().unwrap())).unwrap();
            }
        }
    }

    /// A `seal "pkcs11"` stanza for token `token` and key `key_label`, generating the key if
    /// it is missing.
    pub fn stanza(&self, token: &str, key_label: &str, disabled: bool) -> String {
        self.stanza_with(token, key_label, disabled, true)
    }

    /// A `seal "pkcs11"` stanza for token `token` and key `key_label`, with `generate_key`.
    pub fn stanza_with(
        &self,
        token: &str,
        key_label: &str,
        disabled: bool,
        generate: bool,
    ) -> String {
        format!(
            "seal \"pkcs11\" {{\n  lib = \"{lib}\"\n  token_label = \"{token}\"\n  pin = \"{PIN}\"\n  \
             key_label = \"{key_label}\"\n  mechanism = \"0x1087\"\n  generate_key = \"{generate}\"\n  \
             disabled = \"{disabled}\"\n}}\n",
            lib = softhsm_lib()
        )
    }
}

/// A blocking client with `timeout`, ignoring proxies.
pub fn client(timeout: Duration) -> Client {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .unwrap()
}

/// One `tresor server` process with a seal configuration.
pub struct SealNode {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub port: u16,
    pub cluster_port: u16,
    pub addr: String,
    /// SOFTHSM2_CONF for the process.
    pub softhsm_conf: Option<PathBuf>,
    config: PathBuf,
    child: Option<Child>,
    pub http: Client,
}

impl SealNode {
    /// A node named `name` on two free loopback ports (nothing started yet).
    pub fn new(name: &str, softhsm_conf: Option<&Path>) -> SealNode {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        SealNode {
            config: dir.path().join("server.hcl"),
            dir,
            name: name.to_owned(),
            port,
            cluster_port: free_port(),
            addr: format!("http://127.0.0.1:{port}"),
            softhsm_conf: softhsm_conf.map(Path::to_path_buf),
            child: None,
            http: client(Duration::from_secs(30)),
        }
    }

    /// (Re)writes the config: Raft storage (with `retry_join` to `join` if given), a plain
    /// HTTP listener, and `seal` (the seal stanzas, may be empty).
    pub fn configure(&self, seal: &str, join: Option<&str>) {
        let data = self.dir.path().join("data");
        let retry = join
            .map(|j| format!("  retry_join {{\n    leader_api_addr = \"{j}\"\n  }}\n"))
            .unwrap_or_default();
        let (port, cport, name) = (self.port, self.cluster_port, &self.name);
        std::fs::write(
            &self.config,
            format!(
                r#"
storage "raft" {{
  path    = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
{retry}}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cport}"
  tls_disable     = true
}}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "https://127.0.0.1:{cport}"
disable_mlock = true
log_level     = "info"
{seal}
"#,
                data = data.display()
            ),
        )
        .unwrap();
    }

    /// Starts the process and waits until its API answers.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("server")
            .arg(format!("-config={}", self.config.display()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(conf) = &self.softhsm_conf {
            cmd.env("SOFTHSM2_CONF", conf);
        }
        self.child = Some(cmd.spawn().expect("spawn tresor server"));
        let url = self.url("sys/seal-status");
        let probe = client(Duration::from_secs(2));
        wait_for(
            &format!("{} to answer", self.name),
            Duration::from_secs(30),
            || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    panic!(
                        "{} exited early ({status}); log:\n{}",
                        self.name,
                        self.log()
                    );
                }
                probe.get(&url).send().ok().map(|_| ())
            },
        );
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGTERM (an orderly shutdown, as `systemctl stop` does) and wait for the exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()
                .ok();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.addr, path.trim_start_matches('/'))
    }

    /// A request with `token` (if any).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, self.url(path));
        if let Some(t) = token {
            rb = rb.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().unwrap()
    }

    /// `sys/health` status code (`None` when the node does not answer).
    pub fn health(&self) -> Option<u16> {
        client(Duration::from_secs(2))
            .get(self.url("sys/health"))
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    }

    pub fn seal_status(&self) -> Value {
        self.send("GET", "sys/seal-status", None, None)
            .json()
            .unwrap()
    }

    /// Polls until `sys/health` answers `code`, failing with the log after `timeout`.
    pub fn wait_health(&self, code: u16, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.health() == Some(code) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: health never answered {code} within {timeout:?}; log:\n{}",
                self.name,
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls until the node reports itself unsealed (active or standby).
    pub fn wait_unsealed(&self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if matches!(self.health(), Some(200 | 429 | 473)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: not unsealed within {timeout:?}; log:\n{}",
                self.name,
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `sys/init` with an auto seal: recovery 3/2. Returns (recovery keys, root token).
    pub fn init_recovery(&self) -> (Vec<String>, String) {
        let r = self.send(
            "PUT",
            "sys/init",
            None,
            Some(json!({"recovery_shares": 3, "recovery_threshold": 2})),
        );
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        assert_eq!(v["keys"], json!([]), "{v}");
        (
            strings(&v["recovery_keys"]),
            v["root_token"].as_str().unwrap().to_owned(),
        )
    }

    /// `sys/init` with Shamir 3/2. Returns (unseal keys, root token).
    pub fn init_shamir(&self) -> (Vec<String>, String) {
        let r = self.send(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 3, "secret_threshold": 2})),
        );
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        (
            strings(&v["keys"]),
            v["root_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Submits `keys` to `sys/unseal` (with `migrate` as given); returns the last answer.
    pub fn unseal(&self, keys: &[String], migrate: bool) -> Value {
        let mut last = Value::Null;
        for k in keys {
            let r = self.send(
                "PUT",
                "sys/unseal",
                None,
                Some(json!({"key": k, "migrate": migrate})),
            );
            let status = r.status();
            last = r.json().unwrap_or(Value::Null);
            assert_eq!(status, 200, "{}: unseal: {last}", self.name);
        }
        last
    }

    /// Writes the test's marker data (an ACL policy) through this node.
    pub fn write_marker(&self, token: &str, marker: &str) {
        let r = self.send(
            "PUT",
            &format!("sys/policies/acl/{marker}"),
            Some(token),
            Some(json!({"policy": format!("path \"secret/{marker}\" {{ capabilities = [\"read\"] }}")})),
        );
        assert!(r.status().is_success(), "write {marker}: {}", r.status());
    }

    /// Whether the marker written by [`SealNode::write_marker`] reads back through this node.
    pub fn has_marker(&self, token: &str, marker: &str) -> bool {
        let r = self.send(
            "GET",
            &format!("sys/policies/acl/{marker}"),
            Some(token),
            None,
        );
        r.status() == 200
            && r.text()
                .unwrap_or_default()
                .contains(&format!("secret/{marker}"))
    }
}

impl Drop for SealNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs generate-root on `node` with `keys` (recovery keys with an auto seal, unseal keys with
/// Shamir) and returns the new root token.
pub fn generate_root(node: &SealNode, keys: &[String]) -> String {
    let r = node.send("PUT", "sys/generate-root/attempt", None, Some(json!({})));
    let init: Value = r.json().unwrap();
    let otp = init["otp"].as_str().unwrap().to_owned();
    let nonce = init["nonce"].as_str().unwrap().to_owned();
    let mut last = Value::Null;
    for k in keys {
        let r = node.send(
            "PUT",
            "sys/generate-root/update",
            None,
            Some(json!({ "key": k, "nonce": nonce })),
        );
        assert_eq!(r.status(), 200);
        last = r.json().unwrap();
    }
    assert_eq!(last["complete"], true, "{last}");
    tresor_seal::root_token_decode(last["encoded_token"].as_str().unwrap(), &otp)
        .unwrap()
        .to_string()
}
