//! Tresor's telemetry: a small metrics registry and the two formats of `/v1/sys/metrics`.
//!
//! - [`Metrics`] is a cheap-to-clone handle on one registry. It is passed to whoever records
//!   metrics (the core gets it through its options) rather than living in a process static,
//!   so that several nodes in one test process keep separate figures.
//! - [`Gauge`], [`Counter`], [`Summary`] and [`Histogram`] are handles on one labelled
//!   series; recording is a few relaxed atomic operations (a short uncontended lock for
//!   summaries), so hot paths may keep a handle and record without touching the registry.
//! - Summaries keep totals since start (Vault's JSON: count, sum, min, max, mean, stddev) and
//!   their newest observations of the last [`SUMMARY_WINDOW`] (at most
//!   [`SUMMARY_WINDOW_SAMPLES`]), from which a scrape computes the quantiles 0.5, 0.9 and
//!   0.99 for Prometheus. Histograms (Tresor's own, Prometheus only) count into fixed buckets.
//! - [`names`] lists every metric Tresor emits as a [`MetricDef`] (Vault's names, so that
//!   dashboards and alert rules written for Vault work); a new metric is one line there.
//! - [`prometheus::render`] and [`vault_json::render`] turn a [`Snapshot`] into Prometheus
//!   text exposition format 0.0.4 and Vault's JSON; both are pure functions.
//!
//! - [`process::read_process_memory`] reads the process's memory for the runtime gauges.
//!
//! Names are stored without the service prefix (`core.unsealed`); the renderers add it
//! (`vault` unless `metrics_prefix` says otherwise) and, as Vault does for gauges unless
//! `disable_hostname` is set, the host name.

mod def;
mod error;
pub mod names;
pub mod process;
pub mod prometheus;
mod registry;
mod snapshot;
pub mod vault_json;

pub use def::{MetricDef, MetricKind};
pub use error::TelemetryError;
pub use registry::{
    Counter, Gauge, Histogram, Metrics, SUMMARY_WINDOW, SUMMARY_WINDOW_SAMPLES, Summary,
};
pub use snapshot::{
    Aggregate, FamilySnapshot, HistogramValue, QUANTILES, RenderOptions, SeriesSnapshot,
    SeriesValue, Snapshot, quantiles,
};
