//! The scheduler against a fake snapshot source and a temporary local directory, on tokio's
//! paused clock: retention, failures in status and metrics, local_max_space, a leader change
//! continuing the schedule, config changes and stop.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeSource, body};
use serde_json::json;
use time::macros::datetime;
use tresor_autosnap::clock::{Clock, TokioClock};
use tresor_autosnap::{AutoSnapshots, ConfigStore, api, naming};
use tresor_storage::{Backend, InMemBackend};
use tresor_telemetry::Metrics;
use tresor_telemetry::names::{self, SNAPSHOT_CONFIG_NAME};

struct Fixture {
    storage: Arc<dyn Backend>,
    store: ConfigStore,
    clock: Arc<TokioClock>,
    metrics: Metrics,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let storage: Arc<dyn Backend> = Arc::new(InMemBackend::new());
        Fixture {
            store: ConfigStore::new(storage.clone()),
            storage,
            clock: TokioClock::starting_at(datetime!(2026-12-07 00:00 UTC)),
            metrics: Metrics::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn start(&self, source: &Arc<FakeSource>) -> AutoSnapshots {
        AutoSnapshots::start_with_clock(
            self.storage.clone(),
            source.clone(),
            self.metrics.clone(),
            self.clock.clone(),
        )
    }

    async fn write(&self, sched: Option<&AutoSnapshots>, name: &str, extra: serde_json::Value) {
        let mut b = body(json!({
            "interval": "60s",
            "path_prefix": self.dir.path().to_str().unwrap(),
            "storage_type": "local",
        }));
        b.extend(body(extra));
        api::write_config(&self.store, sched, name, &b, self.clock.now())
            .await
            .unwrap();
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    async fn status(&self, sched: Option<&AutoSnapshots>, name: &str) -> serde_json::Value {
        let m = api::read_status(&self.store, sched, name, self.clock.now())
            .await
            .unwrap()
            .unwrap();
        serde_json::Value::Object(m)
    }
}

/// Lets virtual time pass in one-second steps until `cond` holds (at most `limit`).
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?} of virtual time"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Lets `d` of virtual time pass.
async fn pass(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn snapshots_every_interval_and_keeps_the_newest_retain() {
    let f = Fixture::new();
    let src = FakeSource::new(3000);
    f.write(None, "daily", json!({"retain": 2})).await;
    let sched = f.start(&src);

    // The first snapshot is due one interval after the config was written.
    pass(Duration::from_secs(50)).await;
    assert_eq!(src.calls(), 0, "no snapshot before the first interval");
    let st = f.status(Some(&sched), "daily").await;
    assert_eq!(st["next_snapshot_start"], json!("2026-12-07T00:01:00Z"));

    wait_until(Duration::from_secs(600), || src.successes() >= 4).await;
    // Let the fourth run finish its pruning.
    pass(Duration::from_secs(5)).await;
    assert_eq!(src.successes(), 4);
    let files = f.files();
    assert_eq!(files.len(), 2, "retain=2 keeps two files: {files:?}");
    let times: Vec<_> = files
        .iter()
        .map(|n| naming::parse_file_name("vault-snapshot", n).expect("a snapshot name"))
        .collect();
    assert_eq!(times[0], datetime!(2026-12-07 00:03 UTC));
    assert_eq!(times[1], datetime!(2026-12-07 00:04 UTC));
    for name in &files {
        let bytes = std::fs::read(f.dir.path().join(name)).unwrap();
        assert_eq!(bytes, FakeSource::bytes(3000));
    }

    let st = f.status(Some(&sched), "daily").await;
    assert_eq!(st["consecutive_errors"], json!(0));
    assert_eq!(st["last_snapshot_error"], json!(""));
    assert_eq!(st["last_snapshot_start"], json!("2026-12-07T00:04:00Z"));
    assert_eq!(st["next_snapshot_start"], json!("2026-12-07T00:05:00Z"));
    let url = st["last_snapshot_url"].as_str().unwrap();
    assert!(
        url.starts_with("file://") && url.ends_with(&files[1]),
        "{url}"
    );
    assert_eq!(st["snapshot_url"], st["last_snapshot_url"]);

    let labels = [(SNAPSHOT_CONFIG_NAME, "daily")];
    let last = f
        .metrics
        .gauge(&names::AUTOSNAPSHOTS_LAST_SUCCESS_TIME, &labels)
        .get();
    assert_eq!(
        last as i64,
        datetime!(2026-12-07 00:04 UTC).unix_timestamp()
    );
    assert_eq!(
        f.metrics
            .counter(&names::AUTOSNAPSHOTS_SAVE_ERRORS, &labels)
            .get(),
        0
    );
    assert!(
        f.metrics
            .summary(&names::AUTOSNAPSHOTS_SAVE_DURATION, &labels)
            .get()
            .count
            >= 4
    );
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn failures_show_in_status_logs_and_metric_and_leave_no_file() {
    let f = Fixture::new();
    let src = FakeSource::new(4000);
    src.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    f.write(None, "s", json!({})).await;
    let sched = f.start(&src);
    let labels = [(SNAPSHOT_CONFIG_NAME, "s")];
    let errors = || {
        f.metrics
            .counter(&names::AUTOSNAPSHOTS_SAVE_ERRORS, &labels)
            .get()
    };

    wait_until(Duration::from_secs(300), || errors() >= 2).await;
    let st = f.status(Some(&sched), "s").await;
    assert_eq!(st["consecutive_errors"], json!(2));
    let err = st["last_snapshot_error"].as_str().unwrap();
    assert!(err.contains("injected"), "{err}");
    assert!(
        f.files().is_empty(),
        "a failed snapshot leaves nothing: {:?}",
        f.files()
    );
    // The failure is persisted too: another node reading the status sees it.
    let persisted = f.status(None, "s").await;
    assert_eq!(persisted["consecutive_errors"], json!(2));

    src.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_until(Duration::from_secs(300), || src.successes() >= 1).await;
    pass(Duration::from_secs(1)).await;
    let st = f.status(Some(&sched), "s").await;
    assert_eq!(st["consecutive_errors"], json!(0));
    assert_eq!(st["last_snapshot_error"], json!(""));
    assert_eq!(errors(), 2);
    assert_eq!(f.files().len(), 1);
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn local_max_space_refuses_a_snapshot_that_does_not_fit() {
    let f = Fixture::new();
    let src = FakeSource::new(1000);
    f.write(None, "small", json!({"retain": 5, "local_max_space": 1500}))
        .await;
    let sched = f.start(&src);
    wait_until(Duration::from_secs(300), || src.calls() >= 2).await;
    pass(Duration::from_secs(1)).await;
    let st = f.status(Some(&sched), "small").await;
    assert_eq!(st["consecutive_errors"], json!(1));
    let err = st["last_snapshot_error"].as_str().unwrap();
    assert!(err.contains("local_max_space"), "{err}");
    assert_eq!(
        f.files().len(),
        1,
        "only the first snapshot: {:?}",
        f.files()
    );
    let pct = f
        .metrics
        .gauge(
            &names::AUTOSNAPSHOTS_PERCENT_MAXSPACE_USED,
            &[(SNAPSHOT_CONFIG_NAME, "small")],
        )
        .get();
    assert!((pct - 1000.0 * 100.0 / 1500.0).abs() < 0.01, "{pct}");
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_active_node_continues_the_schedule() {
    let f = Fixture::new();
    let src = FakeSource::new(100);
    f.write(None, "ha", json!({"interval": "10m", "retain": 10}))
        .await;
    let first = f.start(&src);
    wait_until(Duration::from_secs(900), || src.successes() == 1).await;
    // The first run was at 00:10. The leader steps down at about 00:14.
    pass(Duration::from_secs(4 * 60)).await;
    first.stopped().await;
    drop(first);

    // Another node takes over at 00:14: its first run is at 00:20, not 00:24.
    let second = f.start(&src);
    let st = f.status(Some(&second), "ha").await;
    assert_eq!(st["last_snapshot_start"], json!("2026-12-07T00:10:00Z"));
    wait_until(Duration::from_secs(1200), || src.successes() == 2).await;
    let times: Vec<_> = f
        .files()
        .iter()
        .filter_map(|n| naming::parse_file_name("vault-snapshot", n))
        .collect();
    assert_eq!(
        times,
        vec![
            datetime!(2026-12-07 00:10 UTC),
            datetime!(2026-12-07 00:20 UTC)
        ]
    );
    second.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn an_overdue_snapshot_runs_when_a_node_becomes_active() {
    let f = Fixture::new();
    let src = FakeSource::new(100);
    f.write(None, "late", json!({"interval": "1m"})).await;
    // No active node for five minutes.
    pass(Duration::from_secs(300)).await;
    let sched = f.start(&src);
    wait_until(Duration::from_secs(5), || src.successes() == 1).await;
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn config_changes_and_deletes_apply_at_once() {
    let f = Fixture::new();
    let src = FakeSource::new(100);
    let sched = f.start(&src);
    // Written while the scheduler runs: picked up without a restart.
    f.write(Some(&sched), "c", json!({"interval": "1h"})).await;
    pass(Duration::from_secs(120)).await;
    assert_eq!(src.calls(), 0);
    // A shorter interval applies at once (the anchor stays the creation time).
    f.write(Some(&sched), "c", json!({"interval": "3m"})).await;
    wait_until(Duration::from_secs(120), || src.successes() == 1).await;
    let st = f.status(Some(&sched), "c").await;
    assert_eq!(st["last_snapshot_start"], json!("2026-12-07T00:03:00Z"));

    api::delete_config(&f.store, Some(&sched), "c")
        .await
        .unwrap();
    pass(Duration::from_secs(3600)).await;
    assert_eq!(src.calls(), 1, "a deleted config takes no more snapshots");
    assert!(sched.status("c").is_none());
    assert!(
        api::read_status(&f.store, Some(&sched), "c", f.clock.now())
            .await
            .unwrap()
            .is_none()
    );
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn a_config_change_during_a_snapshot_lets_it_finish() {
    let f = Fixture::new();
    let src = FakeSource::new(500);
    src.delay_secs
        .store(30, std::sync::atomic::Ordering::SeqCst);
    f.write(None, "slow", json!({"retain": 5})).await;
    let sched = f.start(&src);
    wait_until(Duration::from_secs(120), || src.calls() == 1).await;
    // The snapshot started at 00:01:00 and takes 30 s; change the interval meanwhile.
    pass(Duration::from_secs(5)).await;
    f.write(Some(&sched), "slow", json!({"interval": "2m"}))
        .await;
    wait_until(Duration::from_secs(60), || src.successes() == 1).await;
    assert_eq!(f.files().len(), 1, "{:?}", f.files());
    // The next run is one new interval after the last start: 00:03:00.
    pass(Duration::from_secs(2)).await;
    let st = f.status(Some(&sched), "slow").await;
    assert_eq!(st["next_snapshot_start"], json!("2026-12-07T00:03:00Z"));
    assert_eq!(src.calls(), 1);
    sched.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn stop_abandons_a_snapshot_in_progress_without_leaving_a_file() {
    let f = Fixture::new();
    let src = FakeSource::new(10_000);
    src.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    f.write(None, "h", json!({})).await;
    let sched = f.start(&src);
    wait_until(Duration::from_secs(120), || src.calls() == 1).await;
    pass(Duration::from_secs(1)).await;
    assert_eq!(f.files().len(), 1, "the temporary file while writing");
    assert!(f.files()[0].starts_with(".tmp-"));
    sched.stopped().await;
    assert!(f.files().is_empty(), "{:?}", f.files());
}
