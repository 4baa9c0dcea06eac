//! The top-level `telemetry { ... }` block.

use crate::error::ConfigError;
use crate::section::Section;

/// Default Prometheus retention: 24 hours.
pub const DEFAULT_PROMETHEUS_RETENTION: u64 = 86_400;
/// Default usage gauge period: 10 minutes.
pub const DEFAULT_USAGE_GAUGE_PERIOD: u64 = 600;
/// Default maximum gauge cardinality.
pub const DEFAULT_MAXIMUM_GAUGE_CARDINALITY: i64 = 500;

/// Metrics settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// How long Prometheus metrics are kept, in seconds (`0` disables Prometheus metrics).
    pub prometheus_retention_time: u64,
    /// Do not prefix gauge names with the host name.
    pub disable_hostname: bool,
    /// Add the host name as a label.
    pub enable_hostname_label: bool,
    /// Prefix of metric names (Vault: `vault`).
    pub metrics_prefix: Option<String>,
    /// Interval of usage gauges in seconds; `None` when written as `"none"` (disabled).
    pub usage_gauge_period: Option<u64>,
    /// Cardinality limit of gauge labels.
    pub maximum_gauge_cardinality: i64,
    /// Serve `/v1/sys/metrics` without a token (listener blocks can also set this).
    pub unauthenticated_metrics_access: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            prometheus_retention_time: DEFAULT_PROMETHEUS_RETENTION,
            disable_hostname: false,
            enable_hostname_label: false,
            metrics_prefix: None,
            usage_gauge_period: Some(DEFAULT_USAGE_GAUGE_PERIOD),
            maximum_gauge_cardinality: DEFAULT_MAXIMUM_GAUGE_CARDINALITY,
            unauthenticated_metrics_access: false,
        }
    }
}

/// Vault telemetry settings (metric sinks) Tresor does not implement (warned about).
const IGNORED: &[&str] = &[
    "statsite_address",
    "statsd_address",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "circonus_api_token",
    "circonus_api_app",
    "circonus_api_url",
    "circonus_submission_interval",
    "circonus_submission_url",
    "circonus_check_id",
    "circonus_check_force_metric_activation",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_display_name",
    "circonus_check_tags",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "stackdriver_project_id",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_debug_logs",
    "lease_metrics_epsilon",
    "num_lease_metrics_buckets",
    "add_lease_metrics_namespace_labels",
    "add_mount_point_rollback_metrics",
    "filter_default",
    "prefix_filter",
];

/// Applies one telemetry block on top of `t` (later blocks override what they set).
pub(crate) fn decode_telemetry(
    t: &mut TelemetryConfig,
    mut sec: Section<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(v) = sec.secs("prometheus_retention_time")? {
        t.prometheus_retention_time = v;
    }
    if let Some(v) = sec.bool("disable_hostname")? {
        t.disable_hostname = v;
    }
    if let Some(v) = sec.bool("enable_hostname_label")? {
        t.enable_hostname_label = v;
    }
    if let Some(v) = sec.string("metrics_prefix")? {
        t.metrics_prefix = Some(v);
    }
    if let Some(f) = sec.last("usage_gauge_period") {
        let key = sec.key("usage_gauge_period");
        t.usage_gauge_period = match f.node {
            crate::tree::Node::Str(s) if s.trim().eq_ignore_ascii_case("none") => None,
            node => Some(
                crate::section::to_secs(node)
                    .map_err(|reason| ConfigError::invalid(f.file, &key, reason))?,
            ),
        };
    }
    if let Some(v) = sec.int("maximum_gauge_cardinality")? {
        t.maximum_gauge_cardinality = v;
    }
    if let Some(v) = sec.bool("unauthenticated_metrics_access")? {
        t.unauthenticated_metrics_access = v;
    }
    for name in IGNORED {
        sec.ignore(name, warnings);
    }
    sec.finish(warnings);
    Ok(())
}
