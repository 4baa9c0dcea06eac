//! A small growable bit set used as the "already linearized" part of a memo key.

/// A fixed-size set of operation indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// An empty set able to hold indices `0..len`.
    pub(crate) fn with_len(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_equality() {
        let mut a = BitSet::with_len(130);
        a.insert(0);
        a.insert(129);
        assert!(a.contains(0) && a.contains(129) && !a.contains(64));
        let mut b = BitSet::with_len(130);
        b.insert(129);
        assert_ne!(a, b);
        a.remove(0);
        assert_eq!(a, b);
    }
}
