//! A point-in-time copy of the registry, and how it is to be rendered: the pure input of the
//! renderers.

use std::time::Duration;

use crate::MetricDef;

/// Count, sum, extremes and sum of squares of a series' observations (a counter's
/// increments, a summary's values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aggregate {
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    /// Sum of their squares (for the standard deviation).
    pub sum_sq: f64,
    /// Smallest observation (0 when there is none).
    pub min: f64,
    /// Largest observation (0 when there is none).
    pub max: f64,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: 0.0,
            max: 0.0,
        }
    }
}

impl Aggregate {
    /// Adds one observation.
    pub fn observe(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    /// The mean (0 without observations).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The sample standard deviation (0 with fewer than two observations).
    pub fn stddev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        let var = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
        if var > 0.0 { var.sqrt() } else { 0.0 }
    }
}

/// The quantiles every summary reports to Prometheus (Vault's: median, 90th and 99th
/// percentile).
pub const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The `qs` quantiles of `values` (sorted in place) by the nearest-rank method: the smallest
/// value with at least `q` of the values at or below it. Each is `NaN` without values.
pub fn quantiles(values: &mut [f64], qs: &[f64]) -> Vec<(f64, f64)> {
    values.sort_by(f64::total_cmp);
    qs.iter()
        .map(|&q| {
            if values.is_empty() {
                return (q, f64::NAN);
            }
            let n = values.len();
            // ceil(q * n) as a 1-based rank, clamped to 1..=n.
            let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
            let idx = rank.clamp(1, n) - 1;
            (q, values[idx])
        })
        .collect()
}

/// A histogram's counts.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    /// Upper bound and cumulative count of each bucket, ascending; the `+Inf` bucket is
    /// `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub enum SeriesValue {
    /// A gauge's current value.
    Gauge(f64),
    /// A counter: its total is `sum`, the number of increments `count`.
    Counter(Aggregate),
    /// A summary of observations (totals since start; the recent quantiles are in
    /// [`SeriesSnapshot::quantiles`]).
    Summary(Aggregate),
    /// A histogram.
    Histogram(HistogramValue),
}

/// One labelled series of a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSnapshot {
    /// Label names and values, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: SeriesValue,
    /// A summary's [`QUANTILES`] over its recent window (each `NaN` when the window is empty,
    /// as Prometheus clients report it); empty for the other kinds.
    pub quantiles: Vec<(f64, f64)>,
    /// Time since the series was last updated (or created).
    pub age: Duration,
}

/// One metric and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySnapshot {
    /// Name, kind and description.
    pub def: MetricDef,
    /// Its series, sorted by labels.
    pub series: Vec<SeriesSnapshot>,
}

/// Every metric of a registry at one moment, sorted by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Time since the registry was created.
    pub uptime: Duration,
    /// The metrics.
    pub families: Vec<FamilySnapshot>,
}

/// How names are rendered and which series are shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// The service prefix of every name (`vault`; the config's `metrics_prefix`).
    pub prefix: String,
    /// When set, gauge names carry the host name after the prefix (`vault.host1.core.active`),
    /// as Vault does unless `disable_hostname = true`.
    pub hostname_prefix: Option<String>,
    /// When set, every series gets a `host` label with this value (`enable_hostname_label`).
    pub host_label: Option<String>,
    /// Prometheus only: series not updated for longer than this are left out
    /// (`prometheus_retention_time`); `None` keeps all.
    pub retention: Option<Duration>,
}

impl Default for RenderOptions {
    /// Prefix `vault`, no host name, nothing expires.
    fn default() -> Self {
        RenderOptions {
            prefix: "vault".into(),
            hostname_prefix: None,
            host_label: None,
            retention: None,
        }
    }
}

impl RenderOptions {
    /// The dotted full name of `def` (`vault.core.unsealed`).
    pub fn full_name(&self, def: &MetricDef) -> String {
        let mut out = String::with_capacity(self.prefix.len() + def.name.len() + 16);
        if !self.prefix.is_empty() {
            out.push_str(&self.prefix);
            out.push('.');
        }
        if let (Some(host), crate::MetricKind::Gauge) = (&self.hostname_prefix, def.kind) {
            out.push_str(host);
            out.push('.');
        }
        out.push_str(def.name);
        out
    }

    /// `labels` with the `host` label added when configured (kept sorted by name).
    pub fn labels_of(&self, labels: &[(String, String)]) -> Vec<(String, String)> {
        let mut out = labels.to_vec();
        if let Some(host) = &self.host_label
            && !out.iter().any(|(k, _)| k == "host")
        {
            out.push(("host".into(), host.clone()));
            out.sort();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_tracks_extremes_mean_and_stddev() {
        let mut a = Aggregate::default();
        assert_eq!((a.mean(), a.stddev()), (0.0, 0.0));
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            a.observe(v);
        }
        assert_eq!(a.count, 8);
        assert_eq!((a.min, a.max, a.sum), (2.0, 9.0, 40.0));
        assert_eq!(a.mean(), 5.0);
        // Sample standard deviation of this classic set: sqrt(32/7).
        assert!((a.stddev() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn names_get_the_prefix_and_gauges_the_host() {
        let gauge = MetricDef::gauge("core.active", "");
        let counter = MetricDef::counter("seal.encrypt", "");
        let mut o = RenderOptions::default();
        assert_eq!(o.full_name(&gauge), "vault.core.active");
        o.hostname_prefix = Some("h1".into());
        o.prefix = "tresor".into();
        assert_eq!(o.full_name(&gauge), "tresor.h1.core.active");
        assert_eq!(o.full_name(&counter), "tresor.seal.encrypt");
        o.host_label = Some("h1".into());
        let labels = o.labels_of(&[("z".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(
            labels.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            vec!["a", "host", "z"]
        );
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut v = vec![3.0, 1.0, 2.0, 4.0];
        assert_eq!(
            quantiles(&mut v, &QUANTILES),
            vec![(0.5, 2.0), (0.9, 4.0), (0.99, 4.0)]
        );
        let mut one = vec![7.0];
        assert_eq!(quantiles(&mut one, &[0.0, 0.5, 1.0])[0], (0.0, 7.0));
        let q = quantiles(&mut [], &QUANTILES);
        assert!(q.iter().all(|(_, v)| v.is_nan()));
        let mut with_nan = vec![f64::NAN, 1.0];
        assert_eq!(quantiles(&mut with_nan, &[0.5]), vec![(0.5, 1.0)]);
    }
}
