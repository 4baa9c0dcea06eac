//! A moto_server (local AWS, from `tresor-testkit`) per test, and a KMS admin client for it.

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use tresor_config::SealStanza;
use tresor_seal_awskms::AwsKmsSeal;

/// A running moto_server, killed on drop.
pub(crate) struct Moto(tresor_testkit::moto::Moto);

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it accepts connections.
    pub(crate) fn start() -> Moto {
        Moto(tresor_testkit::moto::Moto::start())
    }

    /// The endpoint URL.
    pub(crate) fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// Kills the server and reaps it.
    pub(crate) fn stop(&mut self) {
        self.0.stop();
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

/// Creates a symmetric KMS key and returns (key id, key ARN).
pub(crate) async fn create_key(admin: &aws_sdk_kms::Client) -> (String, String) {
    let out = admin.create_key().send().await.unwrap();
    let meta = out.key_metadata().unwrap();
    (meta.key_id().to_owned(), meta.arn().unwrap().to_owned())
}
