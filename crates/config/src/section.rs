//! Typed, lenient reading of one block body, remembering which keys were used so the rest can
//! be reported as unknown.
//!
//! Leniency follows Vault: booleans may be written `true`, `"true"`, `1`, `"1"` (and the other
//! spellings Go's `strconv.ParseBool` takes), numbers may be quoted, durations are Go-style
//! strings (`"90s"`, `"24h"`) or integer seconds. A key given more than once keeps its last
//! value.

use std::time::Duration;

use tresor_sdk::duration::{parse_nanos, parse_secs};

use crate::error::ConfigError;
use crate::tree::{Node, join};

/// One occurrence of a key: its dotted path, value, and the file it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// The key's own name (last path segment).
    pub(crate) name: &'a str,
    /// The value.
    pub(crate) node: &'a Node,
    /// The file that holds it.
    pub(crate) file: &'a str,
}

/// The entries of one body (or of the merged top level of several files).
pub(crate) struct Section<'a> {
    path: String,
    entries: Vec<Field<'a>>,
    used: Vec<bool>,
}

impl<'a> Section<'a> {
    /// A body whose entries all come from `file`.
    pub(crate) fn new(path: String, file: &'a str, entries: &'a [(String, Node)]) -> Self {
        let entries = entries
            .iter()
            .map(|(k, n)| Field {
                name: k,
                node: n,
                file,
            })
            .collect();
        Self::from_fields(path, entries)
    }

    /// A body assembled from fields of possibly different files (the merged top level).
    pub(crate) fn from_fields(path: String, entries: Vec<Field<'a>>) -> Self {
        let used = vec![false; entries.len()];
        Section {
            path,
            entries,
            used,
        }
    }

    /// The dotted key of `name` inside this section.
    pub(crate) fn key(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// All occurrences of `name`, in order, marking them used.
    pub(crate) fn all(&mut self, name: &str) -> Vec<Field<'a>> {
        let mut out = Vec::new();
        for (i, f) in self.entries.iter().enumerate() {
            if f.name == name {
                self.used[i] = true;
                out.push(*f);
            }
        }
        out
    }

    /// The last occurrence of `name` (later settings win), marking all of them used.
    pub(crate) fn last(&mut self, name: &str) -> Option<Field<'a>> {
        self.all(name).pop()
    }

    /// Marks every key used (for blocks whose settings are deliberately not read).
    pub(crate) fn consume_all(&mut self) {
        self.used.iter_mut().for_each(|u| *u = true);
    }

    /// Adds a warning for every key that no reader asked for.
    pub(crate) fn finish(self, warnings: &mut Vec<String>) {
        for (f, used) in self.entries.iter().zip(self.used) {
            if !used {
                warnings.push(format!(
                    "{}: unknown key {}",
                    f.file,
                    join(&self.path, f.name)
                ));
            }
        }
    }

    /// Marks `name` used and reports it as a recognised setting that Tresor ignores.
    pub(crate) fn ignore(&mut self, name: &str, warnings: &mut Vec<String>) {
        for f in self.all(name) {
            warnings.push(format!(
                "{}: {} is a Vault setting that Tresor ignores",
                f.file,
                join(&self.path, name)
            ));
        }
    }

    /// A string setting (numbers and booleans are taken as written).
    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        self.read(name, to_string)
    }

    /// A boolean setting.
    pub(crate) fn bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.read(name, to_bool)
    }

    /// An integer setting.
    pub(crate) fn int(&mut self, name: &str) -> Result<Option<i64>, ConfigError> {
        self.read(name, to_int)
    }

    /// A non-negative integer setting.
    pub(crate) fn uint(&mut self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.read(name, |n| {
            let i = to_int(n)?;
            u64::try_from(i).map_err(|_| format!("must not be negative, got {i}"))
        })
    }

    /// A duration setting, in whole seconds.
    pub(crate) fn secs(&mut self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.read(name, to_secs)
    }

    /// A duration setting with sub-second precision (`"500ms"`, `"10s"`, or whole seconds).
    pub(crate) fn duration(&mut self, name: &str) -> Result<Option<Duration>, ConfigError> {
        self.read(name, to_duration)
    }

    /// A list of strings, written as a list or as one comma-separated string.
    pub(crate) fn string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        self.read(name, |n| match n {
            Node::List(items) => items.iter().map(to_string).collect(),
            other => Ok(to_string(other)?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
        })
    }

    fn read<T>(
        &mut self,
        name: &str,
        conv: impl FnOnce(&Node) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(f) = self.last(name) else {
            return Ok(None);
        };
        if matches!(f.node, Node::Null) {
            return Ok(None);
        }
        conv(f.node)
            .map(Some)
            .map_err(|reason| ConfigError::invalid(f.file, &self.key(name), reason))
    }
}

/// The bodies of an unlabeled block such as `telemetry { }` or `retry_join { }`: one body, or a
/// list of bodies (JSON form).
pub(crate) fn bodies<'a>(
    field: Field<'a>,
    key: &str,
) -> Result<Vec<&'a [(String, Node)]>, ConfigError> {
    match field.node {
        Node::Map(entries) => Ok(vec![entries.as_slice()]),
        Node::List(items) => items
            .iter()
            .map(|item| match item {
                Node::Map(entries) => Ok(entries.as_slice()),
                other => Err(not_a_block(field.file, key, other)),
            })
            .collect(),
        other => Err(not_a_block(field.file, key, other)),
    }
}

/// A labeled block: its label and body entries.
pub(crate) type LabeledBody<'a> = (&'a str, &'a [(String, Node)]);

/// The `(label, body)` pairs of a labeled block such as `listener "tcp" { }` in any of its
/// HCL and JSON shapes: `{"tcp": {...}}`, `[{"tcp": {...}}]`, `{"tcp": [{...}, {...}]}`.
pub(crate) fn labeled<'a>(
    field: Field<'a>,
    key: &str,
) -> Result<Vec<LabeledBody<'a>>, ConfigError> {
    let mut out = Vec::new();
    collect_labeled(field.node, field.file, key, &mut out)?;
    Ok(out)
}

fn collect_labeled<'a>(
    node: &'a Node,
    file: &str,
    key: &str,
    out: &mut Vec<LabeledBody<'a>>,
) -> Result<(), ConfigError> {
    match node {
        Node::List(items) => {
            for item in items {
                collect_labeled(item, file, key, out)?;
            }
        }
        Node::Map(entries) => {
            for (label, body) in entries {
                let label_key = join(key, label);
                match body {
                    Node::Map(b) => out.push((label.as_str(), b.as_slice())),
                    Node::List(items) => {
                        for item in items {
                            match item {
                                Node::Map(b) => out.push((label.as_str(), b.as_slice())),
                                other => return Err(not_a_block(file, &label_key, other)),
                            }
                        }
                    }
                    other => {
                        return Err(ConfigError::invalid(
                            file,
                            &label_key,
                            format!(
                                "expected a labeled block like {key} \"TYPE\" {{ ... }}, got {}",
                                other.kind_name()
                            ),
                        ));
                    }
                }
            }
        }
        other => return Err(not_a_block(file, key, other)),
    }
    Ok(())
}

fn not_a_block(file: &str, key: &str, node: &Node) -> ConfigError {
    ConfigError::invalid(
        file,
        key,
        format!("expected a block, got {}", node.kind_name()),
    )
}

/// Text of a scalar.
pub(crate) fn to_string(node: &Node) -> Result<String, String> {
    match node {
        Node::Str(s) => Ok(s.clone()),
        Node::Int(i) => Ok(i.to_string()),
        Node::Float(f) => Ok(f.to_string()),
        Node::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, got {}", other.kind_name())),
    }
}

/// A boolean in any of the spellings Vault accepts.
pub(crate) fn to_bool(node: &Node) -> Result<bool, String> {
    match node {
        Node::Bool(b) => Ok(*b),
        Node::Int(i) => Ok(*i != 0),
        Node::Str(s) => match s.trim() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            other => Err(format!("expected a boolean (true/false), got {other:?}")),
        },
        other => Err(format!("expected a boolean, got {}", other.kind_name())),
    }
}

/// An integer, possibly quoted.
pub(crate) fn to_int(node: &Node) -> Result<i64, String> {
    match node {
        Node::Int(i) => Ok(*i),
        Node::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
        Node::Str(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("expected an integer, got {s:?}")),
        other => Err(format!("expected an integer, got {}", other.kind_name())),
    }
}

/// A duration in whole seconds: integer seconds or a Go-style duration string.
pub(crate) fn to_secs(node: &Node) -> Result<u64, String> {
    match node {
        Node::Int(i) => {
            u64::try_from(*i).map_err(|_| format!("duration must not be negative, got {i}"))
        }
        Node::Str(s) => parse_secs(s).map_err(|e| {
            format!("{e}; write a duration such as \"90s\", \"10m\" or \"24h\", or whole seconds")
        }),
        other => Err(format!("expected a duration, got {}", other.kind_name())),
    }
}

/// A duration: integer seconds or a Go-style duration string (sub-second units kept).
pub(crate) fn to_duration(node: &Node) -> Result<Duration, String> {
    match node {
        Node::Int(i) => u64::try_from(*i)
            .map(Duration::from_secs)
            .map_err(|_| format!("duration must not be negative, got {i}")),
        Node::Str(s) => parse_nanos(s)
            .map_err(|e| {
                format!(
                    "{e}; write a duration such as \"500ms\", \"10s\" or \"5m\", or whole seconds"
                )
            })
            .and_then(|n| {
                u64::try_from(n)
                    .map(Duration::from_nanos)
                    .map_err(|_| format!("duration {s:?} is too large"))
            }),
        other => Err(format!("expected a duration, got {}", other.kind_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Node {
        Node::Str(v.to_owned())
    }

    #[test]
    fn lenient_booleans() {
        for t in [Node::Bool(true), Node::Int(1), s("1"), s("true"), s("TRUE")] {
            assert_eq!(to_bool(&t), Ok(true), "{t:?}");
        }
        for f in [Node::Bool(false), Node::Int(0), s("0"), s("false"), s("F")] {
            assert_eq!(to_bool(&f), Ok(false), "{f:?}");
        }
        assert!(to_bool(&s("yes")).is_err());
        assert!(to_bool(&Node::List(vec![])).is_err());
    }

    #[test]
    fn quoted_numbers_and_durations() {
        assert_eq!(to_int(&s(" 42 ")), Ok(42));
        assert_eq!(to_int(&Node::Float(3.0)), Ok(3));
        assert!(to_int(&s("4x")).is_err());
        assert!(to_int(&Node::Float(3.5)).is_err());
        assert_eq!(to_secs(&s("24h")), Ok(86400));
        assert_eq!(to_secs(&s("90")), Ok(90));
        assert_eq!(to_secs(&Node::Int(30)), Ok(30));
        assert!(to_secs(&Node::Int(-1)).is_err());
        let err = to_secs(&s("ten minutes")).unwrap_err();
        assert!(err.contains("ten minutes"), "{err}");
        assert_eq!(to_duration(&s("300ms")), Ok(Duration::from_millis(300)));
        assert_eq!(to_duration(&s("5m")), Ok(Duration::from_secs(300)));
        assert_eq!(to_duration(&s("0")), Ok(Duration::ZERO));
        assert_eq!(to_duration(&Node::Int(10)), Ok(Duration::from_secs(10)));
        assert!(to_duration(&Node::Int(-1)).is_err());
        assert!(to_duration(&s("-1s")).is_err());
        assert!(to_duration(&s("10 parsecs")).is_err());
        assert!(to_duration(&Node::Bool(true)).is_err());
    }

    #[test]
    fn last_value_wins_and_unknown_keys_warn() {
        let entries = vec![
            ("a".to_owned(), s("1")),
            ("b".to_owned(), s("x")),
            ("a".to_owned(), s("2")),
        ];
        let mut sec = Section::new("top".to_owned(), "f.hcl", &entries);
        assert_eq!(sec.int("a").unwrap(), Some(2));
        assert_eq!(sec.int("missing").unwrap(), None);
        let mut w = Vec::new();
        sec.finish(&mut w);
        assert_eq!(w, vec!["f.hcl: unknown key top.b".to_owned()]);
    }

    #[test]
    fn bad_value_names_file_and_key() {
        let entries = vec![("size".to_owned(), s("big"))];
        let mut sec = Section::new("listener.tcp".to_owned(), "f.hcl", &entries);
        let err = sec.uint("size").unwrap_err();
        assert_eq!(err.key(), Some("listener.tcp.size"));
        assert_eq!(err.file(), "f.hcl");
    }

    #[test]
    fn labeled_blocks_in_all_shapes() {
        let body = Node::Map(vec![("address".to_owned(), s("x"))]);
        let shapes = [
            Node::Map(vec![("tcp".to_owned(), body.clone())]),
            Node::List(vec![Node::Map(vec![("tcp".to_owned(), body.clone())])]),
            Node::Map(vec![("tcp".to_owned(), Node::List(vec![body.clone()]))]),
        ];
        for shape in &shapes {
            let f = Field {
                name: "listener",
                node: shape,
                file: "f",
            };
            let got = labeled(f, "listener").unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, "tcp");
        }
        let bad = s("raft");
        let f = Field {
            name: "storage",
            node: &bad,
            file: "f",
        };
        assert_eq!(labeled(f, "storage").unwrap_err().key(), Some("storage"));
    }

    #[test]
    fn string_lists_from_csv_or_list() {
        let entries = vec![
            ("a".to_owned(), s("x, y,,z")),
            ("b".to_owned(), Node::List(vec![s("p"), Node::Int(1)])),
        ];
        let mut sec = Section::new(String::new(), "f", &entries);
        assert_eq!(
            sec.string_list("a").unwrap(),
            Some(vec!["x".into(), "y".into(), "z".into()])
        );
        assert_eq!(
            sec.string_list("b").unwrap(),
            Some(vec!["p".into(), "1".into()])
        );
    }
}
