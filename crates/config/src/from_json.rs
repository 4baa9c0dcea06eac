//! JSON text (Vault's JSON form of the same configuration) to [`Node`] tree.

use crate::error::ConfigError;
use crate::tree::{Node, join, template_warning};

/// Parses a JSON object into the entries of its top level.
pub(crate) fn parse_json(
    text: &str,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Node)>, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    match convert(value, file, "", warnings) {
        Node::Map(entries) => Ok(entries),
        other => Err(ConfigError::Parse {
            file: file.to_owned(),
            line: 1,
            column: 1,
            reason: format!(
                "the configuration must be a JSON object, not {}",
                other.kind_name()
            ),
        }),
    }
}

fn convert(value: serde_json::Value, file: &str, key: &str, warnings: &mut Vec<String>) -> Node {
    use serde_json::Value;
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => {
            if let Some(w) = template_warning(file, key, &s) {
                warnings.push(w);
            }
            Node::Str(s)
        }
        Value::Array(items) => Node::List(
            items
                .into_iter()
                .map(|v| convert(v, file, key, warnings))
                .collect(),
        ),
        Value::Object(map) => Node::Map(
            map.into_iter()
                .map(|(k, v)| {
                    let node = convert(v, file, &join(key, &k), warnings);
                    (k, node)
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_nest_and_strings_warn_on_templates() {
        let mut w = Vec::new();
        let e = parse_json(
            r#"{"ui": true, "listener": [{"tcp": {"address": "${x}"}}]}"#,
            "c.json",
            &mut w,
        )
        .unwrap();
        let get = |k: &str| e.iter().find(|(key, _)| key == k).map(|(_, n)| n.clone());
        assert_eq!(get("ui"), Some(Node::Bool(true)));
        assert!(matches!(get("listener"), Some(Node::List(l)) if l.len() == 1));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("listener.tcp.address"));
    }

    #[test]
    fn errors_have_location_and_top_level_must_be_object() {
        let mut w = Vec::new();
        match parse_json("{\n \"ui\": trux,\n \"a\": 1\n}", "c.json", &mut w).unwrap_err() {
            ConfigError::Parse { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert!(parse_json("[1]", "c.json", &mut w).is_err());
    }
}
