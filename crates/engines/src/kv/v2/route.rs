//! Which KV v2 endpoint a mount-relative path names.

/// A KV v2 endpoint and the key path it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `config`
    Config,
    /// `data/<path>`
    Data(&'a str),
    /// `delete/<path>`
    Delete(&'a str),
    /// `undelete/<path>`
    Undelete(&'a str),
    /// `destroy/<path>`
    Destroy(&'a str),
    /// `metadata/<path>` (also `metadata/` for the root listing)
    Metadata(&'a str),
    /// `subkeys/<path>`
    Subkeys(&'a str),
}

/// Parses a mount-relative path; `None` for paths KV v2 does not serve.
pub(crate) fn parse(path: &str) -> Option<Route<'_>> {
    if path == "config" {
        return Some(Route::Config);
    }
    let (head, rest) = match path.split_once('/') {
        Some((h, r)) => (h, r),
        None => (path, ""),
    };
    let route = match head {
        "data" => Route::Data(rest),
        "delete" => Route::Delete(rest),
        "undelete" => Route::Undelete(rest),
        "destroy" => Route::Destroy(rest),
        "metadata" => Route::Metadata(rest),
        "subkeys" => Route::Subkeys(rest),
        _ => return None,
    };
    Some(route)
}

/// Whether `path` can name a key: non-empty and not a folder.
pub(crate) fn is_key(path: &str) -> bool {
    !path.is_empty() && !path.ends_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("config"), Some(Route::Config));
        assert_eq!(parse("data/a/b"), Some(Route::Data("a/b")));
        assert_eq!(parse("data"), Some(Route::Data("")));
        assert_eq!(parse("metadata/"), Some(Route::Metadata("")));
        assert_eq!(parse("metadata/x/"), Some(Route::Metadata("x/")));
        assert_eq!(parse("delete/k"), Some(Route::Delete("k")));
        assert_eq!(parse("undelete/k"), Some(Route::Undelete("k")));
        assert_eq!(parse("destroy/k"), Some(Route::Destroy("k")));
        assert_eq!(parse("subkeys/k"), Some(Route::Subkeys("k")));
        assert_eq!(parse("foo/bar"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("configx"), None);
    }

    #[test]
    fn key_paths() {
        assert!(is_key("a/b"));
        assert!(!is_key(""));
        assert!(!is_key("a/"));
    }
}
