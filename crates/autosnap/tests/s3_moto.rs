//! The aws-s3 destination against moto_server (a local S3): single and multipart uploads,
//! no object after a failed snapshot, and retention through the scheduler.
//!
//! moto_server is found at `TRESOR_MOTO_SERVER`, else `.tools/venv/bin/moto_server` in the
//! workspace (`bash scripts/ci-deps.sh` installs it).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use common::{FakeSource, body};
use serde_json::json;
use tresor_autosnap::config::parse_config;
use tresor_autosnap::target::Destination;
use tresor_autosnap::target::s3::{PART_SIZE, S3Bucket};
use tresor_autosnap::{AutoSnapshotConfig, AutoSnapshots, ConfigStore, api, naming};
use tresor_storage::{Backend, InMemBackend};
use tresor_telemetry::Metrics;

/// moto_server from the shared test support, with the S3 helpers these tests need.
struct Moto(tresor_testkit::moto::Moto);

impl Moto {
    fn start() -> Moto {
        Moto(tresor_testkit::moto::Moto::start())
    }

    fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// A plain S3 client for checking what the destination did.
    fn admin(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The request body of an aws-s3 config writing to `bucket` under `prefix`.
    fn config_body(&self, bucket: &str, prefix: &str) -> serde_json::Value {
        json!({
            "interval": "1s",
            "path_prefix": prefix,
            "storage_type": "aws-s3",
            "aws_s3_bucket": bucket,
            "aws_s3_region": "us-east-1",
            "aws_s3_endpoint": self.endpoint(),
            "aws_s3_force_path_style": true,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        })
    }

    fn config(&self, bucket: &str, prefix: &str) -> AutoSnapshotConfig {
        parse_config("s3", None, &body(self.config_body(bucket, prefix)), 0).unwrap()
    }
}

async fn object(admin: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = admin
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

async fn keys(admin: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = admin.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut v: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn small_and_multipart_snapshots_are_streamed_listed_and_deleted() {
    let moto = Moto::start();
    let admin = moto.admin();
    admin.create_bucket().bucket("snaps").send().await.unwrap();
    let dest = S3Bucket::new(&moto.config("snaps", "/team/vault/"))
        .await
        .unwrap();

    let small = FakeSource::new(1000);
    assert_eq!(dest.save("a.snap", &*small).await.unwrap(), 1000);
    assert_eq!(
        object(&admin, "snaps", "team/vault/a.snap").await.unwrap(),
        FakeSource::bytes(1000)
    );

    // Two full parts and a short last one: a multipart upload.
    let size = 2 * PART_SIZE + 12_345;
    let large = FakeSource::new(size);
    assert_eq!(dest.save("b.snap", &*large).await.unwrap(), size as u64);
    let got = object(&admin, "snaps", "team/vault/b.snap").await.unwrap();
    assert_eq!(got.len(), size);
    assert!(
        got == FakeSource::bytes(size),
        "the multipart object differs"
    );

    // Exactly one part: the end of the stream falls on a part boundary.
    let exact = FakeSource::new(PART_SIZE);
    dest.save("c.snap", &*exact).await.unwrap();
    assert_eq!(
        object(&admin, "snaps", "team/vault/c.snap")
            .await
            .unwrap()
            .len(),
        PART_SIZE
    );

    // Objects elsewhere in the bucket are not listed.
    admin
        .put_object()
        .bucket("snaps")
        .key("team/vault/deeper/x.snap")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(dest.list().await.unwrap(), ["a.snap", "b.snap", "c.snap"]);
    dest.delete("a.snap").await.unwrap();
    assert_eq!(dest.list().await.unwrap(), ["b.snap", "c.snap"]);
    assert!(dest.url("b.snap").ends_with("/snaps/team/vault/b.snap"));
}

#[tokio::test]
async fn a_failed_snapshot_leaves_no_object_and_no_upload() {
    let moto = Moto::start();
    let admin = moto.admin();
    admin.create_bucket().bucket("snaps").send().await.unwrap();
    let dest = S3Bucket::new(&moto.config("snaps", "p")).await.unwrap();
    for size in [1000, 2 * PART_SIZE + 10] {
        let src = FakeSource::new(size);
        src.fail.store(true, Ordering::SeqCst);
        let err = dest.save("bad.snap", &*src).await.unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
    }
    assert!(keys(&admin, "snaps").await.is_empty());
    let uploads = admin
        .list_multipart_uploads()
        .bucket("snaps")
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the failed multipart upload was aborted"
    );

    // A missing bucket is an error (in the status), not a panic.
    let nowhere = S3Bucket::new(&moto.config("missing", "p")).await.unwrap();
    assert!(nowhere.save("x.snap", &*FakeSource::new(10)).await.is_err());
}

#[tokio::test]
async fn the_scheduler_keeps_the_newest_retain_in_the_bucket() {
    let moto = Moto::start();
    let admin = moto.admin();
    admin.create_bucket().bucket("snaps").send().await.unwrap();
    let storage: Arc<dyn Backend> = Arc::new(InMemBackend::new());
    let store = ConfigStore::new(storage.clone());
    let mut b = body(moto.config_body("snaps", "auto"));
    b.insert("retain".into(), json!(2));
    api::write_config(&store, None, "s3", &b, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let src = FakeSource::new(2048);
    let sched = AutoSnapshots::start(storage, src.clone(), Metrics::new());

    // Real time here (the SDK's timeouts run on tokio's clock): wait, bounded, for four
    // snapshots and the pruning after the fourth.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = sched.status("s3");
        let done = src.successes() >= 4
            && st.is_some_and(|s| {
                s.last_success_end.is_some() && s.snapshot_start == s.last_snapshot_start
            })
            && keys(&admin, "snaps").await.len() == 2;
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no four snapshots within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sched.stopped().await;
    let left = keys(&admin, "snaps").await;
    assert_eq!(left.len(), 2, "{left:?}");
    let st = api::read_status(&store, None, "s3", time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st["consecutive_errors"], json!(0));
    let newest = st["last_snapshot_url"].as_str().unwrap();
    assert!(
        newest.ends_with(&left[1]),
        "the newest object is the last snapshot: {newest} vs {left:?}"
    );
    for k in &left {
        let name = k.strip_prefix("auto/").unwrap();
        assert!(
            naming::parse_file_name("vault-snapshot", name).is_some(),
            "{k}"
        );
    }
}
