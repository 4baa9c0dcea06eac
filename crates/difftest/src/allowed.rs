//! Known, accepted differences between OpenBao and Tresor. Each entry says why the difference
//! is harmless; any difference not matched here fails the run. Security-relevant differences
//! (a request one server denies and the other allows, a redirect one server does not do, an
//! ACL rule evaluated differently) never belong here: they are bugs to fix.

use crate::case::Case;
use crate::classify::{Decision, Outcome};

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
    vec![
        Allowance {
            id: "capabilities-self-aggregate-key",
            reason: "sys/capabilities-self with several paths: OpenBao adds the aggregate \
                     `capabilities` key only for a single path, Tresor always; the per-path \
                     capabilities (the ACL decision) are identical",
            applies: capabilities_equal_but_aggregate,
        },
        Allowance {
            id: "root-policy-write-refusal-order",
            reason: "writing or deleting the `root` policy is refused by both; OpenBao checks \
                     the ACL (and parses the body) first, Tresor refuses the name first",
            applies: root_policy_refused_by_both,
        },
        Allowance {
            id: "revoke-orphan-without-sudo-status",
            reason: "auth/token/revoke-orphan without sudo is refused by both; OpenBao answers \
                     400 from the token backend, Tresor 403 from the ACL check",
            applies: revoke_orphan_refused_by_both,
        },
        Allowance {
            id: "openbao-kv2-trailing-slash-500",
            reason: "reading `secret/data/<key>/` or `secret/subkeys/<key>/` makes OpenBao's KV v2 \
                     fail with 500 \"could not find version data\" after the ACL allowed it; Tresor answers 404 (also \
                     after the ACL): no access is granted by either",
            applies: openbao_kv2_trailing_slash_500,
        },
        Allowance {
            id: POLICY_NAME_CASE,
            reason: "a policy name with upper-case letters: Tresor lower-cases the name in the \
                     path before the ACL decision, so the ACL decides on the policy that is \
                     actually written or read (Tresor's deliberate choice); OpenBao decides on \
                     the path as sent and lower-cases the name in the handler",
            applies: policy_name_with_upper_case,
        },
        Allowance {
            id: "encoded-empty-segment-refused",
            reason: "a percent-encoded `/` that makes an empty segment (`%2F%2F`, `/%2F`): \
                     Tresor refuses the non-canonical path outright with 400 (as Vault >= \
                     1.21.5 does); OpenBao routes it as sent; refusing grants nothing",
            applies: encoded_empty_segment_refused,
        },
        Allowance {
            id: "policy-name-charset",
            reason: "a policy name holding `/` or `+`: Tresor refuses the name as invalid \
                     (400) where OpenBao stores it; refusing grants nothing",
            applies: policy_name_charset_refused,
        },
        Allowance {
            id: "denied-parameter-broader",
            reason: "a body parameter named in a rule's denied_parameters holds a list or a \
                     number: Tresor denies the request when any element (or the number's \
                     text) is a denied value; OpenBao compares a list whole and never matches \
                     a number to a string, so it lets `[\"2\", \"root\"]` through a denial of \
                     `root`. Tresor only refuses more",
            applies: denied_parameter_broader,
        },
        Allowance {
            id: "unimplemented-sys-endpoint",
            reason: "Tresor has no audit devices, audited-header config or lease listing: after \
                     the ACL allowed the request it answers 404 \"unsupported path\" where OpenBao \
                     serves the endpoint; nothing is granted",
            applies: unimplemented_sys_endpoint,
        },
    ]
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

fn refusal(d: &Decision) -> bool {
    matches!(d, Decision::Denied | Decision::Refused)
}

fn capabilities_equal_but_aggregate(_: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    match (&openbao.capabilities, &tresor.capabilities) {
        (Some(b), Some(t)) => {
            let mut b = b.clone();
            let mut t = t.clone();
            b.remove("capabilities");
            t.remove("capabilities");
            b == t
        }
        _ => false,
    }
}

/// The request path as Tresor decides on it (decoded, canonical, with `/v1/`), or the raw
/// target's path when Tresor does not take it as canonical.
fn decided_path(case: &Case) -> String {
    let raw = case.request.target.split('?').next().unwrap_or_default();
    match tresor_sdk::path::canonicalize(raw) {
        tresor_sdk::Verdict::Canonical(p) => format!("/v1/{p}"),
        _ => raw.to_owned(),
    }
}

fn root_policy_refused_by_both(case: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    let t = decided_path(case);
    let root = t == "/v1/sys/policies/acl/root" || t == "/v1/sys/policy/root";
    root && case.request.method != "GET" && refusal(&openbao.decision) && refusal(&tresor.decision)
}

fn revoke_orphan_refused_by_both(case: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    decided_path(case) == "/v1/auth/token/revoke-orphan"
        && openbao.status == 400
        && openbao.errors.contains("sudo")
        && tresor.status == 403
}

fn openbao_kv2_trailing_slash_500(case: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    let path = decided_path(case);
    ["/v1/secret/data/", "/v1/secret/subkeys/"]
        .iter()
        .any(|p| path.starts_with(p))
        && path.ends_with('/')
        && openbao.status == 500
        && openbao.errors.contains("could not find version data")
        && tresor.decision == Decision::Allowed
}

/// The id of the policy-name case allowance (the one allowance that may cover an ACL
/// decision difference, because Tresor decides on another, lower-cased path on purpose).
pub const POLICY_NAME_CASE: &str = "policy-name-lower-cased-before-the-acl";

/// The policy name in a request target under `sys/policy/` or `sys/policies/acl/`.
fn policy_name(case: &Case) -> Option<String> {
    let path = decided_path(case);
    path.strip_prefix("/v1/sys/policies/acl/")
        .or_else(|| path.strip_prefix("/v1/sys/policy/"))
        .map(str::to_owned)
}

fn policy_name_with_upper_case(case: &Case, _: &Outcome, _: &Outcome) -> bool {
    policy_name(case).is_some_and(|n| n.chars().any(char::is_uppercase))
}

fn encoded_empty_segment_refused(case: &Case, _: &Outcome, tresor: &Outcome) -> bool {
    let path = case.request.target.split('?').next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    (lower.contains("%2f%2f") || lower.contains("/%2f") || lower.contains("%2f/"))
        && tresor.decision == Decision::Refused
        && tresor.errors.contains("empty segments")
}

fn policy_name_charset_refused(case: &Case, _: &Outcome, tresor: &Outcome) -> bool {
    let path = case.request.target.split('?').next().unwrap_or_default();
    let under_policies =
        path.to_ascii_lowercase().starts_with("/v1/sys%2fpolic") || policy_name(case).is_some();
    under_policies
        && tresor.decision == Decision::Refused
        && tresor.errors.contains("contains invalid characters")
}

fn denied_parameter_broader(case: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    let Some(serde_json::Value::Object(body)) = &case.request.body else {
        return false;
    };
    let denied_names: Vec<String> = case
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .flat_map(|r| r.denied.iter().map(|(n, _)| n.to_lowercase()))
        .collect();
    let broad = body.iter().any(|(name, v)| {
        (v.is_array() || v.is_number() || v.is_boolean())
            && denied_names
                .iter()
                .any(|d| d == "*" || *d == name.to_lowercase())
    });
    broad && openbao.decision == Decision::Allowed && tresor.decision == Decision::Denied
}

/// Endpoints OpenBao has and Tresor does not implement.
const UNIMPLEMENTED: &[&str] = &[
    "/v1/sys/audit",
    "/v1/sys/config/auditing/request-headers",
    "/v1/sys/leases/lookup/",
];

fn unimplemented_sys_endpoint(case: &Case, openbao: &Outcome, tresor: &Outcome) -> bool {
    let path = decided_path(case);
    (UNIMPLEMENTED.contains(&path.as_str()) || path.starts_with("/v1/sys/leases/lookup/"))
        && openbao.decision != Decision::Denied
        && tresor.decision == Decision::Unrouted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generate;

    fn outcome(status: u16, decision: Decision) -> Outcome {
        Outcome {
            status,
            decision,
            errors: String::new(),
            capabilities: None,
        }
    }

    #[test]
    fn every_allowance_has_a_reason() {
        for a in allowances() {
            assert!(a.reason.len() > 20, "{}", a.id);
        }
    }

    #[test]
    fn a_grant_against_a_denial_is_never_accepted() {
        let list = allowances();
        for i in 0..500 {
            let c = generate(9, i);
            if policy_name_with_upper_case(
                &c,
                &outcome(0, Decision::Allowed),
                &outcome(0, Decision::Allowed),
            ) {
                continue;
            }
            let d = outcome(403, Decision::Denied);
            let a = outcome(200, Decision::Allowed);
            assert_eq!(
                matching_allowance(&list, &c, &d, &a),
                None,
                "{}",
                c.describe()
            );
            // Tresor refusing what OpenBao allows is accepted only where Tresor deliberately
            // refuses more.
            let refused_more = matching_allowance(&list, &c, &a, &d);
            assert!(
                refused_more.is_none() || refused_more == Some("denied-parameter-broader"),
                "{refused_more:?}: {}",
                c.describe()
            );
        }
    }

    #[test]
    fn aggregate_key_only() {
        let c = generate(1, 0);
        let mut b = outcome(200, Decision::Allowed);
        let mut t = outcome(200, Decision::Allowed);
        b.capabilities = Some([("kv/a".to_owned(), vec!["read".to_owned()])].into());
        t.capabilities = Some(
            [
                ("kv/a".to_owned(), vec!["read".to_owned()]),
                ("capabilities".to_owned(), vec!["read".to_owned()]),
            ]
            .into(),
        );
        assert!(capabilities_equal_but_aggregate(&c, &b, &t));
        t.capabilities = Some([("kv/a".to_owned(), vec!["deny".to_owned()])].into());
        assert!(!capabilities_equal_but_aggregate(&c, &b, &t));
    }
}
