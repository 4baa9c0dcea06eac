//! A moto_server (local AWS) per test, and a KMS admin client for it.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use tresor_config::SealStanza;
use tresor_seal_awskms::AwsKmsSeal;

/// A running moto_server, killed on drop.
pub(crate) struct Moto {
    child: Child,
    addr: SocketAddr,
}

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
        "moto_server not found at {}: run `bash scripts/ci-deps.sh` to install it \
         (or set TRESOR_MOTO_SERVER)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    tresor_testkit::ports::free_port()
}

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it accepts connections.
    pub(crate) fn start() -> Moto {
        let path = moto_path();
        // A port picked by binding :0 may be taken again before moto binds it; retry a few.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
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
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The endpoint URL.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server and reaps it.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A KMS client with dummy static credentials, for creating keys and aliases.
    pub(crate) fn admin(&self) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// A stanza for `kms_key_id` pointing at this server with dummy credentials.
    pub(crate) fn stanza(&self, kms_key_id: &str) -> SealStanza {
        let mut s = SealStanza::new("awskms");
        for (k, v) in [
            ("region", "us-east-1"),
            ("kms_key_id", kms_key_id),
            ("endpoint", self.endpoint().as_str()),
            ("access_key", "test"),
            ("secret_key", "test"),
        ] {
            s.params.insert(k.to_owned(), v.to_owned());
        }
        s
    }

    /// A seal for `kms_key_id` on this server; the process environment is not consulted.
    pub(crate) async fn seal(&self, kms_key_id: &str) -> AwsKmsSeal {
        AwsKmsSeal::from_stanza_with_env(&self.stanza(kms_key_id), &|_| None)
            .await
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates a symmetric KMS key and returns (key id, key ARN).
pub(crate) async fn create_key(admin: &aws_sdk_kms::Client) -> (String, String) {
    let out = admin.create_key().send().await.unwrap();
    let meta = out.key_metadata().unwrap();
    (meta.key_id().to_owned(), meta.arn().unwrap().to_owned())
}
