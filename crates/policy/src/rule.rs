//! One `path "<pattern>" { ... }` block of a policy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::{CapabilitySet, PathPattern};

/// Allowed or denied parameter values, by lower-cased parameter name. An empty value list
/// means "any value"; the key `*` stands for every parameter.
pub type ParameterMap = BTreeMap<String, Vec<Value>>;

/// What a policy grants on the paths matching one pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// Which paths the rule applies to.
    pub pattern: PathPattern,
    /// What it grants (`deny` means nothing, whatever else is listed).
    pub capabilities: CapabilitySet,
    /// If non-empty, only these parameters (and values) may be sent.
    pub allowed_parameters: ParameterMap,
    /// These parameters (and values) may not be sent.
    pub denied_parameters: ParameterMap,
    /// These parameters must be present.
    pub required_parameters: Vec<String>,
    /// Responses must be wrapped with at least this TTL.
    pub min_wrapping_ttl: Option<Duration>,
    /// Responses must be wrapped with at most this TTL.
    pub max_wrapping_ttl: Option<Duration>,
}

impl PathRule {
    /// A rule granting `capabilities` on `pattern` with no parameter or wrapping constraints.
    pub fn new(pattern: PathPattern, capabilities: CapabilitySet) -> PathRule {
        PathRule {
            pattern,
            capabilities,
            allowed_parameters: ParameterMap::new(),
            denied_parameters: ParameterMap::new(),
            required_parameters: Vec::new(),
            min_wrapping_ttl: None,
            max_wrapping_ttl: None,
        }
    }
}
