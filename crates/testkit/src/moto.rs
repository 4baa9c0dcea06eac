//! One moto_server process on a free loopback port, killed on drop: KMS over its JSON API,
//! and EC2 instances (for auto-join discovery) over the Query API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ports::free_port;

/// A running moto_server.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

/// A blocking client for moto's APIs, made per call: a blocking client must not be created
/// or dropped on an async runtime's thread, and async tests use [`Moto::start`] too.
fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap()
}

/// `.tools/venv/bin/moto_server` of the workspace (installed by `scripts/ci-deps.sh`), or
/// `TRESOR_MOTO_SERVER`.
fn moto_path() -> PathBuf {
    let path = std::env::var_os("TRESOR_MOTO_SERVER").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.tools/venv/bin/moto_server"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "moto_server not found at {}: run `bash scripts/ci-deps.sh` (or set TRESOR_MOTO_SERVER)",
        path.display()
    );
    path
}

impl Moto {
    /// Starts moto_server and waits until it accepts connections (a few tries: the free port
    /// may be taken by someone else before moto binds it).
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Like [`Moto::start`], with extra environment for the moto process (for example
    /// `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let path = moto_path();
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn moto_server");
            let mut moto = Moto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            if moto.wait_ready(Duration::from_secs(90)) {
                return moto;
            }
        }
        panic!("moto_server did not start");
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills the server and reaps it (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// moto's own address (the proxies forward here).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL of moto itself.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One KMS JSON API call (moto does not check the signature; the credential scope in the
    /// Authorization header selects the region).
    pub fn kms(&self, action: &str, body: Value) -> Value {
        let r = http()
            .post(self.endpoint())
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", format!("TrentService.{action}"))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status();
        let text = r.text().unwrap();
        assert!(status.is_success(), "KMS {action}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// One EC2 Query API call (moto does not check the signature; the credential scope in
    /// the Authorization header selects the service and region). Returns the XML body.
    pub fn ec2(&self, params: &[(&str, &str)]) -> String {
        let mut form = params.to_vec();
        form.push(("Version", "2016-11-15"));
        let r = http()
            .post(self.endpoint())
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .unwrap();
        let status = r.status();
        let text = r.text().unwrap();
        assert!(status.is_success(), "EC2 {params:?}: {status} {text}");
        text
    }

    /// Launches one instance with primary private address `private_ip` (moto takes any
    /// address, loopback ones too, so discovered nodes are reachable from the test) tagged
    /// `tag_key=tag_value`. Returns its instance id; asserts moto kept the address.
    pub fn run_instance(&self, private_ip: &str, tag_key: &str, tag_value: &str) -> String {
        let xml = self.ec2(&[
            ("Action", "RunInstances"),
            // An AMI moto ships with.
            ("ImageId", "ami-12c6146b"),
            ("InstanceType", "t3.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("PrivateIpAddress", private_ip),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", tag_key),
            ("TagSpecification.1.Tag.1.Value", tag_value),
        ]);
        assert!(
            xml.contains(&format!(
                "<privateIpAddress>{private_ip}</privateIpAddress>"
            )),
            "moto did not keep the private address {private_ip}: {xml}"
        );
        element(&xml, "instanceId").unwrap_or_else(|| panic!("no instanceId in {xml}"))
    }

    /// Stops an instance (discovery lists only running ones).
    pub fn stop_instance(&self, id: &str) {
        let xml = self.ec2(&[("Action", "StopInstances"), ("InstanceId.1", id)]);
        assert_eq!(element(&xml, "instanceId").as_deref(), Some(id), "{xml}");
    }

    /// Creates a symmetric key; returns its key id.
    pub fn create_key(&self) -> String {
        let v = self.kms("CreateKey", json!({"Description": "tresor test"}));
        v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }
}

/// The text of the first `<name>` element of `xml`.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find('<')?;
    Some(xml[start..start + len].to_owned())
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A `seal "awskms"` stanza for `kms_key_id` reached at `endpoint`, with static dummy
/// credentials (the default credential chain is never consulted) in us-east-1.
pub fn stanza(endpoint: &str, kms_key_id: &str, disabled: bool) -> String {
    format!(
        "seal \"awskms\" {{\n  region = \"us-east-1\"\n  kms_key_id = \"{kms_key_id}\"\n  \
         endpoint = \"{endpoint}\"\n  access_key = \"test\"\n  secret_key = \"test\"\n  \
         disabled = \"{disabled}\"\n}}\n"
    )
}
