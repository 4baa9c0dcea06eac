//! What a metric is before it has values: name, kind and description.

/// The three kinds of metric the registry keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A value that is set (goes up and down): `vault.core.unsealed`.
    Gauge,
    /// A count that only grows: `vault.seal.encrypt`.
    Counter,
    /// Observations (e.g. durations in ms) summarised as count, sum, min, max, mean and
    /// standard deviation: `vault.seal.encrypt.time`.
    Summary,
}

impl MetricKind {
    /// The `# TYPE` word of the Prometheus text format.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::Summary => "summary",
        }
    }
}

/// One metric: its name without the service prefix (`core.unsealed`, rendered as
/// `vault.core.unsealed` / `vault_core_unsealed`), its kind and a one-line description (the
/// Prometheus `# HELP` text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Dotted name without the service prefix.
    pub name: &'static str,
    /// Gauge, counter or summary.
    pub kind: MetricKind,
    /// What it measures, for `# HELP`.
    pub help: &'static str,
}

impl MetricDef {
    /// A gauge.
    pub const fn gauge(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Gauge,
            help,
        }
    }

    /// A counter.
    pub const fn counter(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Counter,
            help,
        }
    }

    /// A summary.
    pub const fn summary(name: &'static str, help: &'static str) -> MetricDef {
        MetricDef {
            name,
            kind: MetricKind::Summary,
            help,
        }
    }
}
