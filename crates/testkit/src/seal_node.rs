//! `tresor server` nodes for the seal tests: the config carries `seal` stanzas, and the
//! process gets `SOFTHSM2_CONF` (and any [`SealNode::env`]) in its environment. A node listens
//! on 127.0.0.1 by default, or on any loopback address with an optional TLS listener
//! ([`SealNode::at`]). Waits poll with deadlines; dropping a node kills its process.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::process::{bin, free_port, strings};

/// A blocking client with `timeout`, ignoring proxies.
pub fn client(timeout: Duration) -> Client {
    client_for(None, timeout)
}

/// A TLS API listener: certificate and key files, and the PEM clients trust it with.
#[derive(Clone)]
pub struct ListenerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The PEM the test's clients (and joining nodes, as `leader_ca_cert_file`) trust.
    pub ca_pem: String,
}

impl ListenerTls {
    /// A self-signed certificate whose subject alternative names are `sans` (IP addresses
    /// become IP SANs), written to `dir`; it is its own trust anchor.
    pub fn self_signed(dir: &Path, sans: &[&str]) -> ListenerTls {
        let cert = rcgen::generate_simple_self_signed(
            sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
        ListenerTls {
            cert_file,
            key_file,
            ca_pem: cert.cert.pem(),
        }
    }

    /// The certificate file, which is also the CA file of this self-signed pair.
    pub fn ca_file(&self) -> &Path {
        &self.cert_file
    }
}

/// A blocking client with `timeout` that trusts `tls` (if any) and ignores proxies.
pub fn client_for(tls: Option<&ListenerTls>, timeout: Duration) -> Client {
    let mut b = Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .no_proxy();
    if let Some(t) = tls {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(t.ca_pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// One `tresor server` process with a seal configuration.
pub struct SealNode {
    pub dir: tempfile::TempDir,
    pub name: String,
    /// The loopback address both listeners bind.
    pub host: String,
    pub port: u16,
    pub cluster_port: u16,
    /// The API address (`http://host:port`, or `https://` with TLS); also its `api_addr`.
    pub addr: String,
    /// SOFTHSM2_CONF for the process.
    pub softhsm_conf: Option<PathBuf>,
    /// Extra environment for the process (applied at every spawn).
    pub env: Vec<(String, String)>,
    tls: Option<ListenerTls>,
    config: PathBuf,
    child: Option<Child>,
    pub http: Client,
}

impl SealNode {
    /// A node named `name` on two free 127.0.0.1 ports, plain HTTP (nothing started yet).
    pub fn new(name: &str, softhsm_conf: Option<&Path>) -> SealNode {
        let mut node = SealNode::at(name, "127.0.0.1", free_port(), None);
        node.softhsm_conf = softhsm_conf.map(Path::to_path_buf);
        node
    }

    /// A node named `name` whose API listens on `host:port` (TLS when `tls` is given) and
    /// whose cluster listener takes a free port on the same address (nothing started yet).
    pub fn at(name: &str, host: &str, port: u16, tls: Option<ListenerTls>) -> SealNode {
        let dir = tempfile::tempdir().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        SealNode {
            config: dir.path().join("server.hcl"),
            dir,
            name: name.to_owned(),
            host: host.to_owned(),
            port,
            cluster_port: free_port_on(&[host]),
            addr: format!("{scheme}://{host}:{port}"),
            softhsm_conf: None,
            env: Vec::new(),
            http: client_for(tls.as_ref(), Duration::from_secs(30)),
            tls,
            child: None,
        }
    }

    /// A client for this node's API with `timeout`.
    pub fn client(&self, timeout: Duration) -> Client {
        client_for(self.tls.as_ref(), timeout)
    }

    /// (Re)writes the config: Raft storage (with `retry_join` to `join` if given), the API
    /// listener, and `seal` (the seal stanzas, may be empty).
    pub fn configure(&self, seal: &str, join: Option<&str>) {
        let retry = join
            .map(|j| format!("leader_api_addr = \"{j}\""))
            .unwrap_or_default();
        self.configure_join(seal, &retry);
    }

    /// (Re)writes the config with one `retry_join` block holding `retry_join` (HCL attributes,
    /// e.g. an `auto_join` query), or none when it is empty.
    pub fn configure_join(&self, seal: &str, retry_join: &str) {
        let data = self.dir.path().join("data");
        let retry = if retry_join.trim().is_empty() {
            String::new()
        } else {
            format!("  retry_join {{\n    {}\n  }}\n", retry_join.trim())
        };
        let (host, port, cport, name, addr) = (
            &self.host,
            self.port,
            self.cluster_port,
            &self.name,
            &self.addr,
        );
        let tls = match &self.tls {
            Some(t) => format!(
                "tls_cert_file   = \"{}\"\n  tls_key_file    = \"{}\"",
                t.cert_file.display(),
                t.key_file.display()
            ),
            None => "tls_disable     = true".to_owned(),
        };
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
  address         = "{host}:{port}"
  cluster_address = "{host}:{cport}"
  {tls}
}}
api_addr      = "{addr}"
cluster_addr  = "https://{host}:{cport}"
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
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(cmd.spawn().expect("spawn tresor server"));
        let url = self.url("sys/seal-status");
        let probe = self.client(Duration::from_secs(2));
        crate::process::wait_answering(
            &self.name,
            Duration::from_secs(30),
            &mut self.child,
            self.dir.path(),
            || probe.get(&url).send().is_ok(),
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
        self.client(Duration::from_secs(2))
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

    /// Writes the test's marker data (an ACL policy) through this node. A 503 whose error
    /// says the request was not processed (see [`not_processed`]) is retried for up to
    /// [`WRITE_RETRY`]; any other failure fails the test at once.
    pub fn write_marker(&self, token: &str, marker: &str) {
        let path = format!("sys/policies/acl/{marker}");
        let body =
            json!({"policy": format!("path \"secret/{marker}\" {{ capabilities = [\"read\"] }}")});
        let deadline = std::time::Instant::now() + WRITE_RETRY;
        loop {
            let r = self.send("PUT", &path, Some(token), Some(body.clone()));
            let status = r.status().as_u16();
            if r.status().is_success() {
                return;
            }
            let text = r.text().unwrap_or_default();
            assert!(
                not_processed(status, &text) && std::time::Instant::now() < deadline,
                "{}: write {marker}: {status} {text}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
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

/// How long [`SealNode::write_marker`] retries a write that was not processed.
pub const WRITE_RETRY: Duration = Duration::from_secs(30);

/// Whether an answer is a retriable 503 for a request the server did not process: the active
/// node could not confirm its leadership before processing ("… the request was not
/// processed, retry"), or a standby knew no active node to forward to ("… no active node is
/// known, retry"). Only these are retried: any other 503 (a storage error after a write was
/// proposed, say) may hide a write that happened. (The marker write is also idempotent, the
/// same policy body each time, so even an ambiguous retry could not change the outcome; the
/// check stays strict so that the helper is safe to copy for writes that are not.)
pub fn not_processed(status: u16, body: &str) -> bool {
    status == 503
        && (body.contains("the request was not processed")
            || body.contains("no active node is known"))
}

/// A port free on every address of `hosts` (loopback addresses), so that nodes on several
/// addresses can share one API port (as `auto_join_port` requires).
pub fn free_port_on(hosts: &[&str]) -> u16 {
    crate::ports::free_port_on(hosts)
}

pub use crate::process::tail;
