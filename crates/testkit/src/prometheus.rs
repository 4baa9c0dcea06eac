//! A real Prometheus server (Debian's `prometheus`, installed by `scripts/ci-deps.sh`) on a
//! free loopback port, scraping what its generated config names, killed on drop; and
//! `promtool` for checking shipped rule and config files.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::client_with_timeout;
use crate::ports::free_port;
use crate::process::wait_for;

/// The binary `name` (`prometheus`, `promtool`) from `TRESOR_PROMETHEUS_DIR` or `/usr/bin`.
pub fn tool(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("TRESOR_PROMETHEUS_DIR").map_or_else(|| "/usr/bin".into(), PathBuf::from);
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run `bash scripts/ci-deps.sh` (apt package prometheus) or set TRESOR_PROMETHEUS_DIR",
        path.display()
    );
    path
}

/// Runs `promtool` with `args`; returns its combined output, or `Err` with it when it fails.
pub fn promtool(args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    http: reqwest::blocking::Client,
}

/// A scrape job of [`Prometheus::start`]: Tresor nodes' `sys/metrics` over plain HTTP.
pub fn tresor_job(targets: &[String], interval: &str) -> String {
    let list: String = targets
        .iter()
        .map(|t| format!("          - {t}\n"))
        .collect();
    format!(
        "  - job_name: tresor\n    scrape_interval: {interval}\n    scrape_timeout: {interval}\n    \
         metrics_path: /v1/sys/metrics\n    params:\n      format: [prometheus]\n    \
         static_configs:\n      - targets:\n{list}"
    )
}

impl Prometheus {
    /// Starts Prometheus with `evaluation_interval`, the rule files `rules` and the scrape
    /// jobs `jobs` (YAML list items, see [`tresor_job`]); waits until it is ready.
    pub fn start(evaluation_interval: &str, rules: &[&Path], jobs: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rule_files: String = rules
            .iter()
            .map(|r| format!("  - {}\n", r.display()))
            .collect();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  evaluation_interval: {evaluation_interval}\n\
                 rule_files:\n{rule_files}scrape_configs:\n{jobs}"
            ),
        )
        .unwrap();
        promtool(&["check", "config", config.to_str().unwrap()])
            .unwrap_or_else(|e| panic!("generated config refused: {e}"));
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            http: client_with_timeout(Duration::from_secs(10)),
        };
        wait_for("prometheus to be ready", Duration::from_secs(60), || {
            let r = p.http.get(format!("{}/-/ready", p.url)).send().ok()?;
            r.status().is_success().then_some(())
        });
        p
    }

    /// The log Prometheus wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>` with `query`; the `data` of a successful answer.
    pub fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/{path}", self.url))
            .query(query)
            .send()
            .unwrap();
        let v: Value = r.json().unwrap();
        assert_eq!(v["status"], "success", "{path} {query:?}: {v}");
        v["data"].clone()
    }

    /// The result vector of the instant query `q`.
    pub fn query(&self, q: &str) -> Vec<Value> {
        self.api("query", &[("query", q)])["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The active targets' `(scrapeUrl host:port, health)`.
    pub fn targets(&self) -> Vec<(String, String)> {
        self.api("targets", &[("state", "active")])["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t["labels"]["instance"].as_str().unwrap_or("").to_owned(),
                    t["health"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The alerts Prometheus holds (pending or firing).
    pub fn alerts(&self) -> Vec<Value> {
        self.api("alerts", &[])["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
