//! Which transit endpoint a mount-relative path names.

/// A transit endpoint and the names its path carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `keys` or `keys/` (listing).
    KeyList,
    /// `keys/<name>`
    Key(&'a str),
    /// `keys/<name>/config`
    KeyConfig(&'a str),
    /// `keys/<name>/rotate`
    KeyRotate(&'a str),
    /// `encrypt/<name>`
    Encrypt(&'a str),
    /// `decrypt/<name>`
    Decrypt(&'a str),
    /// `rewrap/<name>`
    Rewrap(&'a str),
    /// `datakey/<plaintext|wrapped>/<name>`
    DataKey {
        /// `plaintext` or `wrapped`, as given.
        kind: &'a str,
        /// The key name.
        name: &'a str,
    },
    /// `export/<key type>/<name>[/<version>]`
    Export {
        /// The exported key type, e.g. `encryption-key`.
        kind: &'a str,
        /// The key name.
        name: &'a str,
        /// `latest`, a version number, or absent for every version.
        version: Option<&'a str>,
    },
    /// `random[/<source>][/<bytes>]`: the remaining segments, unparsed.
    Random(&'a str),
    /// `hash[/<algorithm>]`: the algorithm segment, possibly empty.
    Hash(&'a str),
}

/// Parses a mount-relative path; `None` for paths transit does not serve.
pub(crate) fn parse(path: &str) -> Option<Route<'_>> {
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let route = match (head, parts.as_slice()) {
        ("keys", []) | ("keys", [""]) => Route::KeyList,
        ("keys", [name]) => Route::Key(name),
        ("keys", [name, "config"]) => Route::KeyConfig(name),
        ("keys", [name, "rotate"]) => Route::KeyRotate(name),
        ("encrypt", [name]) => Route::Encrypt(name),
        ("decrypt", [name]) => Route::Decrypt(name),
        ("rewrap", [name]) => Route::Rewrap(name),
        ("datakey", [kind, name]) => Route::DataKey { kind, name },
        ("export", [kind, name]) => Route::Export {
            kind,
            name,
            version: None,
        },
        ("export", [kind, name, version]) => Route::Export {
            kind,
            name,
            version: Some(version),
        },
        ("random", _) => Route::Random(rest),
        ("hash", []) => Route::Hash(""),
        ("hash", [alg]) => Route::Hash(alg),
        _ => return None,
    };
    Some(route)
}

/// Whether `name` is a usable key name: non-empty ASCII letters, digits, `-`, `_` and `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_routes() {
        assert_eq!(parse("keys"), Some(Route::KeyList));
        assert_eq!(parse("keys/"), Some(Route::KeyList));
        assert_eq!(parse("keys/k1"), Some(Route::Key("k1")));
        assert_eq!(parse("keys/k1/config"), Some(Route::KeyConfig("k1")));
        assert_eq!(parse("keys/k1/rotate"), Some(Route::KeyRotate("k1")));
        assert_eq!(parse("keys/k1/other"), None);
    }

    #[test]
    fn crypto_routes() {
        assert_eq!(parse("encrypt/k"), Some(Route::Encrypt("k")));
        assert_eq!(parse("decrypt/k"), Some(Route::Decrypt("k")));
        assert_eq!(parse("rewrap/k"), Some(Route::Rewrap("k")));
        assert_eq!(
            parse("datakey/wrapped/k"),
            Some(Route::DataKey {
                kind: "wrapped",
                name: "k"
            })
        );
        assert_eq!(parse("encrypt"), None);
        assert_eq!(parse("encrypt/a/b"), None);
        assert_eq!(parse("datakey/k"), None);
    }

    #[test]
    fn utility_routes() {
        assert_eq!(parse("random"), Some(Route::Random("")));
        assert_eq!(parse("random/all/16"), Some(Route::Random("all/16")));
        assert_eq!(parse("hash"), Some(Route::Hash("")));
        assert_eq!(parse("hash/sha2-512"), Some(Route::Hash("sha2-512")));
        assert_eq!(
            parse("export/encryption-key/k/2"),
            Some(Route::Export {
                kind: "encryption-key",
                name: "k",
                version: Some("2")
            })
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("nope/x"), None);
    }

    #[test]
    fn names() {
        assert!(valid_name("my-key_1.v2"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a*"));
    }
}
