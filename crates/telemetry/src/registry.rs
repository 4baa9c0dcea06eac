//! The registry and the handles that record into it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::snapshot::{
    Aggregate, FamilySnapshot, HistogramValue, QUANTILES, SeriesSnapshot, SeriesValue, Snapshot,
    quantiles,
};
use crate::{MetricDef, MetricKind, TelemetryError, names};

/// Label names and values, sorted by name.
type Labels = Vec<(String, String)>;

/// How far back a summary's quantiles look: like Vault's Prometheus sink, the last 10 s.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(10);
/// The most observations a summary keeps for its quantiles (the newest ones of the window),
/// so a hot path costs O(1) and a scrape sorts at most this many values.
pub const SUMMARY_WINDOW_SAMPLES: usize = 1024;

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

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.touch_at(self.now_ms());
    }

    fn touch_at(&self, ms: u64) {
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

/// A summary's totals and its recent observations (time in ms since the registry's start,
/// value), oldest first, at most [`SUMMARY_WINDOW_SAMPLES`].
#[derive(Debug, Default)]
struct SummaryState {
    agg: Aggregate,
    recent: VecDeque<(u64, f64)>,
}

#[derive(Debug)]
struct SummaryCell {
    state: Mutex<SummaryState>,
    touched: Touched,
}

#[derive(Debug)]
struct HistogramCell {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds` for `+Inf`.
    counts: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum as `f64` bits.
    sum_bits: AtomicU64,
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
        let now = self.0.touched.now_ms();
        {
            let mut st = lock(&self.0.state);
            st.agg.observe(v);
            if st.recent.len() >= SUMMARY_WINDOW_SAMPLES {
                st.recent.pop_front();
            }
            st.recent.push_back((now, v));
        }
        self.0.touched.touch_at(now);
    }

    /// Records the time since `since`, in milliseconds (Vault's unit for timings).
    pub fn observe_since(&self, since: Instant) {
        self.observe(since.elapsed().as_secs_f64() * 1000.0);
    }

    /// The aggregate so far.
    pub fn get(&self) -> Aggregate {
        lock(&self.0.state).agg
    }

    /// The aggregate and the [`QUANTILES`] of the observations of the last
    /// [`SUMMARY_WINDOW`] before `now_ms` (ms since the registry's start).
    fn read(&self, now_ms: u64) -> (Aggregate, Vec<(f64, f64)>) {
        let window = u64::try_from(SUMMARY_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let (agg, mut values) = {
            let st = lock(&self.0.state);
            let recent: Vec<f64> = st
                .recent
                .iter()
                .filter(|(at, _)| now_ms.saturating_sub(*at) <= window)
                .map(|(_, v)| *v)
                .collect();
            (st.agg, recent)
        };
        (agg, quantiles(&mut values, &QUANTILES))
    }
}

/// A handle on one histogram series (Tresor's latency histograms, in seconds).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramCell>);

impl Histogram {
    /// Records one observation: one relaxed increment of its bucket and the count, and a
    /// compare-and-swap on the sum.
    pub fn observe(&self, v: f64) {
        let c = &self.0;
        let slot = c
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(c.bounds.len());
        if let Some(n) = c.counts.get(slot) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        c.count.fetch_add(1, Ordering::Relaxed);
        let _ = c
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
        c.touched.touch();
    }

    /// Records the time since `since`, in seconds (Prometheus' unit).
    pub fn observe_since(&self, since: Instant) {
        self.observe(since.elapsed().as_secs_f64());
    }

    /// The counts so far.
    pub fn get(&self) -> HistogramValue {
        let c = &self.0;
        let mut cumulative = 0u64;
        let buckets = c
            .bounds
            .iter()
            .zip(c.counts.iter())
            .map(|(b, n)| {
                cumulative = cumulative.saturating_add(n.load(Ordering::Relaxed));
                (*b, cumulative)
            })
            .collect();
        let overflow = c.counts.last().map_or(0, |n| n.load(Ordering::Relaxed));
        HistogramValue {
            buckets,
            // The `+Inf` bucket: consistent with the buckets even while observations race.
            count: cumulative.saturating_add(overflow),
            sum: f64::from_bits(c.sum_bits.load(Ordering::Relaxed)),
        }
    }
}

#[derive(Debug, Clone)]
enum Cell {
    Gauge(Gauge),
    Counter(Counter),
    Summary(Summary),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    def: MetricDef,
    series: BTreeMap<Labels, Cell>,
    /// Whether a series of this gauge was already dropped for the cardinality cap (logged).
    capped: bool,
}

#[derive(Debug)]
struct Registry {
    start: Instant,
    /// The most label sets a gauge may have (`maximum_gauge_cardinality`); the unlabelled
    /// series is always allowed.
    max_gauge_series: usize,
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
    /// An empty registry without a cardinality cap.
    pub fn new() -> Metrics {
        Metrics::with_max_gauge_cardinality(usize::MAX)
    }

    /// An empty registry whose gauges keep at most `max` labelled series each (the telemetry
    /// stanza's `maximum_gauge_cardinality`). A new label set beyond it is not recorded: its
    /// handle records nowhere, the registry counts it in Tresor's
    /// `vault.metrics.gauge_series_dropped` and logs the first drop of each gauge.
    pub fn with_max_gauge_cardinality(max: usize) -> Metrics {
        Metrics(Arc::new(Registry {
            start: Instant::now(),
            max_gauge_series: max,
            families: Mutex::new(BTreeMap::new()),
        }))
    }

    fn new_cell(&self, def: &MetricDef, kind: MetricKind) -> Cell {
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
                state: Mutex::new(SummaryState::default()),
                touched,
            }))),
            MetricKind::Histogram => Cell::Histogram(Histogram(Arc::new(HistogramCell {
                bounds: def.buckets,
                counts: (0..=def.buckets.len()).map(|_| AtomicU64::new(0)).collect(),
                count: AtomicU64::new(0),
                sum_bits: AtomicU64::new(0f64.to_bits()),
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
            capped: false,
        });
        if family.def.kind != requested {
            return Err(mismatch(family.def.kind));
        }
        let key = sorted_labels(labels);
        if let Some(cell) = family.series.get(&key) {
            return Ok(cell.clone());
        }
        if requested == MetricKind::Gauge && !key.is_empty() {
            let labelled = family.series.keys().filter(|k| !k.is_empty()).count();
            if labelled >= self.0.max_gauge_series {
                let first = !std::mem::replace(&mut family.capped, true);
                if first {
                    tracing::warn!(
                        metric = def.name,
                        limit = self.0.max_gauge_series,
                        "gauge has reached maximum_gauge_cardinality; new label sets are dropped"
                    );
                }
                self.count_dropped(&mut families);
                return Err(TelemetryError::CardinalityExceeded {
                    name: def.name.to_owned(),
                    limit: self.0.max_gauge_series,
                });
            }
        }
        let cell = self.new_cell(def, requested);
        family.series.insert(key, cell.clone());
        Ok(cell)
    }

    /// Counts one gauge series dropped for the cardinality cap (with the registry locked).
    fn count_dropped(&self, families: &mut BTreeMap<&'static str, Family>) {
        let def = names::METRICS_GAUGE_SERIES_DROPPED;
        let family = families.entry(def.name).or_insert_with(|| Family {
            def,
            series: BTreeMap::new(),
            capped: false,
        });
        let cell = family
            .series
            .entry(Vec::new())
            .or_insert_with(|| self.new_cell(&def, def.kind));
        if let Cell::Counter(c) = cell {
            c.inc();
        }
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

    /// The histogram series of `def` with `labels` (created empty if new).
    pub fn try_histogram(
        &self,
        def: &MetricDef,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, TelemetryError> {
        match self.series(def, MetricKind::Histogram, labels)? {
            Cell::Histogram(h) => Ok(h),
            _ => Err(TelemetryError::KindMismatch {
                name: def.name.to_owned(),
                registered: def.kind,
                requested: MetricKind::Histogram,
            }),
        }
    }

    /// [`Metrics::try_gauge`]; on a kind mismatch (a programming error) a detached gauge
    /// that records nowhere, so that metrics never take a node down.
    pub fn gauge(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Gauge {
        self.try_gauge(def, labels).unwrap_or_else(|_| {
            match self.new_cell(def, MetricKind::Gauge) {
                Cell::Gauge(g) => g,
                _ => unreachable!("new_cell makes the kind asked for"),
            }
        })
    }

    /// [`Metrics::try_counter`], detached on a kind mismatch.
    pub fn counter(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Counter {
        self.try_counter(def, labels).unwrap_or_else(|_| {
            match self.new_cell(def, MetricKind::Counter) {
                Cell::Counter(c) => c,
                _ => unreachable!("new_cell makes the kind asked for"),
            }
        })
    }

    /// [`Metrics::try_summary`], detached on a kind mismatch.
    pub fn summary(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Summary {
        self.try_summary(def, labels).unwrap_or_else(|_| {
            match self.new_cell(def, MetricKind::Summary) {
                Cell::Summary(s) => s,
                _ => unreachable!("new_cell makes the kind asked for"),
            }
        })
    }

    /// [`Metrics::try_histogram`], detached on a kind mismatch.
    pub fn histogram(&self, def: &MetricDef, labels: &[(&str, &str)]) -> Histogram {
        self.try_histogram(def, labels).unwrap_or_else(|_| {
            match self.new_cell(def, MetricKind::Histogram) {
                Cell::Histogram(h) => h,
                _ => unreachable!("new_cell makes the kind asked for"),
            }
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
        let now_ms = u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX);
        let families = lock(&self.0.families);
        let families = families
            .values()
            .map(|f| FamilySnapshot {
                def: f.def,
                series: f
                    .series
                    .iter()
                    .map(|(labels, cell)| {
                        let mut quantiles = Vec::new();
                        let (value, touched) = match cell {
                            Cell::Gauge(g) => (SeriesValue::Gauge(g.get()), &g.0.touched),
                            Cell::Counter(c) => (SeriesValue::Counter(c.aggregate()), &c.0.touched),
                            Cell::Summary(s) => {
                                let (agg, q) = s.read(now_ms);
                                quantiles = q;
                                (SeriesValue::Summary(agg), &s.0.touched)
                            }
                            Cell::Histogram(h) => (SeriesValue::Histogram(h.get()), &h.0.touched),
                        };
                        SeriesSnapshot {
                            labels: labels.clone(),
                            value,
                            quantiles,
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

    #[test]
    fn summaries_report_quantiles_of_the_recent_window_only() {
        let m = Metrics::new();
        let s = m.summary(&S, &[]);
        for v in 1..=100 {
            s.observe(f64::from(v));
        }
        let snap = m.snapshot();
        let series = &snap.families[0].series[0];
        assert_eq!(
            series.quantiles,
            vec![(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)]
        );
        // Observations older than the window no longer count for the quantiles (read as if
        // the scrape came a window and a bit later), but stay in the totals.
        let later = u64::try_from((SUMMARY_WINDOW + Duration::from_secs(1)).as_millis()).unwrap();
        let now = s.0.touched.now_ms() + later;
        let (agg, q) = s.read(now);
        assert_eq!(agg.count, 100);
        assert!(q.iter().all(|(_, v)| v.is_nan()), "{q:?}");
    }

    #[test]
    fn a_summary_keeps_a_bounded_number_of_recent_samples() {
        let m = Metrics::new();
        let s = m.summary(&S, &[]);
        let n = SUMMARY_WINDOW_SAMPLES * 3;
        for v in 0..n {
            s.observe(v as f64);
        }
        assert_eq!(lock(&s.0.state).recent.len(), SUMMARY_WINDOW_SAMPLES);
        assert_eq!(s.get().count, n as u64);
        // The kept samples are the newest: the median is in the last third.
        let snap = m.snapshot();
        let median = snap.families[0].series[0].quantiles[0].1;
        assert!(median >= (n - SUMMARY_WINDOW_SAMPLES) as f64, "{median}");
    }

    #[test]
    fn histograms_count_into_buckets_across_threads() {
        const H: MetricDef = MetricDef::histogram("test.h", "h", &[1.0, 2.0]);
        let m = Metrics::new();
        let h = m.histogram(&H, &[]);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for v in [0.5, 1.5, 2.5, 1.0] {
                        for _ in 0..250 {
                            h.observe(v);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = m.histogram(&H, &[]).get();
        assert_eq!(v.buckets, vec![(1.0, 2000), (2.0, 3000)]);
        assert_eq!(v.count, 4000);
        assert!((v.sum - 5500.0).abs() < 1e-6, "{}", v.sum);
    }

    #[test]
    fn gauges_beyond_the_cardinality_cap_are_dropped_and_counted() {
        let m = Metrics::with_max_gauge_cardinality(2);
        m.gauge(&G, &[]).set(9.0);
        m.gauge(&G, &[("a", "1")]).set(1.0);
        m.gauge(&G, &[("a", "2")]).set(2.0);
        assert!(matches!(
            m.try_gauge(&G, &[("a", "3")]),
            Err(TelemetryError::CardinalityExceeded { limit: 2, .. })
        ));
        // The detached handle records nowhere; known label sets still work.
        m.gauge(&G, &[("a", "4")]).set(4.0);
        m.gauge(&G, &[("a", "1")]).set(1.5);
        // Counters and summaries are not capped.
        for i in 0..5 {
            m.counter(&C, &[("i", &i.to_string())]).inc();
        }
        let snap = m.snapshot();
        let series = |name: &str| {
            snap.families
                .iter()
                .find(|f| f.def.name == name)
                .map(|f| f.series.clone())
                .unwrap_or_default()
        };
        let gauges = series(G.name);
        assert_eq!(gauges.len(), 3, "the unlabelled series and two label sets");
        assert_eq!(gauges[1].value, SeriesValue::Gauge(1.5));
        assert_eq!(series(C.name).len(), 5);
        let dropped = series(names::METRICS_GAUGE_SERIES_DROPPED.name);
        let SeriesValue::Counter(agg) = &dropped[0].value else {
            panic!("not a counter");
        };
        assert_eq!(agg.sum, 2.0);
    }
}
