//! KV path handling, as Vault's CLI does it: probe `sys/internal/ui/mounts/<path>` for the
//! mount path and `options.version`, then for version 2 put the API segment (`data/`,
//! `metadata/`, `delete/`, ...) right after the mount.

use serde_json::Value;

/// What the mount probe said about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvMount {
    /// The mount path with a trailing slash (e.g. `secret/`), empty when unknown.
    pub(crate) mount: String,
    /// KV version, 1 or 2.
    pub(crate) version: u8,
}

/// Interprets the probe's response (`None` for a 404: an old server, treat as version 1).
pub(crate) fn from_probe(body: Option<&Value>) -> KvMount {
    let data = body.and_then(|b| b.get("data"));
    let mount = data
        .and_then(|d| d.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let version = match data
        .and_then(|d| d.get("options"))
        .and_then(|o| o.get("version"))
    {
        Some(Value::String(s)) if s == "2" => 2,
        Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
        _ => 1,
    };
    KvMount { mount, version }
}

/// Trims leading slashes (and, unless `keep_trailing`, trailing ones).
pub(crate) fn sanitize(path: &str, keep_trailing: bool) -> String {
    let p = path.trim_start_matches('/');
    if keep_trailing {
        p.to_owned()
    } else {
        p.trim_end_matches('/').to_owned()
    }
}

/// Joins a `-mount` value and a key.
pub(crate) fn join(mount: &str, key: &str) -> String {
    let m = mount.trim_matches('/');
    let k = key.trim_start_matches('/');
    if k.is_empty() {
        format!("{m}/")
    } else {
        format!("{m}/{k}")
    }
}

/// Inserts `segment` after `mount` in `path`: (`secret/foo`, `secret/`, `data`) →
/// `secret/data/foo`.
pub(crate) fn v2_path(path: &str, mount: &str, segment: &str) -> String {
    let mount_t = mount.trim_end_matches('/');
    let rest = if path == mount_t || path == mount {
        ""
    } else if let Some(r) = path.strip_prefix(mount) {
        r
    } else {
        path.strip_prefix(mount_t)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(path)
    };
    if rest.is_empty() {
        format!("{mount_t}/{segment}")
    } else {
        format!("{mount_t}/{segment}/{rest}")
    }
}

/// Parses `-versions=1,2` into numbers.
pub(crate) fn versions(v: &str) -> Result<Vec<u64>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("invalid version {s:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probe_reading() {
        let b = json!({"data":{"path":"secret/","type":"kv","options":{"version":"2"}}});
        assert_eq!(
            from_probe(Some(&b)),
            KvMount {
                mount: "secret/".into(),
                version: 2
            }
        );
        let b = json!({"data":{"path":"kv/","type":"kv","options":null}});
        assert_eq!(from_probe(Some(&b)).version, 1);
        assert_eq!(from_probe(None).version, 1);
    }

    #[test]
    fn path_rewriting() {
        assert_eq!(v2_path("secret/foo", "secret/", "data"), "secret/data/foo");
        assert_eq!(
            v2_path("secret/a/b", "secret/", "metadata"),
            "secret/metadata/a/b"
        );
        assert_eq!(v2_path("secret", "secret/", "metadata"), "secret/metadata");
        assert_eq!(v2_path("secret/", "secret/", "metadata"), "secret/metadata");
        assert_eq!(v2_path("team/kv/x", "team/kv/", "data"), "team/kv/data/x");
        assert_eq!(join("secret/", "/foo"), "secret/foo");
        assert_eq!(join("secret", ""), "secret/");
        assert_eq!(sanitize("/secret/foo/", false), "secret/foo");
        assert_eq!(sanitize("/secret/foo/", true), "secret/foo/");
        assert_eq!(versions("1, 3").unwrap(), vec![1, 3]);
        assert!(versions("1,x").is_err());
    }
}
