//! A named, parsed policy.

use crate::parse::parse_rules;
use crate::{PathRule, PolicyError};

/// A parsed ACL policy: its name, the text it was parsed from and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    raw: String,
    rules: Vec<PathRule>,
}

impl Policy {
    /// Parses policy text, HCL or JSON (`{"path": {"secret/*": {"capabilities": ["read"]}}}`).
    ///
    /// The name is taken as given (the core lower-cases it and checks it with
    /// [`crate::validate_name`]). The text is kept verbatim for [`Policy::raw`].
    pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
        Ok(Policy {
            name: name.to_owned(),
            raw: text.to_owned(),
            rules: parse_rules(text)?,
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text the policy was parsed from, as Vault returns it on read.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The rules in the order written (not merged; several may share a pattern).
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }
}
