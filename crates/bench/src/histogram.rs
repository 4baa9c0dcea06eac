//! A log-linear histogram of latencies in nanoseconds.
//!
//! Values below `2^(SUB_BITS + 1)` get a bucket each (exact). Above that, every power-of-two
//! range `[2^k, 2^(k+1))` is split into `2^SUB_BITS` equal buckets, so a bucket is never wider
//! than `1 / 2^SUB_BITS` of its lower bound. Quantiles are reported as the midpoint of the
//! bucket they fall in, which bounds the relative error by [`Histogram::MAX_RELATIVE_ERROR`]
//! (`1 / 2^(SUB_BITS + 1)`, about 0.39%). The minimum, maximum, count and sum are tracked
//! exactly. Each worker keeps its own histogram; [`Histogram::merge`] adds them up.

/// Mantissa bits below the leading one: 128 sub-buckets per power of two.
const SUB_BITS: u32 = 7;
/// Buckets per power of two above the exact range.
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Values below this are stored exactly, one bucket each.
const EXACT_LIMIT: u64 = 1 << (SUB_BITS + 1);
/// Total buckets needed to cover every `u64`.
const BUCKETS: usize = EXACT_LIMIT as usize + (64 - SUB_BITS as usize - 1) * SUB_COUNT;

/// Latency histogram with bounded relative error; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// The largest relative difference between a reported quantile and the recorded value it
    /// stands for.
    pub const MAX_RELATIVE_ERROR: f64 = 1.0 / (2 * SUB_COUNT) as f64;

    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every value recorded in `other` to `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest recorded value (exact), or `None` when empty.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The smallest recorded value (exact), or `None` when empty.
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// The arithmetic mean of the recorded values (exact up to `f64` rounding).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0.0..=1.0): an estimate of the `ceil(q * count)`-th smallest
    /// recorded value, within [`Self::MAX_RELATIVE_ERROR`] of it and clamped to the exact
    /// minimum and maximum. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, width) = bucket_bounds(index);
                // The midpoint; `low + width - 1` never overflows, so neither does this.
                return Some((low + width / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// The bucket index holding `value`.
fn bucket_of(value: u64) -> usize {
    if value < EXACT_LIMIT {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = (value >> shift) as usize - SUB_COUNT;
    EXACT_LIMIT as usize + (shift as usize - 1) * SUB_COUNT + sub
}

/// The lowest value a bucket holds and how many consecutive values it covers.
fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < EXACT_LIMIT as usize {
        return (index as u64, 1);
    }
    let j = index - EXACT_LIMIT as usize;
    let shift = (j / SUB_COUNT) as u32 + 1;
    let mantissa = (SUB_COUNT + j % SUB_COUNT) as u64;
    (mantissa << shift, 1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The `ceil(q * n)`-th smallest of `sorted`, the definition `quantile` estimates.
    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn assert_within_error(values: &mut [u64]) {
        let mut h = Histogram::new();
        for &v in values.iter() {
            h.record(v);
        }
        values.sort_unstable();
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(values, q) as f64;
            let got = h.quantile(q).unwrap() as f64;
            let rel = (got - exact).abs() / exact.max(1.0);
            assert!(
                rel <= Histogram::MAX_RELATIVE_ERROR,
                "q={q}: got {got}, exact {exact}, relative error {rel}"
            );
        }
        assert_eq!(h.max(), values.last().copied());
        assert_eq!(h.min(), values.first().copied());
        assert_eq!(h.count(), values.len() as u64);
    }

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut expected_low = 0u64;
        for index in 0..BUCKETS {
            let (low, width) = bucket_bounds(index);
            assert_eq!(low, expected_low, "gap before bucket {index}");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(low + (width - 1)), index);
            assert!(width == 1 || width as f64 / low as f64 <= 1.0 / SUB_COUNT as f64);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(expected_low, 0, "the last bucket must end at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100u64 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.95), Some(95));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!(h.quantile(0.0), Some(1));
        assert_eq!(h.mean(), Some(50.5));
    }

    #[test]
    fn uniform_distribution_within_stated_error() {
        let mut values: Vec<u64> = (1..=200_000u64).map(|v| v * 37).collect();
        assert_within_error(&mut values);
    }

    #[test]
    fn log_uniform_distribution_within_stated_error() {
        let mut rng = StdRng::seed_from_u64(7);
        // Latencies from 10 µs to 10 s, spread evenly over orders of magnitude.
        let mut values: Vec<u64> = (0..100_000)
            .map(|_| 10f64.powf(rng.gen_range(4.0..10.0)) as u64)
            .collect();
        assert_within_error(&mut values);
    }

    #[test]
    fn exponential_distribution_within_stated_error() {
        let mut rng = StdRng::seed_from_u64(11);
        // Mean 2 ms with a long tail, like a loaded server.
        let mut values: Vec<u64> = (0..50_000)
            .map(|_| (-(1.0 - rng.r#gen::<f64>()).ln() * 2_000_000.0) as u64 + 1)
            .collect();
        assert_within_error(&mut values);
    }

    #[test]
    fn bimodal_distribution_picks_the_right_mode() {
        let mut h = Histogram::new();
        for _ in 0..900 {
            h.record(1_000_000);
        }
        for _ in 0..100 {
            h.record(50_000_000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p95 = h.quantile(0.95).unwrap() as f64;
        assert!((p50 - 1e6).abs() / 1e6 <= Histogram::MAX_RELATIVE_ERROR);
        assert!((p95 - 5e7).abs() / 5e7 <= Histogram::MAX_RELATIVE_ERROR);
        assert_eq!(h.max(), Some(50_000_000));
    }

    #[test]
    fn max_is_exact_even_inside_a_wide_bucket() {
        let mut h = Histogram::new();
        h.record(1_000_003);
        h.record(1_000_001);
        assert_eq!(h.max(), Some(1_000_003));
        assert_eq!(h.min(), Some(1_000_001));
        // Both share a bucket; the estimate is clamped into the exact range.
        assert_eq!(bucket_of(1_000_001), bucket_of(1_000_003));
        let p100 = h.quantile(1.0).unwrap();
        assert!((1_000_001..=1_000_003).contains(&p100));
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut rng = StdRng::seed_from_u64(3);
        let values: Vec<u64> = (0..30_000)
            .map(|_| rng.gen_range(1..5_000_000_000))
            .collect();
        let mut whole = Histogram::new();
        let mut parts = vec![Histogram::new(); 4];
        for (i, &v) in values.iter().enumerate() {
            whole.record(v);
            parts[i % 4].record(v);
        }
        let mut merged = Histogram::new();
        for part in &parts {
            merged.merge(part);
        }
        assert_eq!(merged, whole);
        assert_eq!(merged.max(), values.iter().max().copied());
        assert_eq!(merged.count(), 30_000);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(merged.quantile(q), whole.quantile(q));
        }
    }

    #[test]
    fn merge_with_empty_keeps_min_and_max() {
        let mut h = Histogram::new();
        h.record(42);
        h.merge(&Histogram::new());
        assert_eq!(h.min(), Some(42));
        assert_eq!(h.max(), Some(42));
        let mut empty = Histogram::new();
        empty.merge(&h);
        assert_eq!(empty, h);
    }

    #[test]
    fn empty_histogram_has_no_quantiles() {
        let h = Histogram::new();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.max(), None);
        assert_eq!(h.mean(), None);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut h = Histogram::new();
        h.record(u64::MAX);
        h.record(0);
        assert_eq!(h.max(), Some(u64::MAX));
        assert_eq!(h.quantile(0.0), Some(0));
        let top = h.quantile(1.0).unwrap() as f64;
        assert!((u64::MAX as f64 - top) / u64::MAX as f64 <= Histogram::MAX_RELATIVE_ERROR);
    }
}
