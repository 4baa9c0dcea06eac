//! Go-`flag`-style argument parsing, as Vault's CLI does it.
//!
//! Flags take one or two dashes (`-format=json`, `--format json`); a non-boolean flag takes
//! its value after `=` or as the next argument; a boolean flag is `-flag` or `-flag=false`.
//! Parsing stops at the first positional argument (or after `--`); everything after it is
//! positional, and flag-looking arguments there are reported in [`Parsed::late_flags`] so the
//! caller can warn, as Vault does.

use std::collections::BTreeMap;

use crate::error::CliError;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `-flag` or `-flag=true|false`.
    Bool,
    /// `-flag=value` or `-flag value`; the last occurrence wins.
    Str,
    /// Like [`Kind::Str`] but every occurrence is kept.
    Multi,
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// Name without dashes.
    pub(crate) name: &'static str,
    /// How it takes its value.
    pub(crate) kind: Kind,
}

/// Shorthand for a boolean flag.
pub(crate) const fn b(name: &'static str) -> Flag {
    Flag {
        name,
        kind: Kind::Bool,
    }
}

/// Shorthand for a string flag.
pub(crate) const fn s(name: &'static str) -> Flag {
    Flag {
        name,
        kind: Kind::Str,
    }
}

/// Shorthand for a repeatable flag.
pub(crate) const fn m(name: &'static str) -> Flag {
    Flag {
        name,
        kind: Kind::Multi,
    }
}

/// Flags every command that talks to a server accepts.
pub(crate) const COMMON: &[Flag] = &[
    s("address"),
    s("agent-address"),
    s("ca-cert"),
    s("ca-path"),
    s("client-cert"),
    s("client-key"),
    b("tls-skip-verify"),
    s("tls-server-name"),
    s("namespace"),
    s("ns"),
    s("format"),
    s("field"),
    s("wrap-ttl"),
    b("non-interactive"),
    b("policy-override"),
];

/// The result of parsing a command's arguments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    values: BTreeMap<String, Vec<String>>,
    /// The positional arguments, in order.
    pub(crate) positionals: Vec<String>,
    /// Arguments after the first positional that look like flags (not parsed as flags).
    pub(crate) late_flags: Vec<String>,
    /// `-h`, `-help` or `--help` was given.
    pub(crate) help: bool,
}

impl Parsed {
    /// The last value of a flag.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// All values of a flag, in order.
    pub(crate) fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether a flag was given at all.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A boolean flag's value (false when absent; values were validated by [`parse`]).
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.str(name).and_then(parse_bool).unwrap_or(false)
    }

    /// A flag parsed as an integer.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, CliError> {
        self.str(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    CliError::Usage(format!("invalid value {v:?} for flag -{name}: parse error"))
                })
            })
            .transpose()
    }

    /// A flag holding a Go-style duration, in seconds.
    pub(crate) fn duration(&self, name: &str) -> Result<Option<u64>, CliError> {
        self.str(name)
            .map(|v| {
                tresor_sdk::duration::parse_secs(v)
                    .map_err(|e| CliError::Usage(format!("invalid value for flag -{name}: {e}")))
            })
            .transpose()
    }
}

/// Parses Go-style boolean text (`1 t T TRUE true True 0 f F FALSE false False`).
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn looks_like_flag(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-') && arg != "--"
}

/// Parses `args` against `specs` (plus `-h`/`-help`).
pub(crate) fn parse(specs: &[&[Flag]], args: &[String]) -> Result<Parsed, CliError> {
    let find = |name: &str| specs.iter().flat_map(|s| s.iter()).find(|f| f.name == name);
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        if !looks_like_flag(arg) {
            break;
        }
        let body = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .unwrap_or(arg);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(CliError::Usage(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        i += 1;
        if name == "h" || name == "help" {
            out.help = true;
            continue;
        }
        let Some(flag) = find(name) else {
            return Err(CliError::Usage(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (flag.kind, inline) {
            (Kind::Bool, None) => "true".to_owned(),
            (Kind::Bool, Some(v)) => {
                if parse_bool(&v).is_none() {
                    return Err(CliError::Usage(format!(
                        "invalid boolean value {v:?} for -{name}"
                    )));
                }
                v
            }
            (_, Some(v)) => v,
            (_, None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    return Err(CliError::Usage(format!("flag needs an argument: -{name}")));
                }
            },
        };
        out.values.entry(name.to_owned()).or_default().push(value);
    }
    out.positionals = args[i.min(args.len())..].to_vec();
    out.late_flags = out
        .positionals
        .iter()
        .filter(|a| looks_like_flag(a))
        .cloned()
        .collect();
    Ok(out)
}

/// Splits `k=v` pairs (from repeatable flags such as `-metadata`) into a map.
pub(crate) fn kv_pairs(items: &[String], flag: &str) -> Result<BTreeMap<String, String>, CliError> {
    items
        .iter()
        .map(|it| {
            it.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "invalid value {it:?} for -{flag}: expected key=value"
                    ))
                })
        })
        .collect()
}

/// Values of a repeatable flag, each also split on commas (Vault's string-slice flags).
pub(crate) fn comma_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|i| i.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[Flag] = &[s("mount"), b("detailed"), m("policy"), s("version")];

    fn p(args: &[&str]) -> Result<Parsed, CliError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&[SPEC, COMMON], &v)
    }

    #[test]
    fn single_and_double_dash_with_both_value_forms() {
        let r = p(&["-mount=secret", "--format", "json", "--detailed", "foo"]).unwrap();
        assert_eq!(r.str("mount"), Some("secret"));
        assert_eq!(r.str("format"), Some("json"));
        assert!(r.bool("detailed"));
        assert_eq!(r.positionals, vec!["foo"]);
        let r = p(&["--mount", "kv", "-detailed=false", "x"]).unwrap();
        assert_eq!(r.str("mount"), Some("kv"));
        assert!(!r.bool("detailed"));
        assert!(r.has("detailed"));
    }

    #[test]
    fn stops_at_first_positional_and_reports_late_flags() {
        let r = p(&["foo", "-mount=x", "a=b"]).unwrap();
        assert_eq!(r.str("mount"), None);
        assert_eq!(r.positionals, vec!["foo", "-mount=x", "a=b"]);
        assert_eq!(r.late_flags, vec!["-mount=x"]);
        let r = p(&["--", "-mount=x"]).unwrap();
        assert_eq!(r.positionals, vec!["-mount=x"]);
        let r = p(&["-", "x"]).unwrap();
        assert_eq!(r.positionals, vec!["-", "x"]);
        assert!(r.late_flags.is_empty());
    }

    #[test]
    fn repeatable_and_last_wins() {
        let r = p(&["-policy=a", "-policy", "b,c", "-mount=1", "-mount=2"]).unwrap();
        assert_eq!(r.all("policy"), ["a", "b,c"]);
        assert_eq!(comma_list(r.all("policy")), ["a", "b", "c"]);
        assert_eq!(r.str("mount"), Some("2"));
    }

    #[test]
    fn errors_are_usage_errors() {
        for bad in [
            &["-nope"][..],
            &["-mount"],
            &["-detailed=maybe"],
            &["---x"],
            &["-=x"],
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        assert!(p(&["-h"]).unwrap().help);
        assert!(p(&["--help", "x"]).unwrap().help);
    }

    #[test]
    fn typed_accessors() {
        let r = p(&["-version=3", "-mount=1h30m"]).unwrap();
        assert_eq!(r.int("version").unwrap(), Some(3));
        assert_eq!(r.duration("mount").unwrap(), Some(5400));
        assert!(r.int("mount").is_err());
        assert_eq!(
            kv_pairs(&["a=1".into(), "b=x=y".into()], "m").unwrap()["b"],
            "x=y"
        );
        assert!(kv_pairs(&["nope".into()], "m").is_err());
    }
}
