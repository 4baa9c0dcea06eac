//! A Tresor dev server per test, as the transit server, killed on drop; and helpers to set up
//! its transit engine, keys, policies and tokens over its HTTP API.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tresor_config::SealStanza;
use tresor_seal_transit::TransitSeal;

/// The dev server's root token.
pub const ROOT: &str = "root";

/// The `tresor` binary: `TRESOR_BIN`, else the workspace's debug build.
fn binary() -> PathBuf {
    let path = std::env::var_os("TRESOR_BIN").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/debug/tresor"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the tresor binary is not at {}: run `cargo build -p tresor` first (scripts/test.sh \
         does), or set TRESOR_BIN",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    tresor_testkit::ports::free_port()
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `tresor server -dev` on a loopback port.
pub struct DevServer {
    child: Option<Child>,
    /// The server's `TMPDIR`, so that its data directory goes when the test ends (it is
    /// killed, and leaves the directory behind).
    _tmp: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    http: reqwest::Client,
}

impl DevServer {
    /// Starts a dev server with root token [`ROOT`] and waits until it serves requests.
    pub async fn start() -> DevServer {
        let binary = binary();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        // A port picked by binding :0 may be taken again before the server binds it; retry.
        for _ in 0..5 {
            let port = free_port();
            let tmp = tempfile::tempdir().unwrap();
            let child = Command::new(&binary)
                .args([
                    "server",
                    "-dev",
                    &format!("-dev-root-token-id={ROOT}"),
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                ])
                .env("TMPDIR", tmp.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut server = DevServer {
                child: Some(child),
                _tmp: tmp,
                address: format!("http://127.0.0.1:{port}"),
                http: http.clone(),
            };
            if server.wait_ready(Duration::from_secs(60)).await {
                return server;
            }
        }
        panic!("the tresor dev server did not start");
    }

    async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                return false;
            }
            let url = format!("{}/v1/sys/health", self.address);
            if let Ok(r) = self.http.get(&url).send().await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Kills the server and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// One API call; the status and the JSON body (`Null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    /// A root POST that must succeed.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self
            .call(reqwest::Method::POST, path, ROOT, Some(body))
            .await;
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {value}"
        );
        value
    }

    /// Mounts the transit engine at `transit/`.
    pub async fn enable_transit(&self) {
        self.post("sys/mounts/transit", json!({"type": "transit"}))
            .await;
    }

    /// Creates transit key `name`.
    pub async fn create_key(&self, name: &str) {
        self.post(&format!("transit/keys/{name}"), json!({})).await;
    }

    /// Rotates transit key `name`.
    pub async fn rotate_key(&self, name: &str) {
        self.post(&format!("transit/keys/{name}/rotate"), json!({}))
            .await;
    }

    /// Writes an ACL policy.
    pub async fn write_policy(&self, name: &str, hcl: &str) {
        let (status, value) = self
            .call(
                reqwest::Method::PUT,
                &format!("sys/policies/acl/{name}"),
                ROOT,
                Some(json!({ "policy": hcl })),
            )
            .await;
        assert!(
            (200..300).contains(&status),
            "policy {name}: {status} {value}"
        );
    }

    /// A new token with `policies` (plus `default`) and `ttl`; its id.
    pub async fn create_token(&self, policies: &[&str], ttl: &str) -> String {
        let out = self
            .post(
                "auth/token/create",
                json!({ "policies": policies, "ttl": ttl }),
            )
            .await;
        out["auth"]["client_token"].as_str().unwrap().to_owned()
    }

    /// The token's remaining TTL in seconds, or `None` if it is no longer valid.
    pub async fn token_ttl(&self, token: &str) -> Option<u64> {
        let (status, value) = self
            .call(reqwest::Method::GET, "auth/token/lookup-self", token, None)
            .await;
        (status == 200).then(|| value["data"]["ttl"].as_u64().unwrap())
    }

    /// A transit seal for key `key_name` of this server.
    pub async fn seal(&self, key_name: &str, token: &str, disable_renewal: bool) -> TransitSeal {
        let mut stanza = SealStanza::new("transit");
        for (k, v) in [
            ("address", self.address.as_str()),
            ("token", token),
            ("key_name", key_name),
            ("mount_path", "transit/"),
            (
                "disable_renewal",
                if disable_renewal { "true" } else { "false" },
            ),
        ] {
            stanza.params.insert(k.to_owned(), v.to_owned());
        }
        TransitSeal::from_stanza_with_env(&stanza, &|_| None)
            .await
            .unwrap()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.kill();
    }
}
