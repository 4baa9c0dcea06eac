//! Paths of the database engine, relative to the mount.

/// Longest name of a connection or role.
const MAX_NAME_LEN: usize = 128;

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `config/` (LIST).
    ConfigList,
    /// `config/<name>`.
    Config(&'a str),
    /// `reset/<name>`.
    Reset(&'a str),
    /// `rotate-root/<name>`.
    RotateRoot(&'a str),
    /// `roles/` (LIST).
    RoleList,
    /// `roles/<name>`.
    Role(&'a str),
    /// `creds/<name>`.
    Creds(&'a str),
    /// `static-roles/` (LIST).
    StaticRoleList,
    /// `static-roles/<name>`.
    StaticRole(&'a str),
    /// `static-creds/<name>`.
    StaticCreds(&'a str),
    /// `rotate-role/<name>`.
    RotateRole(&'a str),
}

/// Whether `name` is a valid connection or role name: word characters, `-` and `.`, starting
/// and ending with a word character (Vault's pattern), at most 128 bytes.
pub fn valid_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
        && name.chars().next().is_some_and(word)
        && name.chars().last().is_some_and(word)
}

/// The endpoint for `path`, or `None` when nothing is served there (names are checked).
pub fn parse(path: &str) -> Option<Route<'_>> {
    let (head, name) = match path.split_once('/') {
        Some((h, n)) => (h, n),
        None => (path, ""),
    };
    if name.is_empty() {
        return match head {
            "config" => Some(Route::ConfigList),
            "roles" => Some(Route::RoleList),
            "static-roles" => Some(Route::StaticRoleList),
            _ => None,
        };
    }
    if !valid_name(name) {
        return None;
    }
    Some(match head {
        "config" => Route::Config(name),
        "reset" => Route::Reset(name),
        "rotate-root" => Route::RotateRoot(name),
        "roles" => Route::Role(name),
        "creds" => Route::Creds(name),
        "static-roles" => Route::StaticRole(name),
        "static-creds" => Route::StaticCreds(name),
        "rotate-role" => Route::RotateRole(name),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("config/"), Some(Route::ConfigList));
        assert_eq!(parse("config"), Some(Route::ConfigList));
        assert_eq!(parse("config/my-db.1"), Some(Route::Config("my-db.1")));
        assert_eq!(parse("creds/ro"), Some(Route::Creds("ro")));
        assert_eq!(parse("rotate-root/x"), Some(Route::RotateRoot("x")));
        assert_eq!(parse("static-creds/x"), Some(Route::StaticCreds("x")));
        assert_eq!(parse("creds/a/b"), None);
        assert_eq!(parse("creds/-a"), None);
        assert_eq!(parse("nope/a"), None);
        assert_eq!(parse(&format!("roles/{}", "a".repeat(129))), None);
    }
}
