//! Cloud auto-join: finds the nodes to join from a go-discover style query, as written in
//! `storage "raft" { retry_join { auto_join = "provider=aws region=... tag_key=... tag_value=..." } }`.
//!
//! Only `provider=aws` is implemented: EC2 `DescribeInstances` over the Query API (SigV4 signed,
//! no `aws-sdk-ec2`), filtered to running instances carrying the tag, following `NextToken`.
//! Credentials come from `access_key_id`/`secret_access_key` in the query or, by default, from
//! the AWS default chain (environment, profile, web identity, instance metadata).
//!
//! ```no_run
//! # async fn f() -> Result<(), tresor_discover::DiscoverError> {
//! let addrs = tresor_discover::discover("provider=aws region=us-east-1 tag_key=role tag_value=tresor").await?;
//! let leaders = tresor_discover::join_urls(&addrs, None, None); // https://ip:8200
//! # Ok(()) }
//! ```

mod aws_spec;
mod ec2_query;
mod ec2_xml;
mod error;
mod join_urls;
mod pages;
mod spec;

use std::net::IpAddr;
use std::time::Duration;

pub use aws_spec::{AWS_KEYS, AddrType, AwsSpec, StaticCredentials};
pub use ec2_query::{
    CONNECT_TIMEOUT, CREDENTIALS_TIMEOUT, EC2_API_VERSION, ENV_EC2_ENDPOINT, Ec2Client,
    REQUEST_TIMEOUT,
};
pub use error::DiscoverError;
pub use join_urls::{DEFAULT_PORT, DEFAULT_SCHEME, join_urls};
pub use spec::{DiscoverSpec, SUPPORTED_PROVIDERS};

/// Looks up an environment variable (the process environment, or a stand-in in tests).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Send + Sync);

/// Longest one whole discovery (credentials and every page) may take.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings for [`discover_with`].
#[derive(Clone, Copy)]
pub struct DiscoverOptions<'a> {
    /// Where environment variables (`AWS_REGION`, [`ENV_EC2_ENDPOINT`]) are read; the AWS
    /// default credential chain always reads the process environment.
    pub env: EnvLookup<'a>,
    /// Instances asked for per page (`MaxResults`, 5..=1000); the provider's default when unset.
    pub page_size: Option<u32>,
}

impl std::fmt::Debug for DiscoverOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoverOptions")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Default for DiscoverOptions<'_> {
    fn default() -> Self {
        DiscoverOptions {
            env: &process_env,
            page_size: None,
        }
    }
}

/// Checks a query without contacting anyone (for validating config at startup).
pub fn validate(spec: &str) -> Result<(), DiscoverError> {
    DiscoverSpec::parse(spec).map(|_| ())
}

/// The addresses of the peers `spec` describes, reading the process environment.
pub async fn discover(spec: &str) -> Result<Vec<IpAddr>, DiscoverError> {
    discover_with(spec, &DiscoverOptions::default()).await
}

/// The addresses of the peers `spec` describes, each once, in the provider's order; bounded by
/// [`DISCOVERY_TIMEOUT`].
pub async fn discover_with(
    spec: &str,
    options: &DiscoverOptions<'_>,
) -> Result<Vec<IpAddr>, DiscoverError> {
    let parsed = DiscoverSpec::parse(spec)?;
    match tokio::time::timeout(DISCOVERY_TIMEOUT, run(&parsed, options)).await {
        Ok(result) => result,
        Err(_) => Err(DiscoverError::Unavailable(format!(
            "{} discovery did not finish within {DISCOVERY_TIMEOUT:?}",
            parsed.provider()
        ))),
    }
}

async fn run(
    spec: &DiscoverSpec,
    options: &DiscoverOptions<'_>,
) -> Result<Vec<IpAddr>, DiscoverError> {
    match spec {
        DiscoverSpec::Aws(aws) => {
            if !aws.ignored_keys.is_empty() {
                tracing::warn!(keys = ?aws.ignored_keys, "auto_join: ignoring keys the aws provider does not know");
            }
            let client = Ec2Client::new(aws, options.env).await?;
            let addrs = pages::collect_pages(|token| {
                let client = &client;
                async move {
                    client
                        .describe_instances(aws, token.as_deref(), options.page_size)
                        .await
                }
            })
            .await?;
            tracing::debug!(
                tag_key = %aws.tag_key,
                tag_value = %aws.tag_value,
                found = %ec2_query::describe(&addrs),
                "auto_join: aws discovery"
            );
            Ok(addrs)
        }
    }
}
