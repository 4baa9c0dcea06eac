//! One moto_server process on a free loopback port, killed on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::free_port;

/// A running moto_server.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
    http: reqwest::blocking::Client,
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
        let path = moto_path();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .unwrap();
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn moto_server");
            let mut moto = Moto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                http: http.clone(),
            };
            if moto.wait_ready(Duration::from_secs(60)) {
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
        let r = self
            .http
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

    /// Creates a symmetric key; returns its key id.
    pub fn create_key(&self) -> String {
        let v = self.kms("CreateKey", json!({"Description": "tresor test"}));
        v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
