//! SQL statements as operators write them: splitting a multi-statement string on `;` (outside
//! quotes, dollar-quoted bodies and comments, so a `DO $$ ... ; ... $$` block stays whole),
//! substituting `{{name}}`-style placeholders, and the defaults of the PostgreSQL plugin.
//!
//! Statements are split before substitution, so a substituted value can never start a new
//! statement; values that would leave a quoted context (quotes, backslashes, control
//! characters) are refused by [`check_substitutable`].

/// Longest statement string accepted (one entry of a statements list), bytes.
pub const MAX_STATEMENT_LEN: usize = 64 * 1024;
/// Most entries in one statements list.
pub const MAX_STATEMENTS: usize = 64;

/// Default renewal: move the role's expiry.
pub const DEFAULT_RENEW: &str = r#"ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';"#;
/// Default root rotation (and static-role rotation): set the password.
pub const DEFAULT_ROTATE: &str = r#"ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}';"#;

/// Splits `text` into statements on `;`, ignoring semicolons inside single-quoted strings,
/// double-quoted identifiers, dollar-quoted strings (`$$...$$`, `$tag$...$tag$`), `--` line
/// comments and `/* */` block comments. Empty statements are dropped; each is trimmed.
pub fn split(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        // a doubled quote is an escaped quote
                        if bytes.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'$' => {
                // $tag$ where tag is empty or an identifier not starting with a digit
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                let tag_ok = j < bytes.len()
                    && bytes[j] == b'$'
                    && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                if tag_ok {
                    let tag = &text[i..=j];
                    match text[j + 1..].find(tag) {
                        Some(end) => i = j + 1 + end + tag.len(),
                        None => i = bytes.len(),
                    }
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(&mut out, &text[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(&mut out, &text[start.min(text.len())..]);
    out
}

fn push(out: &mut Vec<String>, piece: &str) {
    let t = piece.trim();
    if !t.is_empty() {
        out.push(t.to_owned());
    }
}

/// Replaces each `{{key}}` in `stmt` with its value (unknown placeholders are left as they are,
/// as Vault does).
pub fn substitute(stmt: &str, values: &[(&str, &str)]) -> String {
    let mut out = stmt.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Whether `value` can be put inside a quoted identifier or string literal of a statement:
/// no quotes, backslashes, NUL or other control characters, and not empty.
pub fn check_substitutable(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c == '"' || c == '\'' || c == '\\' || c.is_control())
}

/// Checks a statements list from a request: bounded in count and size.
pub fn check_list(field: &str, list: &[String]) -> Result<(), String> {
    if list.len() > MAX_STATEMENTS {
        return Err(format!("{field}: at most {MAX_STATEMENTS} entries"));
    }
    if list.iter().any(|s| s.len() > MAX_STATEMENT_LEN) {
        return Err(format!(
            "{field}: an entry is longer than {MAX_STATEMENT_LEN} bytes"
        ));
    }
    Ok(())
}

/// Every statement of `list`, split, in order.
pub fn split_all(list: &[String]) -> Vec<String> {
    list.iter().flat_map(|s| split(s)).collect()
}

/// Quotes `name` as a PostgreSQL identifier (`"a""b"`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_outside_quotes() {
        assert_eq!(
            split("CREATE ROLE \"a;b\" WITH PASSWORD 'x;y''z'; GRANT SELECT ON t TO \"a;b\";"),
            vec![
                "CREATE ROLE \"a;b\" WITH PASSWORD 'x;y''z'",
                "GRANT SELECT ON t TO \"a;b\""
            ]
        );
        assert_eq!(
            split("DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; SELECT 1"),
            vec!["DO $$ BEGIN PERFORM 1; PERFORM 2; END $$", "SELECT 1"]
        );
        assert_eq!(
            split("DO $body$ x; $$ y; $body$;SELECT $1;"),
            vec!["DO $body$ x; $$ y; $body$", "SELECT $1"]
        );
        assert_eq!(
            split("SELECT 1 -- a; comment\n; /* b; */ SELECT 2"),
            vec!["SELECT 1 -- a; comment", "/* b; */ SELECT 2"]
        );
        assert_eq!(split(" ; ;; "), Vec::<String>::new());
        assert_eq!(
            split("SELECT 'unterminated; x"),
            vec!["SELECT 'unterminated; x"]
        );
    }

    #[test]
    fn substitutes_and_checks() {
        assert_eq!(
            substitute(
                "CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' {{other}}",
                &[("name", "v-x"), ("password", "pw")]
            ),
            "CREATE ROLE \"v-x\" PASSWORD 'pw' {{other}}"
        );
        assert!(check_substitutable("v-token-ro-AbC123-1700000000"));
        assert!(check_substitutable("user@example.com"));
        for bad in ["", "a\"b", "a'b", "a\\b", "a\nb", "a\0b"] {
            assert!(!check_substitutable(bad), "{bad:?}");
        }
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]

        /// Splitting loses no non-whitespace text outside the separators, never panics, and
        /// joining statements without quotes or comments splits back to them.
        #[test]
        fn split_roundtrip(parts in proptest::collection::vec("[A-Za-z0-9 _(),=*]{1,20}", 0..8)) {
            let parts: Vec<String> = parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
            let joined = parts.join(";");
            prop_assert_eq!(split(&joined), parts);
        }

        #[test]
        fn split_never_panics(text in "\\PC{0,200}") {
            let pieces = split(&text);
            for p in &pieces {
                prop_assert!(!p.is_empty());
                prop_assert!(text.contains(p.as_str()));
            }
        }
    }
}
