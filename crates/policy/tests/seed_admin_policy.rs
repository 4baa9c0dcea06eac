//! The operator's "vault-admin" policy from the seed documents, read in place, behaves as its
//! comments say.

#![allow(clippy::unwrap_used)] // tests may unwrap

use tresor_policy::{Acl, Capability, Policy};

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/seed-configs/seed002-policy-vault-admin.hcl"
);

fn admin_acl() -> Acl {
    let text = std::fs::read_to_string(SEED).unwrap();
    let policy = Policy::parse("vault-admin", &text).unwrap();
    assert_eq!(policy.raw(), text);
    assert_eq!(policy.name(), "vault-admin");
    assert_eq!(policy.rules().len(), 15);
    Acl::new(&[policy])
}

use Capability::*;
const CRUDL: [Capability; 5] = [Create, Read, Update, Delete, List];

fn assert_exactly(acl: &Acl, path: &str, granted: &[Capability]) {
    for op in [Create, Read, Update, Patch, Delete, List, Sudo] {
        assert_eq!(
            acl.check(path, op).allowed,
            granted.contains(&op),
            "{op} on {path}"
        );
    }
}

#[test]
fn secrets_engines_are_managed() {
    let acl = admin_acl();
    assert_exactly(&acl, "sys/mounts/kv-team", &CRUDL);
    assert_exactly(&acl, "sys/mounts/kv-team/tune", &CRUDL);
    assert_exactly(&acl, "sys/mounts", &[Read, List]);
    assert!(!acl.check("sys/mounts/kv", Update).sudo);
    assert_eq!(
        acl.capabilities("sys/mounts"),
        vec!["list".to_owned(), "read".to_owned()]
    );
}

#[test]
fn policies_are_managed() {
    let acl = admin_acl();
    assert_exactly(&acl, "sys/policies/acl/dev", &CRUDL);
    assert_exactly(&acl, "sys/policies/acl", &[List]);
    // listing with the trailing slash the CLI sends
    assert!(acl.check("sys/policies/acl/", List).allowed);
}

#[test]
fn auth_and_audit_include_sudo() {
    let acl = admin_acl();
    for path in ["sys/auth/userpass", "sys/audit/file"] {
        let mut all = CRUDL.to_vec();
        all.push(Sudo);
        assert_exactly(&acl, path, &all);
        let result = acl.check(path, Update);
        assert!(result.allowed && result.sudo);
    }
    assert_exactly(&acl, "sys/auth", &[Read, List]);
    assert_exactly(&acl, "sys/audit", &[Read, List]);
    assert!(!acl.check("sys/auth", Read).sudo);
}

#[test]
fn health_leader_metrics_are_read_only() {
    let acl = admin_acl();
    for path in ["sys/health", "sys/leader", "sys/metrics"] {
        assert_exactly(&acl, path, &[Read]);
    }
}

#[test]
fn leases_are_managed() {
    let acl = admin_acl();
    assert_exactly(&acl, "sys/leases/lookup", &CRUDL);
    assert_exactly(&acl, "sys/leases/revoke-prefix/aws", &CRUDL);
}

#[test]
fn raft_is_read_and_list_only() {
    let acl = admin_acl();
    assert_exactly(&acl, "sys/storage/raft/configuration", &[Read, List]);
    assert_exactly(&acl, "sys/storage/raft/snapshot", &[Read, List]);
    assert!(!acl.check("sys/storage/raft/snapshot", Update).allowed);
    assert!(!acl.check("sys/storage/raft/remove-peer", Update).allowed);
}

#[test]
fn application_secrets_are_denied() {
    let acl = admin_acl();
    for path in [
        "secret/app/db",
        "secret/",
        "database/creds/readonly",
        "database/config/pg",
    ] {
        assert_exactly(&acl, path, &[]);
        assert_eq!(
            acl.check(path, Read).capabilities,
            tresor_policy::CapabilitySet::deny()
        );
        assert_eq!(acl.capabilities(path), vec!["deny".to_owned()]);
    }
    assert!(!acl.check("secret/", List).allowed);
}

#[test]
fn unlisted_paths_are_denied() {
    let acl = admin_acl();
    for path in [
        "sys/seal",
        "sys/rekey/init",
        "auth/token/create",
        "sys/storage/raft",
    ] {
        assert_exactly(&acl, path, &[]);
        assert_eq!(acl.capabilities(path), vec!["deny".to_owned()]);
    }
}

#[test]
fn formatting_the_seed_keeps_its_meaning_and_comments() {
    let text = std::fs::read_to_string(SEED).unwrap();
    let formatted = tresor_policy::format_hcl(&text).unwrap();
    assert!(formatted.contains("# DENY direct access to application secrets\n"));
    assert!(formatted.contains("path \"sys/health\" {\n  capabilities = [\"read\"]\n}\n"));
    assert_eq!(tresor_policy::format_hcl(&formatted).unwrap(), formatted);
    assert_eq!(
        Policy::parse("a", &formatted).unwrap().rules(),
        Policy::parse("a", &text).unwrap().rules()
    );
}
