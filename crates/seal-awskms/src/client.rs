//! Building the KMS client from the settings, and turning SDK errors into [`AwsKmsError`].

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::{AwsKmsError, AwsKmsSettings};

/// Longest wait for a TCP + TLS connection to KMS.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a single KMS call may take, retries included: an outage is reported within this.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts per KMS call (the first one included).
pub const MAX_ATTEMPTS: u32 = 3;

/// The name static credentials are reported under by the SDK.
const STATIC_PROVIDER: &str = "tresor-seal-awskms-config";

/// A KMS client for `settings`: rustls on *ring*, bounded timeouts and retries, the region and
/// endpoint from the settings, and static credentials when given, else the default chain.
pub(crate) async fn build(settings: &AwsKmsSettings) -> aws_sdk_kms::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(settings.region.clone()))
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(creds) = &settings.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            creds.access_key_id.as_str(),
            creds.secret_access_key.as_str(),
            creds.session_token.as_ref().map(|t| t.as_str().to_owned()),
            None,
            STATIC_PROVIDER,
        ));
    }
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint.as_str());
    }
    aws_sdk_kms::Client::new(&loader.load().await)
}

/// Classifies a failed KMS call. Transport failures, timeouts and unparseable responses are
/// outages; error responses are classified by code and status.
pub(crate) fn classify<E>(err: SdkError<E>) -> AwsKmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code();
            let reason = format!(
                "{}: {}",
                code.unwrap_or("error"),
                service.err().message().unwrap_or("no message")
            );
            AwsKmsError::from_service(code, service.raw().status().as_u16(), reason)
        }
        _ => AwsKmsError::Unavailable(DisplayErrorContext(&err).to_string()),
    }
}
