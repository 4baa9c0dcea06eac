//! Enforcement of `allowed_parameters`, `denied_parameters` and `required_parameters`.
//!
//! Order of checks, as Vault does it:
//! 1. every required parameter must be present (names compared lower-cased);
//! 2. a request without data passes;
//! 3. `denied_parameters` with key `*` refuses any data; otherwise a parameter listed there is
//!    refused when its value is in the listed values (an empty list means every value);
//! 4. `allowed_parameters` empty, or holding only `*`, lets everything else through;
//!    otherwise every parameter must be listed (or `*` be present), and a listed parameter's
//!    value must be in its values (empty list: any value).
//!
//! Values match when equal; a policy string with a leading and/or trailing `*` matches by
//! suffix/prefix/substring. Strings and numbers/booleans are compared by their text (`"10"`
//! matches `10`), because backends parse fields leniently and would treat them alike. A list
//! value is refused by a denied list if any element (or the whole list) is denied, and passes
//! an allowed list only if every element (or the whole list) is allowed.

use serde_json::{Map, Value};

use crate::rule::ParameterMap;
use crate::{PathRule, PolicyError};

/// Checks request data against the parameter constraints of the rule that matched the path.
pub(crate) fn check(rule: &PathRule, data: &Map<String, Value>) -> Result<(), PolicyError> {
    for required in &rule.required_parameters {
        if !data.contains_key(required.as_str()) {
            return Err(PolicyError::MissingRequiredParameter {
                parameter: required.clone(),
            });
        }
    }
    if data.is_empty() {
        return Ok(());
    }
    check_denied(&rule.denied_parameters, data)?;
    check_allowed(&rule.allowed_parameters, data)
}

fn check_denied(denied: &ParameterMap, data: &Map<String, Value>) -> Result<(), PolicyError> {
    if denied.contains_key("*") {
        return Err(PolicyError::ParameterDenied {
            parameter: "*".into(),
        });
    }
    for (name, value) in data {
        if let Some(values) = denied.get(&name.to_lowercase())
            && (values.is_empty() || any_listed(value, values))
        {
            return Err(PolicyError::ParameterDenied {
                parameter: name.clone(),
            });
        }
    }
    Ok(())
}

fn check_allowed(allowed: &ParameterMap, data: &Map<String, Value>) -> Result<(), PolicyError> {
    let allow_all = allowed.contains_key("*");
    if allowed.is_empty() || (allow_all && allowed.len() == 1) {
        return Ok(());
    }
    for (name, value) in data {
        let ok = match allowed.get(&name.to_lowercase()) {
            Some(values) => values.is_empty() || values.iter().any(|e| allows(e, value)),
            None => allow_all,
        };
        if !ok {
            return Err(PolicyError::ParameterNotAllowed {
                parameter: name.clone(),
            });
        }
    }
    Ok(())
}

/// Whether the value, or any element of it when it is a list, is in `list`. Denials are
/// decided more broadly than allowances (and than Vault, which compares a list whole and
/// never matches a number to a string): a list holding a denied value is denied.
fn any_listed(value: &Value, list: &[Value]) -> bool {
    in_list(value, list)
        || matches!(value, Value::Array(items) if items.iter().any(|v| in_list(v, list)))
}

/// Whether an allowed-values entry admits `value`, as Vault decides it: a string value
/// against a string entry by glob, any other value only when it is the very same JSON value
/// (a list is compared whole, a number from a request never equals a policy's entry).
fn allows(entry: &Value, value: &Value) -> bool {
    match (entry, value) {
        (Value::String(pattern), Value::String(s)) => glob_match(pattern, s),
        (_, Value::Number(_)) | (Value::Number(_), _) => false,
        _ => entry == value,
    }
}

fn in_list(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|entry| value_matches(entry, value))
}

fn value_matches(entry: &Value, value: &Value) -> bool {
    match (entry, value) {
        (Value::String(pattern), Value::String(s)) => glob_match(pattern, s),
        (Value::String(pattern), Value::Number(_) | Value::Bool(_)) => {
            glob_match(pattern, &value.to_string())
        }
        (Value::Number(_) | Value::Bool(_), Value::String(s)) => {
            let text = entry.to_string();
            text == *s
        }
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => entry == value,
    }
}

/// `*x*` contains, `*x` suffix, `x*` prefix, anything else (or a bare `*`) exact.
fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => value.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CapabilitySet, PathPattern};
    use serde_json::json;

    fn rule(allowed: Value, denied: Value, required: &[&str]) -> PathRule {
        let to_map = |v: Value| -> ParameterMap { serde_json::from_value(v).unwrap() };
        let mut rule = PathRule::new(
            PathPattern::parse("x").unwrap(),
            CapabilitySet::all_granting(),
        );
        rule.allowed_parameters = to_map(allowed);
        rule.denied_parameters = to_map(denied);
        rule.required_parameters = required.iter().map(|s| s.to_string()).collect();
        rule
    }

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn no_constraints_allow_everything() {
        let r = rule(json!({}), json!({}), &[]);
        assert_eq!(check(&r, &data(json!({"a": 1, "b": "x"}))), Ok(()));
    }

    #[test]
    fn required_parameters_must_be_present_even_without_data() {
        let r = rule(json!({}), json!({}), &["ttl"]);
        assert_eq!(
            check(&r, &data(json!({}))),
            Err(PolicyError::MissingRequiredParameter {
                parameter: "ttl".into()
            })
        );
        assert_eq!(check(&r, &data(json!({"ttl": "1h"}))), Ok(()));
    }

    #[test]
    fn denied_star_refuses_any_data_but_not_empty_data() {
        let r = rule(json!({}), json!({"*": []}), &[]);
        assert!(check(&r, &data(json!({"a": 1}))).is_err());
        assert_eq!(check(&r, &data(json!({}))), Ok(()));
    }

    #[test]
    fn denied_values() {
        let r = rule(
            json!({}),
            json!({"policies": ["root", "admin-*"], "ttl": []}),
            &[],
        );
        let denied = |d| check(&r, &data(d)).is_err();
        assert!(denied(json!({"policies": "root"})));
        assert!(denied(json!({"policies": "admin-ops"})));
        assert!(denied(json!({"policies": ["dev", "root"]})));
        assert!(denied(json!({"ttl": "5m"})));
        assert!(
            denied(json!({"TTL": "5m"})),
            "names compare case-insensitively"
        );
        assert!(!denied(json!({"policies": "dev"})));
        assert!(!denied(json!({"policies": ["dev", "ops"]})));
    }

    #[test]
    fn allowed_lists() {
        let r = rule(
            json!({"ttl": [], "env": ["dev", "*-test"], "n": [1, 2]}),
            json!({}),
            &[],
        );
        let ok = |d| check(&r, &data(d)).is_ok();
        assert!(ok(json!({"ttl": "anything"})));
        assert!(ok(json!({"env": "dev"})));
        assert!(ok(json!({"env": "int-test"})));
        // As OpenBao decides: a list is compared whole, types never mix.
        assert!(!ok(json!({"env": ["dev"]})));
        assert!(!ok(json!({"env": ["dev", "prod"]})));
        assert!(!ok(json!({"env": "prod"})));
        assert!(
            !ok(json!({"n": 2})),
            "a request number never equals an entry"
        );
        assert!(!ok(json!({"n": "1"})));
        assert_eq!(
            check(&r, &data(json!({"other": 1}))),
            Err(PolicyError::ParameterNotAllowed {
                parameter: "other".into()
            })
        );
    }

    #[test]
    fn allowed_star_admits_unlisted_parameters_but_still_checks_listed_ones() {
        let r = rule(json!({"*": [], "env": ["dev"]}), json!({}), &[]);
        assert!(check(&r, &data(json!({"other": 1}))).is_ok());
        assert!(check(&r, &data(json!({"env": "prod"}))).is_err());
        let only_star = rule(json!({"*": []}), json!({}), &[]);
        assert!(check(&only_star, &data(json!({"x": 1}))).is_ok());
    }

    #[test]
    fn denial_wins_over_allowance() {
        let r = rule(json!({"*": []}), json!({"secret": []}), &[]);
        assert!(check(&r, &data(json!({"secret": "x"}))).is_err());
        assert!(check(&r, &data(json!({"public": "x"}))).is_ok());
    }

    #[test]
    fn globs() {
        assert!(glob_match("ab*", "abc"));
        assert!(!glob_match("ab*", "xab"));
        assert!(glob_match("*bc", "abc"));
        assert!(glob_match("*b*", "abc"));
        assert!(!glob_match("*x*", "abc"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "abc"));
        assert!(glob_match("abc", "abc"));
    }
}
