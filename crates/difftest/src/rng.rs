//! A tiny deterministic PRNG (SplitMix64). Its output for a given seed never changes, unlike
//! `rand`'s `StdRng`, whose algorithm may change between releases: a seed printed today must
//! replay the same case next year.

/// SplitMix64: 64 bits of state, one multiply-xorshift output function.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The generator for case `index` of run `seed`: each case has its own stream, so any case
    /// can be regenerated alone.
    pub fn for_case(seed: u64, index: u64) -> Rng {
        let mut r = Rng::new(seed ^ 0x5EED_D1FF_7E57_0000);
        let mixed = r.next_u64() ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng::new(mixed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The modulo bias is irrelevant for test-case generation.
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.next_u64() % 100 < u64::from(percent)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index chosen with the given relative weights (the last index if all are zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return weights.len().saturating_sub(1);
        }
        let mut x = self.next_u64() % total;
        for (i, w) in weights.iter().enumerate() {
            let w = u64::from(*w);
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..8)
            .map(|_| 0)
            .scan(Rng::new(7), |r, _: u64| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .map(|_| 0)
            .scan(Rng::new(7), |r, _: u64| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let c: Vec<u64> = (0..8)
            .map(|_| 0)
            .scan(Rng::new(8), |r, _: u64| Some(r.next_u64()))
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn known_first_output() {
        // SplitMix64's published first output for seed 0: pins the algorithm so that printed
        // seeds stay replayable.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn case_streams_differ_and_repeat() {
        assert_eq!(
            Rng::for_case(1, 2).next_u64(),
            Rng::for_case(1, 2).next_u64()
        );
        assert_ne!(
            Rng::for_case(1, 2).next_u64(),
            Rng::for_case(1, 3).next_u64()
        );
        assert_ne!(
            Rng::for_case(1, 2).next_u64(),
            Rng::for_case(2, 2).next_u64()
        );
    }

    #[test]
    fn below_and_weighted_stay_in_range() {
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            assert!(r.below(5) < 5);
            let w = r.weighted(&[0, 3, 0, 1]);
            assert!(w == 1 || w == 3, "{w}");
        }
        assert_eq!(r.below(0), 0);
    }
}
