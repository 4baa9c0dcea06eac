//! What a metric is before it has values: name, kind and description.

/// The kinds of metric the registry keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A value that is set (goes up and down): `vault.core.unsealed`.
    Gauge,
    /// A count that only grows: `vault.seal.encrypt`.
    Counter,
    /// Observations (e.g. durations in ms) summarised as count, sum, min, max, mean and
    /// standard deviation, and in Prometheus with the quantiles 0.5, 0.9 and 0.99 of a recent
    /// window: `vault.seal.encrypt.time`.
    Summary,
    /// Observations counted into fixed buckets (Prometheus `_bucket`/`_sum`/`_count`):
    /// Tresor's own latency histograms, which Vault does not export. Prometheus only.
    Histogram,
}

impl MetricKind {
    /// The `# TYPE` word of the Prometheus text format.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::Summary => "summary",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric: its name without the service prefix (`core.unsealed`, rendered as
/// `vault.core.unsealed` / `vault_core_unsealed`), its kind and a one-line description (the
/// Prometheus `# HELP` text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricDef {
    /// Dotted name without the service prefix.
    pub name: &'static str,
    /// Gauge, counter or summary.
    pub kind: MetricKind,
    /// What it measures, for `# HELP`.
    pub help: &'static str,
    /// Upper bounds of a histogram's buckets, ascending (`+Inf` is implied); empty for the
    /// other kinds.
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// A gauge.
    pub const fn gauge(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Gauge,
            help,
            buckets: &[],
        }
    }

    /// A counter.
    pub const fn counter(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Counter,
            help,
            buckets: &[],
        }
    }

    /// A summary.
    pub const fn summary(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Summary,
            help,
            buckets: &[],
        }
    }

    /// A histogram with `buckets` (ascending upper bounds, `+Inf` implied).
    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        buckets: &'static [f64],
    ) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Histogram,
            help,
            buckets,
        }
    }
}
