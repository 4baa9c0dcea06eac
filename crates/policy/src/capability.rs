//! Capabilities and sets of them.

use std::fmt;
use std::str::FromStr;

/// One thing a policy rule can grant on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write to a path that does not exist yet.
    Create,
    /// Read a path.
    Read,
    /// Write to a path that exists.
    Update,
    /// Partially update a path (HTTP PATCH).
    Patch,
    /// Delete a path.
    Delete,
    /// List the keys below a path.
    List,
    /// Use root-protected endpoints (in addition to the operation's own capability).
    Sudo,
    /// Explicitly refuse everything; overrides any other capability on the same pattern.
    Deny,
}

impl Capability {
    /// Every capability, in the order Vault documents them.
    pub const ALL: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The name used in policies and in `sys/capabilities` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<tresor_sdk::Operation> for Capability {
    /// The capability a logical operation needs.
    fn from(op: tresor_sdk::Operation) -> Self {
        use tresor_sdk::Operation;
        match op {
            Operation::Read => Capability::Read,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
            Operation::List => Capability::List,
            Operation::Renew | Operation::Revoke => Capability::Update,
        }
    }
}

/// The name given is not a capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// Parses a capability name exactly as written in policies (lower case, no trimming).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability(s.to_owned()))
    }
}

/// A small set of [`Capability`] values (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapabilitySet(u8);

impl CapabilitySet {
    /// The empty set.
    pub const fn empty() -> Self {
        CapabilitySet(0)
    }

    /// Every capability except `deny`: what the root ACL holds.
    pub fn all_granting() -> Self {
        Capability::ALL
            .into_iter()
            .filter(|c| *c != Capability::Deny)
            .collect()
    }

    /// The set holding only `deny`.
    pub const fn deny() -> Self {
        CapabilitySet(Capability::Deny.bit())
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap` to the set.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// The union of both sets.
    #[must_use]
    pub const fn union(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set holds `deny` (which makes every other member irrelevant).
    pub const fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// The members, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The members' names sorted alphabetically, as `sys/capabilities` answers them.
    pub fn sorted_names(self) -> Vec<String> {
        let mut names: Vec<String> = self.iter().map(|c| c.as_str().to_owned()).collect();
        names.sort();
        names
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapabilitySet::empty();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl From<&[Capability]> for CapabilitySet {
    fn from(caps: &[Capability]) -> Self {
        caps.iter().copied().collect()
    }
}

/// The capabilities the legacy `policy = "<value>"` shorthand stands for, or `None` when the
/// value is not one of `deny`, `read`, `write`, `sudo`.
///
/// `read` is read+list, `write` is create+read+update+delete+list, `sudo` is write plus sudo.
/// Like Vault, neither `write` nor `sudo` implies `patch` (the shorthand predates it).
pub fn legacy_policy_capabilities(value: &str) -> Option<CapabilitySet> {
    use Capability::*;
    let caps: &[Capability] = match value {
        "deny" => &[Deny],
        "read" => &[Read, List],
        "write" => &[Create, Read, Update, Delete, List],
        "sudo" => &[Create, Read, Update, Delete, List, Sudo],
        _ => return None,
    };
    Some(caps.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(cap));
        }
        assert_eq!(
            "Read".parse::<Capability>(),
            Err(UnknownCapability("Read".into()))
        );
        assert!("write".parse::<Capability>().is_err());
    }

    #[test]
    fn operations_map_to_the_capability_the_sdk_names() {
        use tresor_sdk::Operation;
        for op in [
            Operation::Read,
            Operation::Create,
            Operation::Update,
            Operation::Patch,
            Operation::Delete,
            Operation::List,
        ] {
            assert_eq!(Capability::from(op).as_str(), op.capability());
        }
    }

    #[test]
    fn set_operations() {
        let mut set = CapabilitySet::empty();
        assert!(set.is_empty());
        set.insert(Capability::Read);
        set.insert(Capability::List);
        assert!(set.contains(Capability::Read));
        assert!(!set.contains(Capability::Update));
        let other: CapabilitySet = [Capability::Update].as_slice().into();
        let both = set.union(other);
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            vec![Capability::Read, Capability::Update, Capability::List]
        );
        assert_eq!(both.sorted_names(), vec!["list", "read", "update"]);
        assert!(!CapabilitySet::all_granting().is_deny());
        assert!(CapabilitySet::all_granting().contains(Capability::Sudo));
        assert!(CapabilitySet::deny().is_deny());
    }

    #[test]
    fn legacy_shorthand() {
        let read = legacy_policy_capabilities("read").unwrap();
        assert_eq!(read.sorted_names(), vec!["list", "read"]);
        let write = legacy_policy_capabilities("write").unwrap();
        assert_eq!(
            write.sorted_names(),
            vec!["create", "delete", "list", "read", "update"]
        );
        let sudo = legacy_policy_capabilities("sudo").unwrap();
        assert_eq!(sudo, write.union([Capability::Sudo].as_slice().into()));
        assert_eq!(
            legacy_policy_capabilities("deny"),
            Some(CapabilitySet::deny())
        );
        assert_eq!(legacy_policy_capabilities("admin"), None);
    }
}
