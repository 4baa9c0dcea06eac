//! The registry and the handles that record into it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::snapshot::{Aggregate, FamilySnapshot, SeriesSnapshot, SeriesValue, Snapshot};
use crate::{MetricDef, MetricKind, TelemetryError};

/// Label names and values, sorted by name.
type Labels = Vec<(String, String)>;

/// When a series was last updated: milliseconds since the registry's start.
#[derive(Debug)]
struct Touched {
    start: Instant,
    at_ms: AtomicU64,
}

impl Touched {
    fn new(start: Instant) -> Touched {
        let t = Touched {
            start,
            at_ms: AtomicU64::new(0),
        };
        t.touch();
        t
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.store(ms, Ordering::Relaxed);
    }

    fn age(&self, uptime: Duration) -> Duration {
        uptime.saturating_sub(Duration::from_millis(self.at_ms.load(Ordering::Relaxed)))
    }
}

#[derive(Debug)]
struct GaugeCell {
    bits: AtomicU64,
    touched: Touched,
}

#[derive(Debug)]
struct CounterCell {
    count: AtomicU64,
    total: AtomicU64,
    sum_sq: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    touched: Touched,
}

#[derive(Debug)]
struct SummaryCell {
    agg: Mutex<Aggregate>,
    touched: Touched,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent: a panic elsewhere cannot poison it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle on one gauge series.
#[derive(Clone, Debug)]
pub struct Gauge(Arc<GaugeCell>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.bits.store(v.to_bits(), Ordering::Relaxed);
        self.0.touched.touch();
    }

    /// Sets 1 for `true`, 0 for `false`.
    pub fn set_bool(&self, v: bool) {
        self.set(if v { 1.0 } else { 0.0 });
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.bits.load(Ordering::Relaxed))
    }
}

/// A handle on one counter series.
#[derive(Clone, Debug)]
pub struct Counter(Arc<CounterCell>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        let c = &self.0;
        c.count.fetch_add(1, Ordering::Relaxed);
        c.total.fetch_add(n, Ordering::Relaxed);
        c.sum_sq.fetch_add(n.saturating_mul(n), Ordering::Relaxed);
        c.min.fetch_min(n, Ordering::Relaxed);
        c.max.fetch_max(n, Ordering::Relaxed);
        c.touched.touch();
    }

    /// The total so far.
    pub fn get(&self) -> u64 {
        self.0.total.load(Ordering::Relaxed)
    }

    fn aggregate(&self) -> Aggregate {
        let c = &self.0;
        let count = c.count.load(Ordering::Relaxed);
        if count == 0 {
            return Aggregate::default();
        }
        Aggregate {
            count,
            sum: c.total.load(Ordering::Relaxed) as f64,
            sum_sq: c.sum_sq.load(Ordering::Relaxed) as f64,
            min: c.min.load(Ordering::Relaxed) as f64,
            max: c.max.load(Ordering::Relaxed) as f64,
        }
    }
}

/// A handle on one summary series (e.g. durations in milliseconds).
#[derive(Clone, Debug)]
pub struct Summary(Arc<SummaryCell>);

impl Summary {
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        lock(&self.0.agg).observe(v);
        self.0.touched.touch();
    }

    /// Records the time since `since`, in milliseconds (Vault's unit for timings).
    pub fn observe_since(&self, since: Instant) {
        self.observe(since.elapsed().as_secs_f64() * 1000.0);
    }

    /// The aggregate so far.
    pub fn get(&self) -> Aggregate {
        *lock(&self.0.agg)
    }
}

#[derive(Debug, Clone)]
enum Cell {
    Gauge(Gauge),
    Counter(Counter),
    Summary(Summary),
}

#[derive(Debug)]
struct Family {
    def: MetricDef,
    series: BTreeMap<Labels, Cell>,
}

#[derive(Debug)]
struct Registry {
    start: Instant,
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// A metrics registry. Cloning gives another handle on the same registry.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Registry>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn sorted_labels(labels: &[(&str, &str)]) -> Labels {
    let mut out: Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics(Arc::new(Registry {
            start: Instant::now(),
            families: Mutex::new(BTreeMap::new()),
        }))
    }

    fn new_cell(&self, kind: MetricKind) -> Cell {
        let touched = Touched::new(self.0.start);
        match kind {
            MetricKind::Gauge => Cell::Gauge(Gauge(Arc::new(GaugeCell {
                bits: AtomicU64::new(0f64.to_bits()),
                touched,
            }))),
            MetricKind::Counter => Cell::Counter(Counter(Arc::new(CounterCell {
                count: AtomicU64::new(0),
                total: AtomicU64::new(0),
                sum_sq: AtomicU64::new(0),
                min: AtomicU64::new(u64::MAX),
                max: AtomicU64::new(0),
                touched,
            }))),
            MetricKind::Summary => Cell::Summary(Summary(Arc::new(SummaryCell {
                agg: Mutex::new(Aggregate::default()),
                touched,
            }))),
        }
    }

    /// The series of `def` with `labels`, created (at zero) if new.
    fn series(
        &self,
        def: &MetricDef,
        requested: MetricKind,
        labels: &[(&str, &str)],
    ) -> Result<Cell, TelemetryError> {
        let mismatch = |registered| TelemetryError::KindMismatch {
            name: def.name.to_owned(),
            registered,
            requested,
        };
        if def.kind != requested {
            return Err(mismatch(def.kind));
        }
        let mut families = lock(&self.0.families);
        let family = families.entry(def.name).or_insert_with(|| Family {
            def: *def,
            series: BTreeMap::new(),
        });
        if family.def.kind != requested {
            return Err(mismatch(family.def.kind));
        }
        let key = sorted_labels(labels);
        if let Some(cell) = family.series.get(&key) {
            return Ok(cell.clone());
        }
        let cell = self.new_cell(requested);
        family.series.insert(key, cell.clone());
        Ok(cell)
    }

    /// The gauge series of `def` with `labels` (created at 0 if new).
    pub fn try_gauge(
        &self,
        def: &MetricDef,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, TelemetryError> {
        match self.series(def, MetricKind::Gauge, labels)? {
            Cell::Gauge(g) => Ok(g),
            _ => Err(TelemetryError::KindMismatch {
                name: def.name.to_owned(),
                registered: def.kind,
                requested: MetricKind::Gauge,
            }),
        }
    }

    /// The counter series of `def` with `labels` (created at 0 if new).
    pub fn try_counter(
        &self,
        def: &MetricDef,
        labels: &[(&str, &str)],
    ) -> Result<Counter, TelemetryError> {
        match self.series(def, MetricKind::Counter, labels)? {
            Cell::Counter(c) => Ok(c),
            _ => Err(TelemetryError::KindMismatch {
                name: def.name.to_owned(),
                registered: def.kind,
                requested: MetricKind::Counter,
            }),
        }
    }

    /// The summary series of `def` with `labels` (created empty if new).
    pub fn try_summary(
        &self,
        def: &MetricDef,
        labels: &[(&str, &str)],
    ) -> Result<Summary, TelemetryError> {
        match self.series(def, MetricKind::Summary, labels)? {
            Cell::Summary(s) => Ok(s),
            _ => Err(TelemetryError::KindMismatch {
                name: def.name.to_owned(),
                registered: def.kind,
                requested: MetricKind::Summary,
            }),
        }
    }

    /// [`Metrics::try_gauge`]; on a kind mismatch (a programming error) a detached gauge
    /// that records nowhere, so that metrics never take a node down.
    pub fn gauge(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Gauge {
        self.try_gauge(def, labels)
            .unwrap_or_else(|_| match self.new_cell(MetricKind::Gauge) {
                Cell::Gauge(g) => g,
                _ => unreachable!("new_cell makes the kind asked for"),
            })
    }

    /// [`Metrics::try_counter`], detached on a kind mismatch.
    pub fn counter(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Counter {
        self.try_counter(def, labels)
            .unwrap_or_else(|_| match self.new_cell(MetricKind::Counter) {
                Cell::Counter(c) => c,
                _ => unreachable!("new_cell makes the kind asked for"),
            })
    }

    /// [`Metrics::try_summary`], detached on a kind mismatch.
    pub fn summary(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Summary {
        self.try_summary(def, labels)
            .unwrap_or_else(|_| match self.new_cell(MetricKind::Summary) {
                Cell::Summary(s) => s,
                _ => unreachable!("new_cell makes the kind asked for"),
            })
    }

    /// Drops the series of `def` with `labels` (and the metric when it has no series left),
    /// for a gauge that no longer describes this node (an autopilot gauge on a node that
    /// stopped being active). Handles on the dropped series keep working but are no longer
    /// rendered.
    pub fn remove(&self, def: &MetricDef, labels: &[(&str, &str)]) {
        let mut families = lock(&self.0.families);
        if let Some(family) = families.get_mut(def.name) {
            family.series.remove(&sorted_labels(labels));
            if family.series.is_empty() {
                families.remove(def.name);
            }
        }
    }

    /// Every metric now, sorted by name and labels.
    pub fn snapshot(&self) -> Snapshot {
        let uptime = self.0.start.elapsed();
        let families = lock(&self.0.families);
        let families = families
            .values()
            .map(|f| FamilySnapshot {
                def: f.def,
                series: f
                    .series
                    .iter()
                    .map(|(labels, cell)| {
                        let (value, touched) = match cell {
                            Cell::Gauge(g) => (SeriesValue::Gauge(g.get()), &g.0.touched),
                            Cell::Counter(c) => (SeriesValue::Counter(c.aggregate()), &c.0.touched),
                            Cell::Summary(s) => (SeriesValue::Summary(s.get()), &s.0.touched),
                        };
                        SeriesSnapshot {
                            labels: labels.clone(),
                            value,
                            age: touched.age(uptime),
                        }
                    })
                    .collect(),
            })
            .collect();
        Snapshot { uptime, families }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: MetricDef = MetricDef::gauge("test.gauge", "a gauge");
    const C: MetricDef = MetricDef::counter("test.counter", "a counter");
    const S: MetricDef = MetricDef::summary("test.summary", "a summary");

    #[test]
    fn removed_series_are_no_longer_rendered() {
        let m = Metrics::new();
        m.gauge(&G, &[("a", "1")]).set(1.0);
        m.gauge(&G, &[("a", "2")]).set(2.0);
        m.counter(&C, &[]).inc();
        m.remove(&G, &[("a", "1")]);
        let snap = m.snapshot();
        let gauge = snap.families.iter().find(|f| f.def.name == G.name).unwrap();
        assert_eq!(gauge.series.len(), 1);
        assert_eq!(gauge.series[0].value, SeriesValue::Gauge(2.0));
        // The last series gone, the metric is gone; removing again or an unknown one is fine.
        m.remove(&G, &[("a", "2")]);
        m.remove(&G, &[("a", "2")]);
        m.remove(&S, &[]);
        let names: Vec<&str> = m.snapshot().families.iter().map(|f| f.def.name).collect();
        assert_eq!(names, vec!["test.counter"]);
        // Recreated at zero on next use.
        assert_eq!(m.gauge(&G, &[("a", "1")]).get(), 0.0);
    }

    #[test]
    fn handles_share_one_series_per_label_set() {
        let m = Metrics::new();
        m.gauge(&G, &[("a", "1"), ("b", "2")]).set(3.5);
        // Same labels in another order: the same series.
        assert_eq!(m.gauge(&G, &[("b", "2"), ("a", "1")]).get(), 3.5);
        m.gauge(&G, &[("a", "2")]).set_bool(true);
        let c = m.counter(&C, &[]);
        c.inc();
        c.add(4);
        m.counter(&C, &[]).inc();
        m.summary(&S, &[]).observe(10.0);
        m.summary(&S, &[]).observe(30.0);

        let snap = m.snapshot();
        let names: Vec<&str> = snap.families.iter().map(|f| f.def.name).collect();
        assert_eq!(names, vec!["test.counter", "test.gauge", "test.summary"]);
        let gauges = &snap.families[1].series;
        assert_eq!(gauges.len(), 2);
        assert_eq!(
            gauges[0].labels,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(gauges[0].value, SeriesValue::Gauge(3.5));
        assert_eq!(gauges[1].value, SeriesValue::Gauge(1.0));
        let SeriesValue::Counter(agg) = snap.families[0].series[0].value else {
            panic!("not a counter");
        };
        assert_eq!((agg.count, agg.sum, agg.min, agg.max), (3, 6.0, 1.0, 4.0));
        let SeriesValue::Summary(agg) = snap.families[2].series[0].value else {
            panic!("not a summary");
        };
        assert_eq!((agg.count, agg.sum, agg.mean()), (2, 40.0, 20.0));
    }

    #[test]
    fn new_series_start_at_zero_and_clones_share_the_registry() {
        let m = Metrics::new();
        let other = m.clone();
        other.counter(&C, &[("seal", "x")]);
        let snap = m.snapshot();
        assert_eq!(snap.families.len(), 1);
        assert_eq!(
            snap.families[0].series[0].value,
            SeriesValue::Counter(Aggregate::default())
        );
        // A separate registry has its own figures.
        assert!(Metrics::new().snapshot().families.is_empty());
    }

    #[test]
    fn a_kind_mismatch_is_refused_and_records_nowhere() {
        let m = Metrics::new();
        m.gauge(&G, &[]).set(1.0);
        let clash = MetricDef::counter("test.gauge", "same name, other kind");
        assert!(matches!(
            m.try_counter(&clash, &[]),
            Err(TelemetryError::KindMismatch {
                registered: MetricKind::Gauge,
                ..
            })
        ));
        assert!(m.try_gauge(&C, &[]).is_err(), "def says counter");
        m.counter(&clash, &[]).add(7);
        let snap = m.snapshot();
        assert_eq!(snap.families.len(), 1);
        assert_eq!(snap.families[0].series[0].value, SeriesValue::Gauge(1.0));
    }

    #[test]
    fn counters_are_safe_to_share_across_threads() {
        let m = Metrics::new();
        let c = m.counter(&C, &[]);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.inc();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.counter(&C, &[]).get(), 4000);
    }
}
