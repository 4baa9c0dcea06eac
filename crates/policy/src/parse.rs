//! Policy text (HCL or JSON) into [`PathRule`]s.
//!
//! HCL is first turned into its JSON representation (hcl-rs follows the HCL JSON spec, so
//! `path "a" { ... }` becomes `{"path": {"a": {...}}}` and repeated blocks become arrays); both
//! syntaxes are then read by the same walker.

use std::time::Duration;

use serde_json::{Map, Value};
use tresor_sdk::duration;
use tresor_sdk::nesting::{Syntax, check_depth};

use crate::capability::legacy_policy_capabilities;
use crate::rule::ParameterMap;
use crate::{Capability, CapabilitySet, PathPattern, PathRule, PolicyError};

/// Parses policy text into its rules, in the order written.
pub(crate) fn parse_rules(text: &str) -> Result<Vec<PathRule>, PolicyError> {
    if text.trim().is_empty() {
        return Err(PolicyError::Structure("policy text is empty".into()));
    }
    let document = to_json(text)?;
    let Value::Object(top) = document else {
        return Err(structure("the policy must be an object"));
    };
    let mut rules = Vec::new();
    for (key, value) in &top {
        match key.as_str() {
            "path" => read_paths(value, &mut rules)?,
            // Vault tolerates a top-level name; the stored name is the API's.
            "name" => {}
            other => return Err(structure(format!("invalid key {other:?}"))),
        }
    }
    Ok(rules)
}

/// How deeply policy text may nest, as scored by [`tresor_sdk::nesting`] (brackets, strings,
/// operators and block labels). Real policies stay far below it: a `path` block holding a list
/// of capabilities or an `allowed_parameters` map scores under 10. The bound exists because the
/// HCL parser recurses per level: `x = [[[…]]]` nested 100,000 deep would otherwise overflow
/// the stack and abort the server. Vault bounds policy text only by the request size; so does
/// Tresor, apart from this depth.
pub const MAX_POLICY_DEPTH: usize = 100;

/// The document as JSON, whichever syntax it was written in.
pub(crate) fn to_json(text: &str) -> Result<Value, PolicyError> {
    let json = text.trim_start().starts_with('{');
    let syntax = if json { Syntax::Json } else { Syntax::Hcl };
    // Before any recursive parser sees the text (see MAX_POLICY_DEPTH).
    check_depth(text, syntax, MAX_POLICY_DEPTH).map_err(|e| PolicyError::TooDeep {
        limit: e.limit,
        line: e.line,
        column: e.column,
    })?;
    if json {
        serde_json::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))
    } else {
        hcl::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))
    }
}

fn structure(msg: impl Into<String>) -> PolicyError {
    PolicyError::Structure(msg.into())
}

/// `path` is an object of pattern → body (or a list of such objects).
fn read_paths(value: &Value, rules: &mut Vec<PathRule>) -> Result<(), PolicyError> {
    match value {
        Value::Object(paths) => {
            for (pattern, body) in paths {
                read_bodies(pattern, body, rules)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| read_paths(item, rules)),
        _ => Err(structure("\"path\" must be a block with a pattern label")),
    }
}

/// A pattern's body is an object, or a list of objects when the block was repeated.
fn read_bodies(pattern: &str, body: &Value, rules: &mut Vec<PathRule>) -> Result<(), PolicyError> {
    match body {
        Value::Object(fields) => {
            rules.push(read_rule(pattern, fields)?);
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| read_bodies(pattern, item, rules)),
        _ => Err(structure(format!("path {pattern:?}: body must be a block"))),
    }
}

fn read_rule(pattern: &str, fields: &Map<String, Value>) -> Result<PathRule, PolicyError> {
    let mut rule = PathRule::new(PathPattern::parse(pattern)?, CapabilitySet::empty());
    let mut legacy = None;
    for (key, value) in fields {
        match key.as_str() {
            "capabilities" => {
                for name in string_list(pattern, key, value)? {
                    let cap: Capability =
                        name.parse().map_err(|_| PolicyError::UnknownCapability {
                            path: pattern.to_owned(),
                            capability: name.clone(),
                        })?;
                    rule.capabilities.insert(cap);
                }
            }
            "policy" => {
                let Value::String(s) = value else {
                    return Err(structure(format!(
                        "path {pattern:?}: \"policy\" must be a string"
                    )));
                };
                legacy = Some(legacy_policy_capabilities(s).ok_or_else(|| {
                    PolicyError::InvalidLegacyPolicy {
                        path: pattern.to_owned(),
                        value: s.clone(),
                    }
                })?);
            }
            "allowed_parameters" => rule.allowed_parameters = parameter_map(pattern, key, value)?,
            "denied_parameters" => rule.denied_parameters = parameter_map(pattern, key, value)?,
            "required_parameters" => {
                rule.required_parameters = string_list(pattern, key, value)?
                    .into_iter()
                    .map(|p| p.to_lowercase())
                    .collect();
            }
            "min_wrapping_ttl" => rule.min_wrapping_ttl = Some(ttl(pattern, key, value)?),
            "max_wrapping_ttl" => rule.max_wrapping_ttl = Some(ttl(pattern, key, value)?),
            "comment" => {}
            "mfa_methods" | "control_group" | "subscribe_event_types" => {
                return Err(structure(format!(
                    "path {pattern:?}: {key:?} is not supported by this server"
                )));
            }
            other => {
                return Err(structure(format!(
                    "path {pattern:?}: invalid key {other:?}"
                )));
            }
        }
    }
    if let Some(caps) = legacy {
        rule.capabilities = rule.capabilities.union(caps);
    }
    if rule.capabilities.is_deny() {
        // deny stands alone: nothing else on the rule means anything
        rule.capabilities = CapabilitySet::deny();
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
        && !max.is_zero()
        && max < min
    {
        return Err(PolicyError::InvalidWrappingTtl {
            path: pattern.to_owned(),
            reason: "max_wrapping_ttl cannot be less than min_wrapping_ttl".into(),
        });
    }
    Ok(rule)
}

fn string_list(pattern: &str, key: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let err = || {
        structure(format!(
            "path {pattern:?}: {key:?} must be a list of strings"
        ))
    };
    let Value::Array(items) = value else {
        return Err(err());
    };
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(err))
        .collect()
}

fn parameter_map(pattern: &str, key: &str, value: &Value) -> Result<ParameterMap, PolicyError> {
    let err = || {
        structure(format!(
            "path {pattern:?}: {key:?} must map parameter names to lists of values"
        ))
    };
    // Repeated `allowed_parameters { ... }` blocks arrive as a list of objects.
    let objects: Vec<&Map<String, Value>> = match value {
        Value::Object(map) => vec![map],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_object().ok_or_else(err))
            .collect::<Result<_, _>>()?,
        _ => return Err(err()),
    };
    let mut out = ParameterMap::new();
    for object in objects {
        for (name, values) in object {
            let Value::Array(values) = values else {
                return Err(err());
            };
            out.entry(name.to_lowercase())
                .or_default()
                .extend(values.iter().cloned());
        }
    }
    Ok(out)
}

fn ttl(pattern: &str, key: &str, value: &Value) -> Result<Duration, PolicyError> {
    let err = |reason: String| PolicyError::InvalidWrappingTtl {
        path: pattern.to_owned(),
        reason: format!("{key}: {reason}"),
    };
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| err(format!("{n} is not a whole non-negative number of seconds"))),
        Value::String(s) => duration::parse_secs(s)
            .map(Duration::from_secs)
            .map_err(|e| err(e.to_string())),
        _ => Err(err("must be a duration".into())),
    }
}
