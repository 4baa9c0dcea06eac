//! Snapshot file names (`<file_prefix>-<timestamp>.snap`) and retention: which files of a
//! config to delete so that only the newest `retain` remain. Pure.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// The timestamp in a file name: UTC, RFC 3339 with `-` for `:` (safe in every file system
/// and object store), milliseconds so two snapshots a second apart never collide. Its text
/// order is its time order.
const STAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]-[minute]-[second].[subsecond digits:3]Z");

/// The suffix of every snapshot file.
pub const SUFFIX: &str = ".snap";

/// The file name of a snapshot of `file_prefix` started at `at`.
pub fn file_name(file_prefix: &str, at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let stamp = utc
        .format(STAMP)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string());
    format!("{file_prefix}-{stamp}{SUFFIX}")
}

/// The start time encoded in `name`, when `name` is a snapshot file of `file_prefix` (and
/// nothing else: other files in the directory or bucket are never touched).
pub fn parse_file_name(file_prefix: &str, name: &str) -> Option<OffsetDateTime> {
    let stamp = name
        .strip_prefix(file_prefix)?
        .strip_prefix('-')?
        .strip_suffix(SUFFIX)?;
    time::PrimitiveDateTime::parse(stamp, STAMP)
        .ok()
        .map(|t| t.assume_utc())
}

/// Of the file names in a snapshot directory (or under an S3 prefix), those of `file_prefix`
/// to delete so that the newest `retain` remain, oldest first. Files that are not snapshots
/// of this prefix are never selected.
pub fn to_delete(file_prefix: &str, names: &[String], retain: u64) -> Vec<String> {
    let mut snaps: Vec<(OffsetDateTime, &String)> = names
        .iter()
        .filter_map(|n| parse_file_name(file_prefix, n).map(|t| (t, n)))
        .collect();
    snaps.sort();
    let keep = usize::try_from(retain).unwrap_or(usize::MAX);
    let excess = snaps.len().saturating_sub(keep);
    snaps
        .into_iter()
        .take(excess)
        .map(|(_, n)| n.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn names_round_trip() {
        let t = datetime!(2026-12-07 03:04:05.678 UTC);
        let n = file_name("vault-snapshot", t);
        assert_eq!(n, "vault-snapshot-2026-12-07T03-04-05.678Z.snap");
        assert_eq!(parse_file_name("vault-snapshot", &n), Some(t));
        // A prefix that is a prefix of another is not confused with it.
        assert_eq!(parse_file_name("vault", &n), None);
        assert_eq!(parse_file_name("vault-snapshot", "notes.txt"), None);
        assert_eq!(
            parse_file_name("vault-snapshot", ".tmp-vault-snapshot-x.snap"),
            None
        );
    }

    #[test]
    fn keeps_the_newest_and_ignores_strangers() {
        let names: Vec<String> = [
            "s-2026-01-03T00-00-00.000Z.snap",
            "s-2026-01-01T00-00-00.000Z.snap",
            "README",
            "other-2020-01-01T00-00-00.000Z.snap",
            "s-2026-01-02T00-00-00.000Z.snap",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            to_delete("s", &names, 1),
            vec![
                "s-2026-01-01T00-00-00.000Z.snap".to_owned(),
                "s-2026-01-02T00-00-00.000Z.snap".to_owned()
            ]
        );
        assert!(to_delete("s", &names, 3).is_empty());
        assert!(to_delete("s", &names, 100).is_empty());
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]

        /// Whatever the listing, exactly the newest `retain` snapshots of the prefix survive.
        #[test]
        fn retention_keeps_exactly_the_newest(
            secs in proptest::collection::btree_set(0i64..4_000_000_000, 0..30),
            retain in 1u64..10,
        ) {
            let times: Vec<OffsetDateTime> = secs
                .iter()
                .filter_map(|s| OffsetDateTime::from_unix_timestamp(*s).ok())
                .collect();
            let mut names: Vec<String> = times.iter().rev().map(|t| file_name("p", *t)).collect();
            names.push("unrelated".into());
            let gone = to_delete("p", &names, retain);
            let kept: Vec<OffsetDateTime> = names
                .iter()
                .filter(|n| !gone.contains(n))
                .filter_map(|n| parse_file_name("p", n))
                .collect();
            let want = times.len().min(retain as usize);
            prop_assert_eq!(kept.len(), want);
            let newest: Vec<OffsetDateTime> = times.iter().rev().take(want).copied().collect();
            for t in newest {
                prop_assert!(kept.contains(&t));
            }
        }
    }
}
