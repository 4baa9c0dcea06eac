//! A counter of changes to chosen keys, raised by the state machine as it applies them.
//!
//! A standby that answers reads itself keeps some state derived from storage in memory (mount
//! tables, parsed policies, audit devices). It must not answer from a version of that state
//! older than its applied log. [`WatchedKeys`] lets it ask "did any key I derive state from
//! change?" with one atomic load: the state machine raises the generation *before* the apply
//! returns, so before openraft reports the new applied index. A reader that waited for the
//! applied index to reach `i` and then reads the generation sees every change up to `i`.
//! Snapshot installs and restores raise it unconditionally (they replace everything).

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Key patterns and the number of applies that touched one of them.
#[derive(Debug, Default)]
pub struct WatchedKeys {
    /// Exact keys, or prefixes when they end with `*`.
    patterns: RwLock<Vec<String>>,
    generation: AtomicU64,
}

impl WatchedKeys {
    /// Replaces the watched patterns (`core/mounts`, `sys/policy/*`, ...) and raises the
    /// generation, since state built under the old patterns may have missed changes.
    pub fn set(&self, patterns: Vec<String>) {
        *self.patterns.write().unwrap_or_else(|e| e.into_inner()) = patterns;
        self.bump();
    }

    /// Whether `key` matches a watched pattern.
    pub fn matches(&self, key: &str) -> bool {
        self.patterns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => key == p,
            })
    }

    /// Records a change to a watched key (or to everything).
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The number of recorded changes so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keys_and_prefixes() {
        let w = WatchedKeys::default();
        assert!(!w.matches("core/mounts"), "nothing watched yet");
        w.set(vec!["core/mounts".into(), "sys/policy/*".into()]);
        assert!(w.matches("core/mounts"));
        assert!(!w.matches("core/mounts2"));
        assert!(!w.matches("core/mount"));
        assert!(w.matches("sys/policy/default"));
        assert!(!w.matches("sys/policyx"));
        assert!(!w.matches("sys/token/id/y"));
    }

    #[test]
    fn every_change_and_every_new_pattern_set_raise_the_generation() {
        let w = WatchedKeys::default();
        let g0 = w.generation();
        w.set(vec!["core/auth".into()]);
        let g1 = w.generation();
        assert!(g1 > g0);
        w.bump();
        assert_eq!(w.generation(), g1 + 1);
    }
}
