//! KV v2 state (mount config, per-key metadata) and the pure transitions on it.
//!
//! Nothing here does I/O: handlers load the state, call these functions with "now" and store
//! what they return, so every rule is unit-tested without storage or a runtime.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tresor_sdk::LogicalError;

use crate::clock::add_secs;

/// Versions kept per key when neither the key nor the mount says otherwise.
pub(crate) const DEFAULT_MAX_VERSIONS: u64 = 10;

/// The mount-wide settings at `config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Config {
    /// Versions kept per key (0 = [`DEFAULT_MAX_VERSIONS`]).
    #[serde(default)]
    pub(crate) max_versions: u64,
    /// Whether every write must carry `options.cas`.
    #[serde(default)]
    pub(crate) cas_required: bool,
    /// Seconds after which a new version is deleted (0 = never).
    #[serde(default)]
    pub(crate) delete_version_after: u64,
}

/// The bookkeeping of one version of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    /// When the version was written (ns since the epoch).
    pub(crate) created_ns: i64,
    /// When the version is (or was) soft-deleted; may lie in the future.
    #[serde(default)]
    pub(crate) deletion_ns: Option<i64>,
    /// Whether the version's data has been removed for good.
    #[serde(default)]
    pub(crate) destroyed: bool,
}

impl VersionMeta {
    /// Deleted as of `now` (a deletion time in the future does not count yet).
    pub(crate) fn is_deleted(&self, now: i64) -> bool {
        self.deletion_ns.is_some_and(|d| d <= now)
    }

    /// Readable as of `now`.
    pub(crate) fn is_live(&self, now: i64) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// Everything known about one key, stored at `meta/<path>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyMeta {
    /// When the key was first created.
    pub(crate) created_ns: i64,
    /// When the key or its metadata last changed.
    pub(crate) updated_ns: i64,
    /// The newest version number (0 = none written yet).
    pub(crate) current_version: u64,
    /// The oldest version still tracked, as Vault reports it (0 until pruning happened).
    pub(crate) oldest_version: u64,
    /// Per-key override of the number of versions kept (0 = the mount's).
    pub(crate) max_versions: u64,
    /// Per-key check-and-set requirement (or-ed with the mount's).
    pub(crate) cas_required: bool,
    /// Per-key automatic deletion delay in seconds (0 = the mount's).
    pub(crate) delete_version_after: u64,
    /// User-supplied string metadata.
    pub(crate) custom_metadata: Option<BTreeMap<String, String>>,
    /// Tracked versions by number.
    pub(crate) versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMeta {
    /// Metadata of a key that has no versions yet.
    pub(crate) fn new(now: i64) -> Self {
        Self {
            created_ns: now,
            updated_ns: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            versions: BTreeMap::new(),
        }
    }

    /// Versions kept for this key: the key's setting, else the mount's, else 10.
    pub(crate) fn effective_max_versions(&self, config: &Config) -> u64 {
        [self.max_versions, config.max_versions]
            .into_iter()
            .find(|v| *v > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Automatic deletion delay for new versions: the shorter of the key's and the mount's
    /// settings among those that are set (0 = none).
    pub(crate) fn effective_delete_after(&self, config: &Config) -> u64 {
        match (self.delete_version_after, config.delete_version_after) {
            (0, c) => c,
            (k, 0) => k,
            (k, c) => k.min(c),
        }
    }

    /// Checks a write's `cas` option against the current version.
    pub(crate) fn check_cas(&self, config: &Config, cas: Option<u64>) -> Result<(), LogicalError> {
        match cas {
            None if config.cas_required || self.cas_required => Err(LogicalError::invalid(
                "check-and-set parameter required for this call",
            )),
            None => Ok(()),
            Some(c) if c == self.current_version => Ok(()),
            Some(_) => Err(LogicalError::invalid(
                "check-and-set parameter did not match the current version",
            )),
        }
    }

    /// Records a new version written at `now`. Returns its number and the versions pruned
    /// beyond the kept maximum (whose data must be removed).
    pub(crate) fn add_version(&mut self, config: &Config, now: i64) -> (u64, Vec<u64>) {
        let version = self.current_version.saturating_add(1);
        let delete_after = self.effective_delete_after(config);
        self.versions.insert(
            version,
            VersionMeta {
                created_ns: now,
                deletion_ns: (delete_after > 0).then(|| add_secs(now, delete_after)),
                destroyed: false,
            },
        );
        self.current_version = version;
        self.updated_ns = now;
        let keep = self.effective_max_versions(config);
        let first_kept = version.saturating_sub(keep).saturating_add(1);
        let pruned: Vec<u64> = self.versions.range(..first_kept).map(|(v, _)| *v).collect();
        if !pruned.is_empty() {
            for v in &pruned {
                self.versions.remove(v);
            }
            self.oldest_version = self.versions.keys().next().copied().unwrap_or(version);
        }
        (version, pruned)
    }

    /// Soft-deletes the current version (unless already deleted or destroyed).
    /// Returns whether anything changed.
    pub(crate) fn delete_latest(&mut self, now: i64) -> bool {
        let current = self.current_version;
        self.soft_delete(&[current], now)
    }

    /// Soft-deletes the given versions as of `now`; unknown, destroyed and already deleted
    /// versions are skipped. Returns whether anything changed.
    pub(crate) fn soft_delete(&mut self, versions: &[u64], now: i64) -> bool {
        let mut changed = false;
        for v in versions {
            if let Some(vm) = self.versions.get_mut(v)
                && !vm.destroyed
                && !vm.is_deleted(now)
            {
                vm.deletion_ns = Some(now);
                changed = true;
            }
        }
        if changed {
            self.updated_ns = now;
        }
        changed
    }

    /// Clears the deletion time of the given versions (destroyed ones stay destroyed).
    /// Returns whether anything changed.
    pub(crate) fn undelete(&mut self, versions: &[u64], now: i64) -> bool {
        let mut changed = false;
        for v in versions {
            if let Some(vm) = self.versions.get_mut(v)
                && !vm.destroyed
                && vm.deletion_ns.is_some()
            {
                vm.deletion_ns = None;
                changed = true;
            }
        }
        if changed {
            self.updated_ns = now;
        }
        changed
    }

    /// Marks the given versions destroyed. Returns the versions newly destroyed, whose data
    /// must be removed.
    pub(crate) fn destroy(&mut self, versions: &[u64], now: i64) -> Vec<u64> {
        let mut out = Vec::new();
        for v in versions {
            if let Some(vm) = self.versions.get_mut(v)
                && !vm.destroyed
            {
                vm.destroyed = true;
                out.push(*v);
            }
        }
        if !out.is_empty() {
            self.updated_ns = now;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn written(n: u64, config: &Config) -> KeyMeta {
        let mut m = KeyMeta::new(0);
        for i in 0..n {
            m.add_version(config, i as i64 * S);
        }
        m
    }

    #[test]
    fn versions_count_up_from_one() {
        let m = written(3, &Config::default());
        assert_eq!(m.current_version, 3);
        assert_eq!(
            m.versions.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(m.oldest_version, 0, "no pruning yet");
        assert_eq!(m.updated_ns, 2 * S);
    }

    #[test]
    fn pruning_keeps_newest_max_versions() {
        let config = Config {
            max_versions: 3,
            ..Config::default()
        };
        let mut m = written(3, &config);
        let (v, pruned) = m.add_version(&config, 10 * S);
        assert_eq!((v, pruned), (4, vec![1]));
        assert_eq!(m.oldest_version, 2);
        m.max_versions = 1;
        let (v, pruned) = m.add_version(&config, 11 * S);
        assert_eq!((v, pruned), (5, vec![2, 3, 4]));
        assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), vec![5]);
        assert_eq!(m.oldest_version, 5);
    }

    #[test]
    fn default_max_versions_is_ten() {
        let m = written(12, &Config::default());
        assert_eq!(m.versions.len(), 10);
        assert_eq!(m.oldest_version, 3);
    }

    #[test]
    fn cas_rules() {
        let config = Config::default();
        let fresh = KeyMeta::new(0);
        assert!(fresh.check_cas(&config, None).is_ok());
        assert!(fresh.check_cas(&config, Some(0)).is_ok());
        let err = fresh.check_cas(&config, Some(1)).unwrap_err().to_string();
        assert_eq!(
            err,
            "check-and-set parameter did not match the current version"
        );
        let two = written(2, &config);
        assert!(two.check_cas(&config, Some(2)).is_ok());
        assert!(two.check_cas(&config, Some(0)).is_err());
        let strict = Config {
            cas_required: true,
            ..Config::default()
        };
        assert_eq!(
            two.check_cas(&strict, None).unwrap_err().to_string(),
            "check-and-set parameter required for this call"
        );
        let mut per_key = two.clone();
        per_key.cas_required = true;
        assert!(per_key.check_cas(&config, None).is_err());
        assert!(per_key.check_cas(&config, Some(2)).is_ok());
    }

    #[test]
    fn delete_after_sets_future_deletion_time() {
        let config = Config {
            delete_version_after: 60,
            ..Config::default()
        };
        let mut m = KeyMeta::new(0);
        m.add_version(&config, 5 * S);
        let vm = &m.versions[&1];
        assert_eq!(vm.deletion_ns, Some(65 * S));
        assert!(vm.is_live(64 * S));
        assert!(!vm.is_live(65 * S));
        m.delete_version_after = 30;
        assert_eq!(m.effective_delete_after(&config), 30);
        m.delete_version_after = 90;
        assert_eq!(m.effective_delete_after(&config), 60);
        assert_eq!(m.effective_delete_after(&Config::default()), 90);
    }

    #[test]
    fn delete_undelete_destroy_transitions() {
        let mut m = written(3, &Config::default());
        assert!(m.delete_latest(10 * S));
        assert_eq!(m.versions[&3].deletion_ns, Some(10 * S));
        assert!(!m.delete_latest(11 * S), "already deleted");
        assert_eq!(m.versions[&3].deletion_ns, Some(10 * S));
        assert!(
            m.soft_delete(&[1, 7], 12 * S),
            "unknown versions are skipped"
        );
        assert!(!m.versions[&1].is_live(12 * S));
        assert!(m.versions[&2].is_live(12 * S));
        assert!(m.undelete(&[1, 3, 9], 13 * S));
        assert!(m.versions[&1].is_live(13 * S) && m.versions[&3].is_live(13 * S));
        assert!(!m.undelete(&[1], 14 * S), "nothing to undelete");
        assert_eq!(m.destroy(&[2, 8], 15 * S), vec![2]);
        assert!(m.destroy(&[2], 16 * S).is_empty(), "already destroyed");
        assert!(!m.undelete(&[2], 17 * S), "destroyed stays destroyed");
        assert!(!m.soft_delete(&[2], 17 * S), "destroyed cannot be deleted");
        assert!(m.versions[&2].destroyed && !m.versions[&2].is_live(17 * S));
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let mut m = written(2, &Config::default());
        m.custom_metadata = Some(BTreeMap::from([("a".into(), "b".into())]));
        let back: KeyMeta = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
