//! Parsing (HCL and JSON, legacy shorthand, errors) and ACL merging across policies.

#![allow(clippy::unwrap_used)] // tests may unwrap

use serde_json::json;
use tresor_policy::{Acl, Capability, CapabilitySet, Policy, PolicyError};

use Capability::*;

fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<Policy> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Policy::parse(&format!("p{i}"), t).unwrap())
        .collect();
    Acl::new(&policies)
}

#[test]
fn hcl_and_json_forms_are_equivalent() {
    let hcl = r#"
path "secret/*" {
  capabilities = ["read", "list"]
  allowed_parameters = { "env" = ["dev"] }
  required_parameters = ["env"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 3600
}
"#;
    let json = r#"{"path": {"secret/*": {
        "capabilities": ["read", "list"],
        "allowed_parameters": {"env": ["dev"]},
        "required_parameters": ["env"],
        "min_wrapping_ttl": "60s",
        "max_wrapping_ttl": "1h"}}}"#;
    let a = Policy::parse("a", hcl).unwrap();
    let b = Policy::parse("b", json).unwrap();
    assert_eq!(a.rules(), b.rules());
    let rule = &a.rules()[0];
    assert_eq!(rule.pattern.as_str(), "secret/*");
    assert_eq!(rule.capabilities.sorted_names(), vec!["list", "read"]);
    assert_eq!(
        rule.min_wrapping_ttl,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(
        rule.max_wrapping_ttl,
        Some(std::time::Duration::from_secs(3600))
    );
    let result = Acl::new(&[a]).check("secret/x", Read);
    assert!(result.allowed);
    assert_eq!(result.matched_pattern.as_deref(), Some("secret/*"));
    assert_eq!(
        result.max_wrapping_ttl,
        Some(std::time::Duration::from_secs(3600))
    );
}

#[test]
fn json_list_forms_are_accepted() {
    let json = r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": [{"capabilities": ["list"]}, {"capabilities": ["read"]}]}]}"#;
    let p = Policy::parse("j", json).unwrap();
    assert_eq!(p.rules().len(), 3);
    let acl = Acl::new(&[p]);
    assert!(acl.check("a", Read).allowed);
    assert!(acl.check("b", Read).allowed && acl.check("b", List).allowed);
}

#[test]
fn legacy_policy_shorthand() {
    let acl = acl(&[r#"
path "r/*" { policy = "read" }
path "w/*" { policy = "write" }
path "s/*" { policy = "sudo" }
path "d/*" { policy = "deny" }
path "mix" {
  policy = "read"
  capabilities = ["update"]
}
"#]);
    assert_eq!(acl.capabilities("r/x"), vec!["list", "read"]);
    assert_eq!(
        acl.capabilities("w/x"),
        vec!["create", "delete", "list", "read", "update"]
    );
    assert_eq!(
        acl.capabilities("s/x"),
        vec!["create", "delete", "list", "read", "sudo", "update"]
    );
    assert!(acl.check("s/x", Read).sudo);
    assert_eq!(acl.capabilities("d/x"), vec!["deny"]);
    assert_eq!(acl.capabilities("mix"), vec!["list", "read", "update"]);
    assert!(matches!(
        Policy::parse("x", r#"path "a" { policy = "admin" }"#),
        Err(PolicyError::InvalidLegacyPolicy { value, .. }) if value == "admin"
    ));
}

#[test]
fn bad_input_is_refused_with_a_useful_error() {
    let err = Policy::parse("x", r#"path "a" { capabilities = ["read", "write"] }"#).unwrap_err();
    assert_eq!(
        err,
        PolicyError::UnknownCapability {
            path: "a".into(),
            capability: "write".into()
        }
    );
    assert!(err.to_string().contains("\"write\""));
    assert!(matches!(
        Policy::parse("x", r#"path "secret/*/x" { capabilities = ["read"] }"#),
        Err(PolicyError::InvalidPattern { .. })
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "secret/+*" { capabilities = ["read"] }"#),
        Err(PolicyError::InvalidPattern { .. })
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "a" { capabilities = ["read"] "#),
        Err(PolicyError::Syntax(_))
    ));
    assert!(matches!(
        Policy::parse("x", r#"{"path": {"a": {"capabilities": ["read"]}}"#),
        Err(PolicyError::Syntax(_))
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "a" { capabilitys = ["read"] }"#),
        Err(PolicyError::Structure(_))
    ));
    assert!(matches!(
        Policy::parse("x", r#"paths "a" { capabilities = ["read"] }"#),
        Err(PolicyError::Structure(_))
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "a" { capabilities = "read" }"#),
        Err(PolicyError::Structure(_))
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "a" { control_group = { max_ttl = "1h" } }"#),
        Err(PolicyError::Structure(_))
    ));
    assert!(matches!(
        Policy::parse("x", "  \n"),
        Err(PolicyError::Structure(_))
    ));
    assert!(matches!(
        Policy::parse(
            "x",
            r#"path "a" {
  min_wrapping_ttl = "2h"
  max_wrapping_ttl = "1h"
}"#
        ),
        Err(PolicyError::InvalidWrappingTtl { .. })
    ));
    assert!(matches!(
        Policy::parse("x", r#"path "a" { max_wrapping_ttl = "soon" }"#),
        Err(PolicyError::InvalidWrappingTtl { .. })
    ));
}

#[test]
fn comment_only_policy_grants_nothing() {
    let acl = acl(&["# nothing here\n"]);
    assert!(acl.rules().is_empty());
    assert!(!acl.check("secret/a", Read).allowed);
}

#[test]
fn same_pattern_capabilities_are_united_across_policies() {
    let acl = acl(&[
        r#"path "secret/*" { capabilities = ["read"] }"#,
        r#"path "secret/*" { capabilities = ["list", "update"] }"#,
    ]);
    assert_eq!(acl.capabilities("secret/x"), vec!["list", "read", "update"]);
    assert!(acl.check("secret/x", Update).allowed);
    assert!(!acl.check("secret/x", Delete).allowed);
}

#[test]
fn same_pattern_within_one_policy_is_united() {
    let acl = acl(&[r#"
path "a" { capabilities = ["read"] }
path "a" { capabilities = ["list"] }
"#]);
    assert_eq!(acl.capabilities("a"), vec!["list", "read"]);
}

#[test]
fn deny_wins_for_its_pattern_in_either_order() {
    let grant = r#"path "secret/*" { capabilities = ["read", "sudo"] }"#;
    let deny = r#"path "secret/*" { capabilities = ["deny"] }"#;
    for order in [[grant, deny], [deny, grant]] {
        let acl = acl(&order);
        let r = acl.check("secret/x", Read);
        assert!(!r.allowed && !r.sudo);
        assert_eq!(r.capabilities, CapabilitySet::deny());
        assert_eq!(acl.capabilities("secret/x"), vec!["deny"]);
    }
}

#[test]
fn deny_mixed_with_grants_in_one_rule_denies() {
    let acl = acl(&[r#"path "a" { capabilities = ["read", "deny", "list"] }"#]);
    assert!(!acl.check("a", Read).allowed);
    assert_eq!(acl.capabilities("a"), vec!["deny"]);
}

#[test]
fn only_the_highest_priority_rule_applies() {
    // A more specific rule restricts even though a broader one grants more.
    let acl = acl(&[
        r#"path "secret/*" { capabilities = ["read", "update"] }"#,
        r#"path "secret/locked/*" { capabilities = ["deny"] }"#,
        r#"path "secret/ro" { capabilities = ["read"] }"#,
    ]);
    assert!(acl.check("secret/open", Update).allowed);
    assert!(!acl.check("secret/locked/x", Read).allowed);
    assert!(acl.check("secret/ro", Read).allowed);
    assert!(
        !acl.check("secret/ro", Update).allowed,
        "capabilities are not united across patterns"
    );
    // a deny on a lower-priority pattern does not block a higher-priority grant
    let acl2 = self::acl(&[
        r#"path "secret/*" { capabilities = ["deny"] }"#,
        r#"path "secret/public/*" { capabilities = ["read"] }"#,
    ]);
    assert!(acl2.check("secret/public/x", Read).allowed);
    assert!(!acl2.check("secret/other", Read).allowed);
}

#[test]
fn list_with_trailing_slash_matches_pattern_without_it() {
    let acl = acl(&[r#"path "secret/metadata" { capabilities = ["list"] }
path "kv/+/meta" { capabilities = ["list"] }"#]);
    assert!(acl.check("secret/metadata/", List).allowed);
    assert!(!acl.check("secret/metadata/", Read).allowed);
    // Vault's order: exact for the path, exact for the trimmed path, wildcards for the path
    // as sent, wildcards for the trimmed path.
    assert!(acl.check("kv/a/meta/", List).allowed);
    assert!(acl.check("kv/a/meta", List).allowed);
    // An exact rule for the trimmed path beats a wildcard for the path as sent, which beats
    // a wildcard for the trimmed path.
    let acl = self::acl(&[r#"path "sys/+/acl" { capabilities = ["read"] }
path "sys/*" { capabilities = ["list"] }
path "kv/x" { capabilities = ["list"] }
path "kv/*" { capabilities = ["deny"] }"#]);
    assert!(acl.check("sys/policies/acl/", List).allowed);
    assert!(acl.check("kv/x/", List).allowed);
}

#[test]
fn root_acl_allows_everything() {
    let root = Acl::root();
    assert!(root.is_root());
    for op in [Create, Read, Update, Patch, Delete, List, Sudo] {
        let r = root.check("sys/seal", op);
        assert!(r.allowed && r.sudo);
    }
    assert!(!root.check("x", Deny).allowed);
    assert_eq!(root.capabilities("anything"), vec!["root"]);
    let data = json!({"anything": 1});
    assert!(
        root.check_parameters("x", data.as_object().unwrap())
            .is_ok()
    );
}

#[test]
fn empty_acl_denies_everything() {
    let acl = Acl::new(&[]);
    let r = acl.check("secret/a", Read);
    assert!(!r.allowed && !r.sudo);
    assert!(r.capabilities.is_empty());
    assert_eq!(acl.capabilities("secret/a"), vec!["deny"]);
}

#[test]
fn sudo_is_reported_only_with_the_capability() {
    let acl = acl(&[r#"path "sys/rotate" { capabilities = ["update", "sudo"] }
path "sys/seal" { capabilities = ["update"] }"#]);
    assert!(acl.check("sys/rotate", Update).sudo);
    assert!(!acl.check("sys/seal", Update).sudo);
    assert!(acl.check("sys/seal", Update).allowed);
}

#[test]
fn parameter_constraints_are_enforced_and_merged() {
    let acl = acl(&[
        r#"path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "policies" = ["dev"], "ttl" = [] }
  denied_parameters = { "no_parent" = [] }
  required_parameters = ["policies"]
}"#,
        r#"path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "policies" = ["ops"] }
}"#,
    ]);
    let check =
        |v: serde_json::Value| acl.check_parameters("auth/token/create", v.as_object().unwrap());
    assert!(check(json!({"policies": "dev"})).is_ok());
    assert!(check(json!({"policies": "ops", "ttl": "1h"})).is_ok());
    assert_eq!(
        check(json!({"policies": "admin"})),
        Err(PolicyError::ParameterNotAllowed {
            parameter: "policies".into()
        })
    );
    assert!(matches!(
        check(json!({"policies": "dev", "no_parent": true})),
        Err(PolicyError::ParameterDenied { .. })
    ));
    assert!(matches!(
        check(json!({"ttl": "1h"})),
        Err(PolicyError::MissingRequiredParameter { .. })
    ));
    assert!(check(json!({"policies": "dev"})).is_ok());
    let err = check(json!({})).unwrap_err();
    assert!(err.is_permission_denied());
    assert_eq!(
        acl.check_parameters("secret/x", json!({}).as_object().unwrap()),
        Err(PolicyError::NoMatchingRule)
    );
}

#[test]
fn empty_allowed_list_wins_when_merging() {
    let acl = acl(&[
        r#"path "a" {
  capabilities = ["update"]
  allowed_parameters = { "x" = ["1"] }
}"#,
        r#"path "a" {
  capabilities = ["update"]
  allowed_parameters = { "x" = [] }
}"#,
    ]);
    let data = json!({"x": "anything"});
    assert!(acl.check_parameters("a", data.as_object().unwrap()).is_ok());
}

#[test]
fn capabilities_of_a_directory_use_the_exact_rule_of_its_name() {
    // As Vault reports them: exact for the path, exact without the slash, then wildcards.
    let acl = acl(&[r#"path "kv/x" { capabilities = ["read", "delete"] }
path "kv/x*" { capabilities = ["sudo"] }"#]);
    assert_eq!(acl.capabilities("kv/x/"), vec!["delete", "read"]);
    assert_eq!(acl.capabilities("kv/x"), vec!["delete", "read"]);
    assert_eq!(acl.capabilities("kv/xy"), vec!["sudo"]);
    assert_eq!(acl.capabilities("kv/y"), vec!["deny"]);
}
