//! Reading typed fields from a request body the lenient way Vault does: numbers may arrive as
//! strings, booleans as `"true"`, lists as comma-separated strings, durations as `"1h"` or
//! seconds.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{LogicalError, duration};

fn bad(field: &str, want: &str) -> LogicalError {
    LogicalError::InvalidRequest(format!("error parsing field {field:?}: expected {want}"))
}

/// A string field (numbers and booleans are rendered as text).
pub fn get_str(data: &Map<String, Value>, field: &str) -> Result<Option<String>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(bad(field, "a string")),
    }
}

/// A boolean written as text, as Go's `strconv.ParseBool` reads it (`1`, `t`, `T`, `TRUE`,
/// `true`, `True`, and the same for false); `None` for anything else. Option maps of string
/// values (audit device options) are read with it.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A boolean field (`true`, `"true"`, `1`, `"1"`, ...).
pub fn get_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => Ok(Some(n.as_f64().unwrap_or(0.0) != 0.0)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" | "" => Ok(Some(false)),
            _ => Err(bad(field, "a boolean")),
        },
        Some(_) => Err(bad(field, "a boolean")),
    }
}

/// A signed integer field.
pub fn get_i64(data: &Map<String, Value>, field: &str) -> Result<Option<i64>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| bad(field, "an integer")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(field, "an integer")),
        Some(_) => Err(bad(field, "an integer")),
    }
}

/// A non-negative integer field.
pub fn get_u64(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, LogicalError> {
    match get_i64(data, field)? {
        None => Ok(None),
        Some(v) if v >= 0 => Ok(Some(v as u64)),
        Some(_) => Err(bad(field, "a non-negative integer")),
    }
}

/// A duration field in seconds (`3600`, `"3600"`, `"1h"`).
pub fn get_duration(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| bad(field, "a duration")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => duration::parse_secs(s).map(Some).map_err(|e| {
            LogicalError::InvalidRequest(format!("error parsing field {field:?}: {e}"))
        }),
        Some(_) => Err(bad(field, "a duration")),
    }
}

/// A list of strings (JSON array, or a comma-separated string). Entries are trimmed and empty
/// ones dropped.
pub fn get_str_list(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, LogicalError> {
    let items: Vec<String> = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad(field, "a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad(field, "a list of strings")),
    };
    Ok(Some(
        items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

/// A map of strings (JSON object with scalar values, or `k=v,k2=v2`).
pub fn get_str_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(bad(field, "a map of strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| bad(field, "key=value pairs"))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(bad(field, "a map of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRuE", " true"] {
            assert_eq!(parse_go_bool(bad), None, "{bad:?}");
        }
    }
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lenient_types() {
        let d =
            m(json!({"n":"5","b":"true","l":"a, b,,c","t":"1h","t2":90,"bad":"x","mp":"a=1,b=2"}));
        assert_eq!(get_u64(&d, "n").unwrap(), Some(5));
        assert_eq!(get_bool(&d, "b").unwrap(), Some(true));
        assert_eq!(get_str_list(&d, "l").unwrap().unwrap(), vec!["a", "b", "c"]);
        assert_eq!(get_duration(&d, "t").unwrap(), Some(3600));
        assert_eq!(get_duration(&d, "t2").unwrap(), Some(90));
        assert!(get_u64(&d, "bad").is_err());
        assert!(get_bool(&d, "bad").is_err());
        assert_eq!(
            get_str_map(&d, "mp")
                .unwrap()
                .unwrap()
                .get("b")
                .map(String::as_str),
            Some("2")
        );
        assert_eq!(get_str(&d, "missing").unwrap(), None);
    }
}
