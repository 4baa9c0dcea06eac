//! The EC2 Query API over HTTPS, signed with SigV4: endpoint and region resolution, form
//! encoding, request signing and answer classification. The request-building parts are pure.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::Url;

use crate::aws_spec::{AwsSpec, StaticCredentials};
use crate::ec2_xml::{InstancesPage, parse_describe_instances, parse_error};
use crate::{DiscoverError, EnvLookup};

/// EC2 Query API version spoken.
pub const EC2_API_VERSION: &str = "2016-11-15";
/// Environment variables naming an EC2 endpoint, in order of precedence (after `endpoint=`).
pub const ENV_EC2_ENDPOINT: &[&str] = &["AWS_ENDPOINT_URL_EC2", "AWS_EC2_ENDPOINT"];
/// Environment variables naming the region, in order of precedence (after `region=`).
const ENV_REGION: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];
/// Longest wait for a TCP (+ TLS) connection to EC2.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest one EC2 call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the AWS default credential chain may take (instance metadata can hang).
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest EC2 answer read.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Name static credentials are reported under.
const STATIC_PROVIDER: &str = "tresor-discover-auto-join";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// A signed EC2 Query API client for one endpoint, region and set of credentials.
pub struct Ec2Client {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    credentials: Credentials,
}

impl std::fmt::Debug for Ec2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Ec2Client {
    /// A client for `spec`: region from the query, else `env` (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION`), else the AWS default region chain; endpoint from the query, else
    /// `env` ([`ENV_EC2_ENDPOINT`]), else the regional one; static credentials from the query,
    /// else the AWS default credential chain.
    pub async fn new(spec: &AwsSpec, env: EnvLookup<'_>) -> Result<Ec2Client, DiscoverError> {
        let region = spec.region.clone().or_else(|| first_env(env, ENV_REGION));
        let needs_sdk = region.is_none() || spec.credentials.is_none();
        let sdk = if needs_sdk {
            Some(load_sdk_config(region.as_deref()).await)
        } else {
            None
        };
        let region = match region {
            Some(r) => r,
            None => sdk
                .as_ref()
                .and_then(|c| c.region())
                .map(|r| r.as_ref().to_owned())
                .ok_or_else(|| {
                    DiscoverError::spec(
                        "no region: set region= in auto_join, or AWS_REGION, or run on EC2",
                    )
                })?,
        };
        let credentials = match (&spec.credentials, &sdk) {
            (Some(c), _) => static_credentials(c),
            (None, Some(sdk)) => chain_credentials(sdk).await?,
            (None, None) => {
                return Err(DiscoverError::Credentials("no credential source".into()));
            }
        };
        let endpoint_env = first_env(env, ENV_EC2_ENDPOINT);
        let endpoint = resolve_endpoint(
            spec.endpoint.as_deref().or(endpoint_env.as_deref()),
            &region,
        )?;
        Self::with_credentials(endpoint, region, credentials)
    }

    /// A client with everything given.
    pub fn with_credentials(
        endpoint: Url,
        region: String,
        credentials: Credentials,
    ) -> Result<Ec2Client, DiscoverError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| DiscoverError::Unavailable(format!("http client: {}", chain(&e))))?;
        Ok(Ec2Client {
            http,
            endpoint,
            region,
            credentials,
        })
    }

    /// The endpoint calls go to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Calls the Query API with `params` (which must include `Action`; `Version` is added when
    /// absent) and returns the XML body of a successful answer.
    pub async fn call(&self, params: &[(&str, &str)]) -> Result<String, DiscoverError> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if !all.iter().any(|(k, _)| *k == "Version") {
            all.push(("Version", EC2_API_VERSION));
        }
        let body = form_encode(&all);
        let identity = self.credentials.clone().into();
        let signing_params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| DiscoverError::Credentials(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            [("content-type", FORM)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| DiscoverError::Credentials(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &signing_params)
            .map_err(|e| DiscoverError::Credentials(format!("signing: {e}")))?
            .into_parts();
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, FORM);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let unavailable = |e: reqwest::Error| {
            DiscoverError::Unavailable(format!("ec2 at {}: {}", self.endpoint, chain(&e)))
        };
        let mut response = request.body(body).send().await.map_err(unavailable)?;
        let status = response.status();
        let mut raw = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if raw.len() + chunk.len() > MAX_BODY {
                return Err(DiscoverError::malformed(format!(
                    "answer larger than {MAX_BODY} bytes"
                )));
            }
            raw.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        if status.is_success() {
            return Ok(text);
        }
        let (code, message) = parse_error(&text).unwrap_or_else(|| {
            let snippet: String = text.chars().take(200).collect();
            ("unknown".to_owned(), snippet)
        });
        Err(DiscoverError::Api {
            service: "ec2",
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// One `DescribeInstances` page for `spec`.
    pub(crate) async fn describe_instances(
        &self,
        spec: &AwsSpec,
        next_token: Option<&str>,
        page_size: Option<u32>,
    ) -> Result<InstancesPage, DiscoverError> {
        let params = describe_instances_params(spec, next_token, page_size);
        let borrowed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let xml = self.call(&borrowed).await?;
        parse_describe_instances(&xml, spec.addr_type)
    }
}

/// Addresses found, for logs.
pub(crate) fn describe(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_env(env: EnvLookup<'_>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
        .map(|v| v.trim().to_owned())
}

async fn load_sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}

fn static_credentials(c: &StaticCredentials) -> Credentials {
    Credentials::new(
        c.access_key_id.as_str(),
        c.secret_access_key.as_str(),
        c.session_token.as_ref().map(|t| t.as_str().to_owned()),
        None,
        STATIC_PROVIDER,
    )
}

async fn chain_credentials(sdk: &aws_config::SdkConfig) -> Result<Credentials, DiscoverError> {
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| DiscoverError::Credentials("no credential provider configured".into()))?;
    match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DiscoverError::Credentials(chain(&e))),
        Err(_) => Err(DiscoverError::Credentials(format!(
            "the default credential chain did not answer within {CREDENTIALS_TIMEOUT:?}"
        ))),
    }
}

/// The endpoint URL: `given` (a URL, or a bare host taken as `https://host`), else the
/// regional EC2 endpoint.
pub(crate) fn resolve_endpoint(given: Option<&str>, region: &str) -> Result<Url, DiscoverError> {
    let text = match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) if e.contains("://") => e.to_owned(),
        Some(host) => format!("https://{host}"),
        None => {
            if region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(DiscoverError::spec(format!(
                    "region {region:?} is not valid"
                )));
            }
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://ec2.{region}.{suffix}/")
        }
    };
    let url =
        Url::parse(&text).map_err(|e| DiscoverError::spec(format!("endpoint {text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(DiscoverError::spec(format!(
            "endpoint {text:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(url)
}

/// The `DescribeInstances` parameters for `spec`: instances tagged `tag_key=tag_value` that
/// are running.
pub(crate) fn describe_instances_params(
    spec: &AwsSpec,
    next_token: Option<&str>,
    page_size: Option<u32>,
) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("Action", "DescribeInstances".to_owned()),
        ("Version", EC2_API_VERSION.to_owned()),
        ("Filter.1.Name", format!("tag:{}", spec.tag_key)),
        ("Filter.1.Value.1", spec.tag_value.clone()),
        ("Filter.2.Name", "instance-state-name".to_owned()),
        ("Filter.2.Value.1", "running".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(n) = page_size {
        // EC2 accepts 5..=1000 with filters.
        p.push(("MaxResults".to_owned(), n.clamp(5, 1000).to_string()));
    }
    if let Some(t) = next_token {
        p.push(("NextToken".to_owned(), t.to_owned()));
    }
    p
}

/// `application/x-www-form-urlencoded` with RFC 3986 escaping (what SigV4 expects).
pub(crate) fn form_encode(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error with its sources, for messages.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiscoverSpec;

    fn spec(s: &str) -> AwsSpec {
        match DiscoverSpec::parse(s).unwrap() {
            DiscoverSpec::Aws(a) => a,
        }
    }

    #[test]
    fn form_encoding_escapes_everything_but_unreserved() {
        assert_eq!(
            form_encode(&[("Filter.1.Name", "tag:Name"), ("v", "a b/c+d~é")]),
            "Filter.1.Name=tag%3AName&v=a%20b%2Fc%2Bd~%C3%A9"
        );
        assert_eq!(form_encode(&[]), "");
    }

    #[test]
    fn describe_params_filter_by_tag_and_running_state() {
        let s = spec("provider=aws tag_key=\"cluster name\" tag_value=prod");
        let p = describe_instances_params(&s, None, None);
        let get = |k: &str| p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("DescribeInstances"));
        assert_eq!(get("Version"), Some(EC2_API_VERSION));
        assert_eq!(get("Filter.1.Name"), Some("tag:cluster name"));
        assert_eq!(get("Filter.1.Value.1"), Some("prod"));
        assert_eq!(get("Filter.2.Name"), Some("instance-state-name"));
        assert_eq!(get("Filter.2.Value.1"), Some("running"));
        assert_eq!(get("NextToken"), None);
        assert_eq!(get("MaxResults"), None);

        let p = describe_instances_params(&s, Some("tok"), Some(1));
        let get = |k: &str| p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NextToken"), Some("tok"));
        assert_eq!(get("MaxResults"), Some("5"));
    }

    #[test]
    fn endpoints_resolve() {
        assert_eq!(
            resolve_endpoint(None, "eu-central-1").unwrap().as_str(),
            "https://ec2.eu-central-1.amazonaws.com/"
        );
        assert_eq!(
            resolve_endpoint(None, "cn-north-1").unwrap().as_str(),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            resolve_endpoint(Some("http://127.0.0.1:5000"), "us-east-1")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            resolve_endpoint(Some("vpce-1.ec2.us-east-1.vpce.amazonaws.com"), "x")
                .unwrap()
                .as_str(),
            "https://vpce-1.ec2.us-east-1.vpce.amazonaws.com/"
        );
        assert!(resolve_endpoint(Some("ftp://host"), "us-east-1").is_err());
        assert!(resolve_endpoint(None, "us east").is_err());
        assert!(resolve_endpoint(None, "").is_err());
    }

    #[test]
    fn env_lookup_takes_the_first_non_empty_name() {
        let env = |k: &str| match k {
            "AWS_ENDPOINT_URL_EC2" => Some("  ".to_owned()),
            "AWS_EC2_ENDPOINT" => Some(" http://x:1 ".to_owned()),
            _ => None,
        };
        assert_eq!(
            first_env(&env, ENV_EC2_ENDPOINT).as_deref(),
            Some("http://x:1")
        );
        assert_eq!(first_env(&env, ENV_REGION), None);
    }

    #[tokio::test]
    async fn client_from_static_spec_uses_env_endpoint_and_region() {
        let s = spec("provider=aws tag_key=a tag_value=b access_key_id=AK secret_access_key=SK");
        let env = |k: &str| match k {
            "AWS_REGION" => Some("ap-south-1".to_owned()),
            "AWS_EC2_ENDPOINT" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        };
        let c = Ec2Client::new(&s, &env).await.unwrap();
        assert_eq!(c.region(), "ap-south-1");
        assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:9/");
        assert!(!format!("{c:?}").contains("SK"));
        // The query's own settings win over the environment.
        let s = spec(
            "provider=aws tag_key=a tag_value=b access_key_id=AK secret_access_key=SK \
             region=us-west-2 endpoint=http://127.0.0.1:10",
        );
        let c = Ec2Client::new(&s, &env).await.unwrap();
        assert_eq!(c.region(), "us-west-2");
        assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:10/");
    }
}
