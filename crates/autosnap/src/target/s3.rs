//! Snapshots in an S3 bucket through the official AWS SDK. A snapshot is streamed: a small
//! one goes up in one `PutObject`, a large one as a multipart upload of bounded parts (the
//! whole snapshot is never held in memory); a failed multipart upload is aborted, so no
//! object appears.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::Destination;
use crate::config::{AutoSnapshotConfig, S3Settings};
use crate::error::AutoSnapError;
use crate::source::SnapshotSource;

/// Size of one multipart part (S3's minimum is 5 MiB for all but the last): also the most
/// snapshot bytes held in memory at once.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// The buffer between the snapshot writer and the uploader.
const PIPE_SIZE: usize = 256 * 1024;
/// The name static credentials are reported under by the SDK.
const STATIC_PROVIDER: &str = "tresor-autosnap-config";

/// An S3 bucket and key prefix holding one config's snapshots.
pub struct S3Bucket {
    client: aws_sdk_s3::Client,
    settings: S3Settings,
    /// `path_prefix` as a key prefix: no leading `/`, ends with `/` unless empty.
    key_prefix: String,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("bucket", &self.settings.bucket)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// `path_prefix` as an S3 key prefix (`/a/b` and `a/b/` both give `a/b/`; `/` gives none).
pub fn key_prefix(path_prefix: &str) -> String {
    let trimmed = path_prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

fn endpoint_url(s: &S3Settings) -> Option<String> {
    if s.endpoint.is_empty() {
        None
    } else if s.endpoint.contains("://") {
        Some(s.endpoint.clone())
    } else if s.disable_tls {
        Some(format!("http://{}", s.endpoint))
    } else {
        Some(format!("https://{}", s.endpoint))
    }
}

fn s3_err<E>(what: &str, e: aws_sdk_s3::error::SdkError<E>) -> AutoSnapError
where
    E: std::error::Error + Send + Sync + 'static,
{
    AutoSnapError::Destination(format!("s3 {what}: {}", DisplayErrorContext(&e)))
}

impl S3Bucket {
    /// A client for `cfg`'s bucket: its region and endpoint, static credentials when the
    /// config has them, else the AWS default credential chain (environment, profile, instance
    /// role); rustls on *ring*; bounded timeouts and retries.
    pub async fn new(cfg: &AutoSnapshotConfig) -> Result<S3Bucket, AutoSnapError> {
        let settings = cfg
            .s3
            .clone()
            .ok_or_else(|| AutoSnapError::Destination("aws-s3 config without settings".into()))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(300))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if !settings.access_key_id.is_empty() {
            loader = loader.credentials_provider(Credentials::new(
                settings.access_key_id.as_str(),
                settings.secret_access_key.as_str(),
                (!settings.session_token.is_empty()).then(|| settings.session_token.clone()),
                None,
                STATIC_PROVIDER,
            ));
        }
        if let Some(url) = endpoint_url(&settings) {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        Ok(S3Bucket {
            client: aws_sdk_s3::Client::from_conf(conf),
            key_prefix: key_prefix(&cfg.path_prefix),
            settings,
        })
    }

    fn key(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.key_prefix)
    }

    fn sse(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        if self.settings.enable_kms {
            let key = (!self.settings.kms_key.is_empty()).then(|| self.settings.kms_key.clone());
            (Some(ServerSideEncryption::AwsKms), key)
        } else if self.settings.server_side_encryption {
            (Some(ServerSideEncryption::Aes256), None)
        } else {
            (None, None)
        }
    }

    /// Reads the pipe into `PART_SIZE` chunks and uploads them; returns the bytes uploaded.
    /// `source_ok` tells, once the stream has ended, whether the source finished it
    /// successfully; only then is the object completed.
    async fn upload(
        &self,
        key: &str,
        mut input: impl AsyncRead + Unpin,
        mut source_ok: oneshot::Receiver<bool>,
    ) -> Result<u64, AutoSnapError> {
        let first = read_part(&mut input).await?;
        let (sse, kms_key) = self.sse();
        if first.len() < PART_SIZE {
            check_source(&mut source_ok).await?;
            let n = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.settings.bucket)
                .key(key)
                .set_server_side_encryption(sse)
                .set_ssekms_key_id(kms_key)
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| s3_err("put object", e))?;
            return Ok(n);
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.settings.bucket)
            .key(key)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .send()
            .await
            .map_err(|e| s3_err("create multipart upload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| AutoSnapError::Destination("s3: no upload id".into()))?
            .to_owned();
        let result = self
            .upload_parts(key, &upload_id, first, &mut input, &mut source_ok)
            .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.settings.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: Vec<u8>,
        input: &mut (impl AsyncRead + Unpin),
        source_ok: &mut oneshot::Receiver<bool>,
    ) -> Result<u64, AutoSnapError> {
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut chunk = first;
        let mut number = 1i32;
        loop {
            if chunk.is_empty() {
                break;
            }
            let last = chunk.len() < PART_SIZE;
            if last {
                check_source(source_ok).await?;
            }
            total += chunk.len() as u64;
            let out = self
                .client
                .upload_part()
                .bucket(&self.settings.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| s3_err("upload part", e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build(),
            );
            if last {
                break;
            }
            number += 1;
            chunk = read_part(input).await?;
        }
        if parts.len() as u64 * PART_SIZE as u64 == total {
            // The stream ended exactly on a part boundary: the end was not seen above.
            check_source(source_ok).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.settings.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_err("complete multipart upload", e))?;
        Ok(total)
    }
}

/// Waits for the source's verdict on the ended stream; a failed source fails the upload.
async fn check_source(source_ok: &mut oneshot::Receiver<bool>) -> Result<(), AutoSnapError> {
    match source_ok.await {
        Ok(true) => Ok(()),
        _ => Err(AutoSnapError::Source(
            "the snapshot stream ended early".into(),
        )),
    }
}

/// Reads up to `PART_SIZE` bytes (fewer only at the end of the stream).
async fn read_part(input: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, AutoSnapError> {
    let mut buf = Vec::with_capacity(PART_SIZE);
    let mut limited = input.take(PART_SIZE as u64);
    limited
        .read_to_end(&mut buf)
        .await
        .map_err(|e| AutoSnapError::Destination(format!("reading the snapshot stream: {e}")))?;
    Ok(buf)
}

#[async_trait]
impl Destination for S3Bucket {
    fn url(&self, file_name: &str) -> String {
        let key = self.key(file_name);
        match endpoint_url(&self.settings) {
            Some(ep) => format!(
                "{}/{}/{key}",
                ep.trim_end_matches('/'),
                self.settings.bucket
            ),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.settings.bucket, self.settings.region
            ),
        }
    }

    async fn save(
        &self,
        file_name: &str,
        source: &dyn SnapshotSource,
    ) -> Result<u64, AutoSnapError> {
        let key = self.key(file_name);
        let (mut writer, reader) = tokio::io::duplex(PIPE_SIZE);
        let (ok_tx, ok_rx) = oneshot::channel();
        let produce = async move {
            let r = source.write_snapshot(&mut writer).await;
            // The verdict first, then the end of the stream: the uploader completes the
            // object only after a successful source.
            let _ = ok_tx.send(r.is_ok());
            let _ = writer.shutdown().await;
            r
        };
        let consume = self.upload(&key, reader, ok_rx);
        let (produced, uploaded) = tokio::join!(produce, consume);
        match (produced, uploaded) {
            (Ok(_), Ok(n)) => Ok(n),
            (Err(e), _) => Err(AutoSnapError::Source(e.to_string())),
            (Ok(_), Err(e)) => Err(e),
        }
    }

    async fn discard(&self, file_name: &str) {
        // An abandoned multipart upload is invisible but still stored: abort it.
        let key = self.key(file_name);
        let Ok(out) = self
            .client
            .list_multipart_uploads()
            .bucket(&self.settings.bucket)
            .prefix(&key)
            .send()
            .await
        else {
            return;
        };
        for upload in out.uploads() {
            if let (Some(k), Some(id)) = (upload.key(), upload.upload_id())
                && k == key
            {
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.settings.bucket)
                    .key(k)
                    .upload_id(id)
                    .send()
                    .await;
            }
        }
    }

    async fn list(&self) -> Result<Vec<String>, AutoSnapError> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(&self.key_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_err("list objects", e))?;
            for obj in page.contents() {
                if let Some(rest) = obj.key().and_then(|k| k.strip_prefix(&self.key_prefix))
                    && !rest.contains('/')
                {
                    names.push(rest.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    async fn delete(&self, file_name: &str) -> Result<(), AutoSnapError> {
        self.client
            .delete_object()
            .bucket(&self.settings.bucket)
            .key(self.key(file_name))
            .send()
            .await
            .map_err(|e| s3_err("delete object", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefixes() {
        assert_eq!(key_prefix("/a/b"), "a/b/");
        assert_eq!(key_prefix("a/b/"), "a/b/");
        assert_eq!(key_prefix("/"), "");
        assert_eq!(key_prefix("snaps"), "snaps/");
    }

    #[test]
    fn endpoints() {
        let mut s = S3Settings {
            endpoint: "minio:9000".into(),
            ..S3Settings::default()
        };
        assert_eq!(endpoint_url(&s).as_deref(), Some("https://minio:9000"));
        s.disable_tls = true;
        assert_eq!(endpoint_url(&s).as_deref(), Some("http://minio:9000"));
        s.endpoint = "http://127.0.0.1:5000".into();
        assert_eq!(endpoint_url(&s).as_deref(), Some("http://127.0.0.1:5000"));
        s.endpoint.clear();
        assert_eq!(endpoint_url(&s), None);
    }
}
