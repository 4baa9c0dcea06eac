//! The expiry index: where a token that expires is listed by its expiry time, so finding the
//! tokens due at `now` reads a few small folders instead of every token.
//!
//! Key: `expiry/<day>/<minute>/<hash>` where `day = expire_time / 86400` and
//! `minute = expire_time / 60`, both zero-padded so that the storage's sorted listing is in
//! time order. A scan lists the days (one name per day that has expiring tokens), opens only
//! the days not after today, then only the minutes not after now, and reads the tokens there.
//! The token record stays the authority: an index entry whose token is missing or expires at
//! another time is stale and deleted by the scan.

/// Folder of the index inside the token store's view.
pub(crate) const EXPIRY_PREFIX: &str = "expiry/";

const DAY: u64 = 86_400;
const MINUTE: u64 = 60;
const DAY_WIDTH: usize = 12;
const MINUTE_WIDTH: usize = 14;

/// The index key of the token stored under `hash` that expires at `expire_time`.
pub(crate) fn expiry_key(expire_time: u64, hash: &str) -> String {
    format!(
        "{EXPIRY_PREFIX}{}{}{hash}",
        day_folder(expire_time),
        minute_folder(expire_time)
    )
}

/// The day folder (`<day>/`) an expiry time falls in.
fn day_folder(expire_time: u64) -> String {
    format!("{:0DAY_WIDTH$}/", expire_time / DAY)
}

/// The minute folder (`<minute>/`) an expiry time falls in.
fn minute_folder(expire_time: u64) -> String {
    format!("{:0MINUTE_WIDTH$}/", expire_time / MINUTE)
}

/// Parses a listed folder name (`<digits>/`) of the given width.
fn parse_folder(name: &str, width: usize) -> Option<u64> {
    let digits = name.strip_suffix('/')?;
    if digits.len() != width || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether the listed day folder `name` may hold tokens due at `now`. `None` for names that
/// are not day folders (ignored by the scan).
pub(crate) fn day_due(name: &str, now: u64) -> Option<bool> {
    parse_folder(name, DAY_WIDTH).map(|d| d <= now / DAY)
}

/// Whether the listed minute folder `name` may hold tokens due at `now`. `None` for names
/// that are not minute folders.
pub(crate) fn minute_due(name: &str, now: u64) -> Option<bool> {
    parse_folder(name, MINUTE_WIDTH).map(|m| m <= now / MINUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_time_order() {
        let times = [0, 59, 60, 86_399, 86_400, 1_700_000_000, 99_999_999_999];
        let keys: Vec<String> = times.iter().map(|t| expiry_key(*t, "h")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            expiry_key(1_700_000_061, "abc"),
            "expiry/000000019675/00000028333334/abc"
        );
    }

    #[test]
    fn due_folders() {
        let t = 1_700_000_061;
        let key = expiry_key(t, "h");
        let rest = key.strip_prefix(EXPIRY_PREFIX).unwrap_or_default();
        let (day, rest) = rest.split_at(DAY_WIDTH + 1);
        let (minute, _) = rest.split_at(MINUTE_WIDTH + 1);
        assert_eq!(day_due(day, t), Some(true));
        assert_eq!(day_due(day, t - DAY), Some(false));
        assert_eq!(minute_due(minute, t), Some(true));
        // The minute folder is due from its first second on; the scan checks each token.
        let minute_start = t - t % MINUTE;
        assert_eq!(minute_due(minute, minute_start), Some(true));
        assert_eq!(minute_due(minute, minute_start - 1), Some(false));
        assert_eq!(day_due("abc/", t), None);
        assert_eq!(day_due("000000019675", t), None, "a leaf, not a folder");
        assert_eq!(minute_due(day, t), None, "wrong width");
    }
}
