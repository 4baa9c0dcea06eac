//! Known, accepted differences between OpenBao and Tresor. Each entry says why the difference
//! is harmless; any difference not matched here fails the run. Security-relevant differences
//! (a request one server denies and the other allows, a redirect one server does not do)
//! never belong here: they are bugs to fix.

use crate::case::Case;
use crate::classify::Outcome;

/// One accepted difference.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    /// A short identifier, printed in reports.
    pub id: &'static str,
    /// Why this difference is acceptable.
    pub reason: &'static str,
    /// Whether it covers a case and its two outcomes (OpenBao's first).
    pub applies: fn(&Case, &Outcome, &Outcome) -> bool,
}

/// The accepted differences.
pub fn allowances() -> Vec<Allowance> {
    vec![]
}

/// The first allowance covering the case, if any.
pub fn matching_allowance(
    list: &[Allowance],
    case: &Case,
    openbao: &Outcome,
    tresor: &Outcome,
) -> Option<&'static str> {
    list.iter()
        .find(|a| (a.applies)(case, openbao, tresor))
        .map(|a| a.id)
}
