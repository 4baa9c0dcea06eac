//! The summary of a run, printed as an aligned table or one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::config::BenchConfig;
use crate::stats::RunStats;

/// Latency quantiles of successful operations in milliseconds (3 decimals); `None` when no
/// operation succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest (exact).
    pub max: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
}

/// Result of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name (`kv-write`, ...).
    pub scenario: String,
    /// Base URLs the workers used.
    pub targets: Vec<String>,
    /// Number of workers.
    pub concurrency: usize,
    /// Seed to pass to `--seed` to repeat the key sequence.
    pub seed: u64,
    /// Length of the measured phase in seconds (3 decimals).
    pub elapsed_secs: f64,
    /// Measured operations, successful or not.
    pub ops: u64,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Failed operations by kind (`http_500`, `connect`, `timeout`, `transport`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `errors / ops` (0 when nothing ran).
    pub error_rate: f64,
    /// Successful operations per second of the measured phase (3 decimals).
    pub ops_per_sec: f64,
    /// Latencies of successful operations.
    pub latency_ms: LatencyMs,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ns_to_ms(ns: u64) -> f64 {
    round3(ns as f64 / 1e6)
}

impl Report {
    /// Summarises `stats`, measured over `elapsed`, for the run `config` describes.
    pub fn new(config: &BenchConfig, stats: &RunStats, elapsed: Duration) -> Self {
        let ops = stats.total();
        let errors = stats.failed();
        let secs = elapsed.as_secs_f64();
        let h = &stats.latency;
        Self {
            scenario: config.scenario.name().to_owned(),
            targets: config.targets.clone(),
            concurrency: config.concurrency,
            seed: config.seed,
            elapsed_secs: round3(secs),
            ops,
            ok: stats.ok(),
            errors,
            errors_by_kind: stats.errors.iter().map(|(k, n)| (k.key(), *n)).collect(),
            error_rate: if ops == 0 {
                0.0
            } else {
                errors as f64 / ops as f64
            },
            ops_per_sec: if secs > 0.0 {
                round3(stats.ok() as f64 / secs)
            } else {
                0.0
            },
            latency_ms: LatencyMs {
                p50: h.quantile(0.50).map(ns_to_ms),
                p95: h.quantile(0.95).map(ns_to_ms),
                p99: h.quantile(0.99).map(ns_to_ms),
                max: h.max().map(ns_to_ms),
                mean: h.mean().map(|m| round3(m / 1e6)),
            },
        }
    }

    /// Whether the run counts as healthy: at least one operation ran and the error rate is at
    /// most `max_error_rate`.
    pub fn passes(&self, max_error_rate: f64) -> bool {
        self.ops > 0 && self.error_rate <= max_error_rate
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and maps with string keys always serialises.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A header line and a value line with aligned columns, then an error breakdown line if
    /// any operation failed.
    pub fn to_table(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        let columns: [(&str, String); 10] = [
            ("scenario", self.scenario.clone()),
            ("concurrency", self.concurrency.to_string()),
            ("ops", self.ops.to_string()),
            ("errors", self.errors.to_string()),
            ("error%", format!("{:.3}", self.error_rate * 100.0)),
            ("ops/s", format!("{:.3}", self.ops_per_sec)),
            ("p50 ms", ms(self.latency_ms.p50)),
            ("p95 ms", ms(self.latency_ms.p95)),
            ("p99 ms", ms(self.latency_ms.p99)),
            ("max ms", ms(self.latency_ms.max)),
        ];
        let mut header = String::new();
        let mut values = String::new();
        for (i, (name, value)) in columns.iter().enumerate() {
            let width = name.len().max(value.len());
            let sep = if i == 0 { "" } else { "  " };
            if i == 0 {
                let _ = write!(header, "{name:<width$}");
                let _ = write!(values, "{value:<width$}");
            } else {
                let _ = write!(header, "{sep}{name:>width$}");
                let _ = write!(values, "{sep}{value:>width$}");
            }
        }
        let mut out = format!("{header}\n{values}\n");
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let _ = writeln!(out, "errors by kind: {}", kinds.join(" "));
        }
        let _ = writeln!(
            out,
            "measured {:.3}s against {} (seed {})",
            self.elapsed_secs,
            self.targets.join(", "),
            self.seed
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::histogram::Histogram;
    use crate::stats::ErrorKind;
    use clap::Parser;

    fn config() -> BenchConfig {
        Cli::try_parse_from(["tresor-bench", "kv-write", "--ops", "1", "--seed", "9"])
            .unwrap()
            .validate(|k| (k == "VAULT_TOKEN").then(|| "t".to_owned()))
            .unwrap()
    }

    fn stats(ok_ms: &[u64], errors: &[ErrorKind]) -> RunStats {
        let mut s = RunStats::default();
        for &ms in ok_ms {
            s.record(Ok(Duration::from_millis(ms)));
        }
        for &e in errors {
            s.record(Err(e));
        }
        s
    }

    #[test]
    fn numbers_are_derived_from_stats() {
        let s = stats(&[1, 2, 3, 4], &[ErrorKind::Status(500), ErrorKind::Timeout]);
        let r = Report::new(&config(), &s, Duration::from_secs(2));
        assert_eq!((r.ops, r.ok, r.errors), (6, 4, 2));
        assert!((r.error_rate - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.ops_per_sec, 2.0);
        // Quantiles come from histogram buckets: within its relative error (plus rounding).
        let p50 = r.latency_ms.p50.unwrap();
        assert!(
            (p50 - 2.0).abs() <= 2.0 * Histogram::MAX_RELATIVE_ERROR + 0.0005,
            "{p50}"
        );
        assert_eq!(r.latency_ms.max, Some(4.0));
        assert_eq!(r.latency_ms.mean, Some(2.5));
        assert_eq!(r.errors_by_kind["http_500"], 1);
        assert_eq!(r.errors_by_kind["timeout"], 1);
        assert!(!r.passes(0.01));
        assert!(r.passes(0.5));
    }

    #[test]
    fn latencies_have_three_decimals() {
        let mut s = RunStats::default();
        s.record(Ok(Duration::from_nanos(1_234_567)));
        let r = Report::new(&config(), &s, Duration::from_secs(1));
        assert_eq!(r.latency_ms.max, Some(1.235));
        assert!(r.to_table().contains("1.235"));
    }

    #[test]
    fn empty_run_does_not_pass() {
        let r = Report::new(&config(), &RunStats::default(), Duration::from_secs(1));
        assert_eq!(r.ops, 0);
        assert_eq!(r.latency_ms.p99, None);
        assert!(!r.passes(1.0));
        assert!(r.to_table().contains(" -"));
    }

    #[test]
    fn json_is_one_object_with_all_fields() {
        let s = stats(&[5], &[ErrorKind::Connect]);
        let r = Report::new(&config(), &s, Duration::from_secs(1));
        let text = r.to_json();
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["scenario"], "kv-write");
        assert_eq!(v["concurrency"], 32);
        assert_eq!(v["ops"], 2);
        assert_eq!(v["errors"], 1);
        assert_eq!(v["errors_by_kind"]["connect"], 1);
        assert_eq!(v["latency_ms"]["max"], 5.0);
        assert_eq!(v["seed"], 9);
        assert_eq!(v["targets"][0], "http://127.0.0.1:8200");
    }

    #[test]
    fn table_columns_line_up() {
        let s = stats(&[1, 10, 100], &[ErrorKind::Status(503)]);
        let table = Report::new(&config(), &s, Duration::from_secs(1)).to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0].len(), lines[1].len(), "{table}");
        // Every header ends where its value ends (right-aligned numeric columns).
        for name in ["ops", "errors", "ops/s", "max ms"] {
            let end = lines[0].find(name).unwrap() + name.len();
            let value_end = lines[1][..end].trim_end().len();
            assert_eq!(value_end, end, "column {name} in\n{table}");
        }
        assert!(lines[2].contains("http_503=1"));
    }
}
