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
    /// `keys/<name>/trim`
    KeyTrim(&'a str),
    /// `sign/<name>[/<hash_algorithm>]`: the name and the algorithm segment (possibly empty).
    Sign(&'a str, &'a str),
    /// `verify/<name>[/<hash_algorithm>]`
    Verify(&'a str, &'a str),
    /// `hmac/<name>[/<algorithm>]`
    Hmac(&'a str, &'a str),
    /// `backup/<name>`
    Backup(&'a str),
    /// `restore` or `restore/<name>`
    Restore(Option<&'a str>),
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
        ("keys", [name, "trim"]) => Route::KeyTrim(name),
        ("sign", [name]) => Route::Sign(name, ""),
        ("sign", [name, alg]) => Route::Sign(name, alg),
        ("verify", [name]) => Route::Verify(name, ""),
        ("verify", [name, alg]) => Route::Verify(name, alg),
        ("hmac", [name]) => Route::Hmac(name, ""),
        ("hmac", [name, alg]) => Route::Hmac(name, alg),
        ("backup", [name]) => Route::Backup(name),
        ("restore", []) | ("restore", [""]) => Route::Restore(None),
        ("restore", [name]) => Route::Restore(Some(name)),
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
        assert_eq!(parse("keys/k1/trim"), Some(Route::KeyTrim("k1")));
        assert_eq!(parse("keys/k1/other"), None);
        assert_eq!(parse("backup/k"), Some(Route::Backup("k")));
        assert_eq!(parse("backup"), None);
        assert_eq!(parse("restore"), Some(Route::Restore(None)));
        assert_eq!(parse("restore/k"), Some(Route::Restore(Some("k"))));
        assert_eq!(parse("restore/a/b"), None);
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
        assert_eq!(parse("sign/k"), Some(Route::Sign("k", "")));
        assert_eq!(parse("sign/k/sha2-512"), Some(Route::Sign("k", "sha2-512")));
        assert_eq!(parse("verify/k"), Some(Route::Verify("k", "")));
        assert_eq!(parse("verify/k/none"), Some(Route::Verify("k", "none")));
        assert_eq!(parse("hmac/k/sha3-256"), Some(Route::Hmac("k", "sha3-256")));
        assert_eq!(parse("hmac"), None);
        assert_eq!(parse("sign/a/b/c"), None);
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
