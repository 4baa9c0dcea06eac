//! Parsing a go-discover style query: space-separated `key=value` pairs, values optionally
//! double-quoted (`\"` and `\\` escape inside quotes). Pure; error messages name keys and
//! positions but never echo values, which may be secrets.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::DiscoverError;
use crate::aws_spec::AwsSpec;

/// Providers [`DiscoverSpec::parse`] accepts.
pub const SUPPORTED_PROVIDERS: &[&str] = &["aws"];

/// The `key=value` pairs of a query, values zeroized on drop.
pub(crate) type Pairs = BTreeMap<String, Zeroizing<String>>;

/// A parsed auto-join query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoverSpec {
    /// `provider=aws`: EC2 instances by tag.
    Aws(AwsSpec),
}

impl DiscoverSpec {
    /// Parses `provider=aws region=... tag_key=... tag_value=...`.
    pub fn parse(spec: &str) -> Result<DiscoverSpec, DiscoverError> {
        let mut pairs = parse_pairs(spec)?;
        let provider = pairs
            .remove("provider")
            .ok_or_else(|| DiscoverError::spec("missing provider (e.g. provider=aws)"))?;
        match provider.as_str() {
            "aws" => Ok(DiscoverSpec::Aws(AwsSpec::from_pairs(pairs)?)),
            other => Err(DiscoverError::UnsupportedProvider(other.to_owned())),
        }
    }

    /// The provider name, e.g. `aws`.
    pub fn provider(&self) -> &'static str {
        match self {
            DiscoverSpec::Aws(_) => "aws",
        }
    }
}

/// Splits a query into its pairs. A key may appear once.
pub(crate) fn parse_pairs(spec: &str) -> Result<Pairs, DiscoverError> {
    let mut pairs = Pairs::new();
    let mut chars = spec.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        loop {
            match chars.next() {
                Some((_, '=')) => break,
                Some((_, c)) if c.is_whitespace() => {
                    return Err(no_equals(start));
                }
                Some((_, '"')) => {
                    return Err(DiscoverError::spec(format!(
                        "unexpected quote in a key at position {start}"
                    )));
                }
                Some((_, c)) => key.push(c),
                None => return Err(no_equals(start)),
            }
        }
        if key.is_empty() {
            return Err(DiscoverError::spec(format!(
                "empty key before '=' at position {start}"
            )));
        }
        let value = read_value(&mut chars, &key)?;
        if pairs.insert(key.clone(), value).is_some() {
            return Err(DiscoverError::spec(format!(
                "{key} is given more than once"
            )));
        }
    }
    Ok(pairs)
}

fn no_equals(start: usize) -> DiscoverError {
    DiscoverError::spec(format!(
        "expected key=value at position {start} (pairs are separated by spaces)"
    ))
}

/// Reads a value after `key=`: bare up to the next whitespace, or double-quoted.
fn read_value(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    key: &str,
) -> Result<Zeroizing<String>, DiscoverError> {
    let mut value = Zeroizing::new(String::new());
    if chars.next_if(|(_, c)| *c == '"').is_none() {
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
            if c == '"' {
                return Err(DiscoverError::spec(format!(
                    "unexpected quote inside the value of {key} (quote the whole value)"
                )));
            }
            value.push(c);
        }
        return Ok(value);
    }
    loop {
        match chars.next() {
            Some((_, '"')) => break,
            Some((_, '\\')) => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => value.push(c),
                Some((_, c)) => {
                    value.push('\\');
                    value.push(c);
                }
                None => break,
            },
            Some((_, c)) => value.push(c),
            None => {
                return Err(DiscoverError::spec(format!(
                    "unterminated quote in the value of {key}"
                )));
            }
        }
    }
    match chars.peek() {
        None => Ok(value),
        Some((_, c)) if c.is_whitespace() => Ok(value),
        Some(_) => Err(DiscoverError::spec(format!(
            "the quoted value of {key} must be followed by a space"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse_pairs(s)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().to_owned()))
            .collect()
    }

    fn err(s: &str) -> String {
        parse_pairs(s).unwrap_err().to_string()
    }

    #[test]
    fn bare_pairs_split_on_any_whitespace() {
        assert_eq!(
            pairs("  a=1\tb=two  c=x=y\n"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two".into()),
                ("c".into(), "x=y".into()),
            ]
        );
        assert!(pairs("").is_empty());
        assert!(pairs("   ").is_empty());
    }

    #[test]
    fn quoted_values_keep_spaces_and_unescape() {
        assert_eq!(
            pairs(r#"tag_value="my vault" k="a\"b\\c\d" e="""#),
            vec![
                ("e".into(), String::new()),
                ("k".into(), r#"a"b\c\d"#.into()),
                ("tag_value".into(), "my vault".into()),
            ]
        );
    }

    #[test]
    fn empty_bare_value_is_allowed() {
        assert_eq!(
            pairs("a= b=1"),
            vec![("a".into(), "".into()), ("b".into(), "1".into())]
        );
    }

    #[test]
    fn malformed_queries_are_refused_without_echoing_values() {
        assert!(err("provider").contains("expected key=value at position 0"));
        assert!(err("a=1 hunter2 b=2").contains("position 4"));
        assert!(!err("a=1 hunter2 b=2").contains("hunter2"));
        assert!(err("=1").contains("empty key"));
        let e = err(r#"secret_access_key="hunter2"#);
        assert!(
            e.contains("unterminated quote in the value of secret_access_key"),
            "{e}"
        );
        assert!(!e.contains("hunter2"));
        assert!(err(r#"a="x"y"#).contains("followed by a space"));
        assert!(err(r#"a=x"y""#).contains("unexpected quote"));
        assert!(err(r#""a"=1"#).contains("unexpected quote in a key"));
        assert!(err("a=1 a=2").contains("a is given more than once"));
    }

    #[test]
    fn unknown_or_missing_provider_is_a_clear_error() {
        let e = DiscoverSpec::parse("provider=gce project_name=x tag_value=y")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "auto_join: provider \"gce\" is not supported; supported: aws"
        );
        let e = DiscoverSpec::parse("tag_key=a tag_value=b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing provider"), "{e}");
    }

    #[test]
    fn aws_provider_is_recognised() {
        let spec = DiscoverSpec::parse("provider=aws tag_key=Name tag_value=vault").unwrap();
        assert_eq!(spec.provider(), "aws");
        let DiscoverSpec::Aws(aws) = spec;
        assert_eq!(aws.tag_key, "Name");
        assert_eq!(aws.tag_value, "vault");
    }
}
