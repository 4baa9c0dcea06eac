//! The one canonical form of a request path.
//!
//! Every decision the core makes about a request (ACL, sudo, parameter constraints, create vs
//! update) and the backend that serves it must look at the same string. [`CanonicalPath`] is
//! that string: it can only be built by [`canonicalize`], which turns the path of an HTTP
//! request into it or says why it cannot, so a path that reached the core has been checked
//! once and is never trimmed or rewritten afterwards.
//!
//! The rules, decided as OpenBao 2.7.2 (the differential tests' reference) decides them, and
//! refusing outright where it would route a confusing path (as Vault ≥ 1.21.5 does):
//!
//! * Malformed percent escapes, bytes that are not UTF-8 and control characters (NUL
//!   included) are refused first.
//! * A raw (still percent-encoded) path that is not clean (`//`, `/./`, `/../`, a trailing
//!   `/.` or `/..`) is answered with a redirect to the clean path ([`Verdict::Redirect`]),
//!   Go's `path.Clean` rules, a trailing slash kept.
//! * Percent escapes are then decoded (`%2F` is a `/`, `+` stays a `+`).
//! * A decoded path whose segments are `.` or `..` is refused ("relative paths not
//!   supported"), and so is one with an empty segment (`%2F%2F`) or a leading `/`: those
//!   only appear through encoded separators, and no client needs them.
//! * A trailing `/` is kept: it means "a directory" (lists, and writes are refused there).

use std::fmt;

/// A request path after `/v1/`, in its one canonical form. Only [`canonicalize`] builds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalPath(String);

/// What [`canonicalize`] decided about a request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The path is canonical; here it is, decoded, without the `/v1/` prefix.
    Canonical(CanonicalPath),
    /// The raw path is not clean: answer with a redirect to this (still encoded) path, which
    /// starts with `/`.
    Redirect(String),
    /// The path is not under `/v1/` (answered with 404).
    NotApi,
    /// The path cannot be served (answered with 400), with the reason.
    Invalid(&'static str),
}

/// Why a path was refused.
pub const RELATIVE_PATHS: &str = "relative paths not supported";
/// Why a path with an empty segment (from an encoded `/`) was refused.
pub const EMPTY_SEGMENT: &str = "paths with empty segments are not supported";
/// Why a path with a malformed percent escape was refused.
pub const BAD_ESCAPE: &str = "invalid URL escape in path";
/// Why a path with control characters or non-UTF-8 bytes was refused.
pub const BAD_CHARACTER: &str = "invalid character in path";

/// The API prefix every logical and sys path is served under.
const API_PREFIX: &str = "/v1/";

/// Decides what to do with the path of an HTTP request (`raw`: the request target's path,
/// still percent-encoded, without the query).
pub fn canonicalize(raw: &str) -> Verdict {
    // Malformed escapes and control characters are refused before anything else, as Go's
    // server (OpenBao's) refuses them before routing: a NUL is never redirected.
    if let Err(reason) = decode(raw) {
        return Verdict::Invalid(reason);
    }
    let clean = clean(raw);
    if clean != raw {
        return Verdict::Redirect(clean);
    }
    let Some(rest) = raw.strip_prefix(API_PREFIX) else {
        return Verdict::NotApi;
    };
    let decoded = match decode(rest) {
        Ok(d) => d,
        Err(reason) => return Verdict::Invalid(reason),
    };
    match check_segments(&decoded) {
        Ok(()) => Verdict::Canonical(CanonicalPath(decoded)),
        Err(reason) => Verdict::Invalid(reason),
    }
}

/// Go's `path.Clean` for a request path, a trailing slash kept (as Go's HTTP mux does): `//`
/// collapses, `.` goes, `..` removes the segment before it and never climbs above `/`.
pub fn clean(raw: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut cleaned = String::with_capacity(raw.len() + 1);
    for seg in &out {
        cleaned.push('/');
        cleaned.push_str(seg);
    }
    if cleaned.is_empty() {
        return "/".to_owned();
    }
    // Go keeps a trailing slash only when the original path ended with one.
    if raw.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// Decodes `%XX` escapes of a path (`+` is a literal plus in a path).
fn decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(BAD_ESCAPE)?;
            let hi = hex_value(hex[0]).ok_or(BAD_ESCAPE)?;
            let lo = hex_value(hex[1]).ok_or(BAD_ESCAPE)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).map_err(|_| BAD_CHARACTER)?;
    if text.chars().any(char::is_control) {
        return Err(BAD_CHARACTER);
    }
    Ok(text)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A decoded path may end with one `/`; otherwise every segment is a name.
fn check_segments(decoded: &str) -> Result<(), &'static str> {
    let body = decoded.strip_suffix('/').unwrap_or(decoded);
    if body.is_empty() {
        // "" (the API root) or "/" alone.
        return if decoded.is_empty() {
            Ok(())
        } else {
            Err(EMPTY_SEGMENT)
        };
    }
    for seg in body.split('/') {
        match seg {
            "." | ".." => return Err(RELATIVE_PATHS),
            "" => return Err(EMPTY_SEGMENT),
            _ => {}
        }
    }
    Ok(())
}

impl CanonicalPath {
    /// The path as the core and the backends see it (no leading `/`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path ends with `/` (a directory: lists, never writes).
    pub fn is_directory(&self) -> bool {
        self.0.ends_with('/')
    }

    /// The same path with a trailing `/`, as a LIST request sees it (Vault lists a
    /// directory). The empty path stays empty.
    pub fn into_directory(mut self) -> CanonicalPath {
        if !self.0.is_empty() && !self.0.ends_with('/') {
            self.0.push('/');
        }
        self
    }

    /// The path with everything after `prefix` lower-cased, when it starts with `prefix`
    /// (policy names are case-insensitive and decided lower-case). Lower-casing keeps the
    /// path canonical: it adds no separator and no relative segment.
    pub fn lowercase_after(self, prefix: &str) -> CanonicalPath {
        match self.0.strip_prefix(prefix) {
            Some(rest) if rest.chars().any(char::is_uppercase) => {
                CanonicalPath(format!("{prefix}{}", rest.to_lowercase()))
            }
            _ => self,
        }
    }

    /// The part after `prefix` (a mount path such as `secret/`), if the path is under it.
    pub fn relative_to(&self, prefix: &str) -> Option<&str> {
        self.0.strip_prefix(prefix)
    }

    /// Parses a path given by a trusted caller (an internal request, a test) under the same
    /// rules as a request path: `None` when it is not already canonical.
    pub fn parse(path: &str) -> Option<CanonicalPath> {
        // Taken literally (nothing to decode), a text is canonical when its segments are.
        if path.chars().any(char::is_control) {
            return None;
        }
        check_segments(path)
            .ok()
            .map(|()| CanonicalPath(path.to_owned()))
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CanonicalPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(p: &str) -> String {
        match canonicalize(p) {
            Verdict::Canonical(c) => c.0,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn clean_follows_go_path_clean_with_trailing_slash() {
        assert_eq!(clean("/v1/secret//data/x"), "/v1/secret/data/x");
        assert_eq!(clean("/v1/secret/./data/x"), "/v1/secret/data/x");
        assert_eq!(clean("/v1/secret/y/../data/x"), "/v1/secret/data/x");
        assert_eq!(clean("/v1/secret/data/x/."), "/v1/secret/data/x");
        assert_eq!(clean("/v1/secret/data/x/./"), "/v1/secret/data/x/");
        assert_eq!(clean("/v1/secret/data/x/"), "/v1/secret/data/x/");
        assert_eq!(clean("/../../v1/x"), "/v1/x");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean(""), "/");
        assert_eq!(clean("v1/x"), "/v1/x");
        assert_eq!(clean("/v1/.."), "/");
    }

    #[test]
    fn unclean_raw_paths_redirect() {
        assert_eq!(
            canonicalize("/v1/secret//data/admin/db"),
            Verdict::Redirect("/v1/secret/data/admin/db".into())
        );
        assert_eq!(
            canonicalize("/v1/auth/token//revoke-orphan"),
            Verdict::Redirect("/v1/auth/token/revoke-orphan".into())
        );
        assert_eq!(
            canonicalize("/v1/secret/data/a%20b//c"),
            Verdict::Redirect("/v1/secret/data/a%20b/c".into())
        );
    }

    #[test]
    fn decoded_paths() {
        assert_eq!(canon("/v1/secret%2Fdata/admin/db"), "secret/data/admin/db");
        assert_eq!(canon("/v1/secret/data/a+b"), "secret/data/a+b");
        assert_eq!(canon("/v1/secret/data/a%20b"), "secret/data/a b");
        assert_eq!(
            canon("/v1/sys/policies/acl/default/"),
            "sys/policies/acl/default/"
        );
        assert_eq!(canon("/v1/"), "");
        assert_eq!(canon("/v1/secret/data/%C3%A9"), "secret/data/é");
    }

    #[test]
    fn refused_paths() {
        let invalid = |p: &str| match canonicalize(p) {
            Verdict::Invalid(r) => r,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(invalid("/v1/secret/data/%2E%2E/x"), RELATIVE_PATHS);
        assert_eq!(invalid("/v1/secret/data/%2e"), RELATIVE_PATHS);
        assert_eq!(invalid("/v1/secret%2F%2Fdata/x"), EMPTY_SEGMENT);
        assert_eq!(invalid("/v1/%2Fsecret"), EMPTY_SEGMENT);
        assert_eq!(invalid("/v1/%2F"), EMPTY_SEGMENT);
        assert_eq!(invalid("/v1/secret/data/x%00"), BAD_CHARACTER);
        assert_eq!(invalid("/v1/secret/data/x%0a"), BAD_CHARACTER);
        assert_eq!(invalid("/v1/secret/data/%ff"), BAD_CHARACTER);
        assert_eq!(invalid("/v1/secret/data/%zz"), BAD_ESCAPE);
        assert_eq!(invalid("/v1/secret/data/%2"), BAD_ESCAPE);
        assert_eq!(canonicalize("/v2/x"), Verdict::NotApi);
        // Refused before any redirect, as OpenBao does.
        assert_eq!(invalid("/v1/sys//c%00apabilities-self"), BAD_CHARACTER);
        assert_eq!(invalid("/v1//x/%zz"), BAD_ESCAPE);
        assert_eq!(canonicalize("/v1"), Verdict::NotApi);
    }

    #[test]
    fn list_and_lowercase_keep_the_path_canonical() {
        let p = CanonicalPath::parse("auth/token/accessors").unwrap();
        assert_eq!(p.clone().into_directory().as_str(), "auth/token/accessors/");
        assert_eq!(
            p.into_directory().into_directory().as_str(),
            "auth/token/accessors/"
        );
        let p = CanonicalPath::parse("sys/policies/acl/DeFault").unwrap();
        assert_eq!(
            p.lowercase_after("sys/policies/acl/").as_str(),
            "sys/policies/acl/default"
        );
    }

    #[test]
    fn parse_accepts_only_canonical_text() {
        assert!(CanonicalPath::parse("secret/data/x").is_some());
        assert!(CanonicalPath::parse("secret/data/x/").is_some());
        assert!(CanonicalPath::parse("secret/data/100%").is_some());
        assert!(CanonicalPath::parse("secret/data/é").is_some());
        assert!(CanonicalPath::parse("secret//x").is_none());
        assert!(CanonicalPath::parse("/secret").is_none());
        assert!(CanonicalPath::parse("secret/../x").is_none());
        assert!(CanonicalPath::parse("secret/./x").is_none());
        assert!(CanonicalPath::parse("secret/x\0").is_none());
        assert!(CanonicalPath::parse("secret/é/../x").is_none());
    }
}
