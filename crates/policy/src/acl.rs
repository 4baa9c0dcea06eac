//! The merged rules of a token's policies and the questions the core asks of them.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::rule::ParameterMap;
use crate::{Capability, CapabilitySet, PathRule, Policy, PolicyError, params};

/// The access rules of one token: the union of its policies, or root.
#[derive(Debug, Clone, PartialEq)]
pub struct Acl {
    root: bool,
    /// One merged rule per distinct pattern, highest priority first.
    rules: Vec<PathRule>,
}

/// The answer to [`Acl::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclResult {
    /// Whether the operation is granted on the path.
    pub allowed: bool,
    /// Whether the matched rule holds `sudo` (needed on root-protected paths).
    pub sudo: bool,
    /// The capabilities of the matched rule (empty when nothing matched, `deny` when denied).
    pub capabilities: CapabilitySet,
    /// The pattern of the rule that decided (`None` for no match and for root).
    pub matched_pattern: Option<String>,
    /// The matched rule's minimum response-wrapping TTL, if any.
    pub min_wrapping_ttl: Option<Duration>,
    /// The matched rule's maximum response-wrapping TTL, if any.
    pub max_wrapping_ttl: Option<Duration>,
}

impl AclResult {
    fn denied(capabilities: CapabilitySet, matched_pattern: Option<String>) -> AclResult {
        AclResult {
            allowed: false,
            sudo: false,
            capabilities,
            matched_pattern,
            min_wrapping_ttl: None,
            max_wrapping_ttl: None,
        }
    }
}

impl Acl {
    /// Merges the rules of `policies`.
    ///
    /// Rules with the same pattern (in one policy or across several) are merged: `deny` in any
    /// of them makes the merged rule `deny`; otherwise capabilities are united, parameter
    /// constraints merged (an empty value list, meaning "any value", wins over a list), required
    /// parameters united, and the smaller of each wrapping TTL kept. Rules with different
    /// patterns are never combined: per path only the highest-priority match applies.
    ///
    /// A policy named `root` gets no special treatment here; the core maps the root policy to
    /// [`Acl::root`].
    pub fn new(policies: &[Policy]) -> Acl {
        let mut rules: Vec<PathRule> = Vec::new();
        for rule in policies.iter().flat_map(Policy::rules) {
            match rules.iter_mut().find(|r| r.pattern == rule.pattern) {
                Some(existing) => merge_into(existing, rule),
                None => rules.push(normalised(rule.clone())),
            }
        }
        rules.sort_by(|a, b| b.pattern.priority_cmp(&a.pattern));
        Acl { root: false, rules }
    }

    /// The root ACL: everything is allowed, including `sudo`.
    pub fn root() -> Acl {
        Acl {
            root: true,
            rules: Vec::new(),
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The merged rules, highest priority first (empty for root).
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// The rule that governs `path`, if any, in Vault's order: an exact rule for the path;
    /// for `list`, an exact rule for the path without its trailing `/` (so
    /// `path "secret/metadata"` grants listing `secret/metadata/`); then the highest-priority
    /// wildcard rule for the path itself; for `list`, last, the highest-priority wildcard
    /// rule for the path without its slash (`kv/+` grants listing `kv/a/`).
    pub fn matching_rule(&self, path: &str, op: Capability) -> Option<&PathRule> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let exact = |p: &str| {
            self.rules
                .iter()
                .find(|r| r.pattern.is_exact() && r.pattern.matches(p))
        };
        let trimmed = match op {
            Capability::List => path.strip_suffix('/'),
            _ => None,
        };
        let wildcard = |p: &str| {
            self.rules
                .iter()
                .find(|r| !r.pattern.is_exact() && r.pattern.matches(p))
        };
        exact(path)
            .or_else(|| trimmed.and_then(exact))
            .or_else(|| wildcard(path))
            .or_else(|| trimmed.and_then(wildcard))
    }

    /// Whether `op` is granted on `path` (a request path, mount prefix included).
    pub fn check(&self, path: &str, op: Capability) -> AclResult {
        if self.root {
            return AclResult {
                allowed: op != Capability::Deny,
                sudo: true,
                capabilities: CapabilitySet::all_granting(),
                matched_pattern: None,
                min_wrapping_ttl: None,
                max_wrapping_ttl: None,
            };
        }
        let Some(rule) = self.matching_rule(path, op) else {
            return AclResult::denied(CapabilitySet::empty(), None);
        };
        let caps = rule.capabilities;
        let pattern = Some(rule.pattern.as_str().to_owned());
        if caps.is_deny() {
            return AclResult::denied(caps, pattern);
        }
        AclResult {
            allowed: op != Capability::Deny && caps.contains(op),
            sudo: caps.contains(Capability::Sudo),
            capabilities: caps,
            matched_pattern: pattern,
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
        }
    }

    /// The capability names on `path` as `sys/capabilities` reports them: sorted names of the
    /// matched rule, `["deny"]` when nothing (or a deny rule, or an empty rule) matches,
    /// `["root"]` for the root ACL.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_owned()];
        }
        // The rule a LIST would find (a path ending in `/` also finds the rules of the path
        // without it), as Vault reports capabilities.
        match self.matching_rule(path, Capability::List) {
            Some(rule) if !rule.capabilities.is_deny() && !rule.capabilities.is_empty() => {
                rule.capabilities.sorted_names()
            }
            _ => vec![Capability::Deny.as_str().to_owned()],
        }
    }

    /// Enforces the matched rule's allowed/denied/required parameters on request data.
    ///
    /// Vault applies these to create, update and patch requests (and to reads carrying data);
    /// which operations to check is the caller's decision. Root passes; a path with no
    /// matching rule, or a deny rule, fails with [`PolicyError::NoMatchingRule`]. The exact
    /// matching semantics are described in the `params` module of this crate.
    pub fn check_parameters(
        &self,
        path: &str,
        data: &Map<String, Value>,
    ) -> Result<(), PolicyError> {
        if self.root {
            return Ok(());
        }
        match self.matching_rule(path, Capability::Update) {
            Some(rule) if !rule.capabilities.is_deny() => params::check(rule, data),
            _ => Err(PolicyError::NoMatchingRule),
        }
    }
}

/// A rule as it enters the merged set: a deny rule carries nothing else.
fn normalised(mut rule: PathRule) -> PathRule {
    if rule.capabilities.is_deny() {
        rule = PathRule::new(rule.pattern, CapabilitySet::deny());
    }
    rule
}

fn merge_into(existing: &mut PathRule, new: &PathRule) {
    if existing.capabilities.is_deny() {
        return;
    }
    if new.capabilities.is_deny() {
        *existing = PathRule::new(existing.pattern.clone(), CapabilitySet::deny());
        return;
    }
    existing.capabilities = existing.capabilities.union(new.capabilities);
    existing.min_wrapping_ttl = smaller(existing.min_wrapping_ttl, new.min_wrapping_ttl);
    existing.max_wrapping_ttl = smaller(existing.max_wrapping_ttl, new.max_wrapping_ttl);
    merge_parameters(&mut existing.allowed_parameters, &new.allowed_parameters);
    merge_parameters(&mut existing.denied_parameters, &new.denied_parameters);
    for required in &new.required_parameters {
        if !existing.required_parameters.contains(required) {
            existing.required_parameters.push(required.clone());
        }
    }
}

/// The smaller of two optional TTLs, a zero TTL counting as unset.
fn smaller(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    let a = a.filter(|d| !d.is_zero());
    let b = b.filter(|d| !d.is_zero());
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Per parameter: an empty list (any value) on either side wins, otherwise values are joined.
fn merge_parameters(existing: &mut ParameterMap, new: &ParameterMap) {
    for (name, values) in new {
        match existing.get_mut(name) {
            None => {
                existing.insert(name.clone(), values.clone());
            }
            Some(current) if current.is_empty() => {}
            Some(current) if values.is_empty() => current.clear(),
            Some(current) => {
                for v in values {
                    if !current.contains(v) {
                        current.push(v.clone());
                    }
                }
            }
        }
    }
}
