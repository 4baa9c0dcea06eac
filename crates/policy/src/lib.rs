//! Vault-compatible ACL policies: parsing, formatting and evaluation.
//!
//! Pure logic, no async and no I/O: the core stores policy text, builds an [`Acl`] from a
//! token's policies and asks it about each request.
//!
//! * [`Policy::parse`] reads HCL or JSON policy text into [`PathRule`]s and keeps the text.
//! * [`Acl::new`] merges the rules of several policies; [`Acl::root`] allows everything.
//! * [`Acl::check`] answers whether an operation is granted on a path (and whether `sudo` is
//!   held); [`Acl::capabilities`] feeds `sys/capabilities*`; [`Acl::check_parameters`]
//!   enforces allowed/denied/required parameters.
//! * Path patterns and their priority order are described in [`PathPattern`].
//! * [`format_hcl`] serves `policy fmt`; [`DEFAULT_POLICY`], [`validate_name`] and
//!   [`validate_delete`] cover the built-in policy and naming rules.

mod acl;
mod builtin;
mod capability;
mod error;
mod format;
mod params;
mod parse;
mod pattern;
mod policy;
mod rule;

pub use acl::{Acl, AclResult};
pub use builtin::{
    DEFAULT_POLICY, DEFAULT_POLICY_NAME, ROOT_POLICY_NAME, validate_delete, validate_name,
};
pub use capability::{Capability, CapabilitySet, UnknownCapability, legacy_policy_capabilities};
pub use error::PolicyError;
pub use format::format_hcl;
pub use parse::MAX_POLICY_DEPTH;
pub use pattern::PathPattern;
pub use policy::Policy;
pub use rule::{ParameterMap, PathRule};
