//! Pure planning of a token creation: which policies, TTL, parentage and path a create request
//! yields for a given caller and role. The store then assigns ids and writes it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tresor_sdk::LogicalError;
use tresor_sdk::fields::{get_bool, get_duration, get_i64, get_str, get_str_list, get_str_map};

use crate::batch::{BATCH_TYPE, check_rules};
use crate::entry::{
    DEFAULT_POLICY, RESPONSE_WRAPPING_POLICY, ROOT_POLICY, SERVICE_TYPE, TokenEntry, TtlLimits,
};
use crate::error::TokenError;
use crate::ids::display_name;
use crate::policies::{forbidden_with_globs, not_in, outside, sanitize};
use crate::role::TokenRole;
use crate::ttl::{TtlRequest, creation_ttl};

/// The parameters of a create request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateParams {
    /// Explicit token id (root only).
    pub id: Option<String>,
    /// Requested policies (`None` = inherit).
    pub policies: Option<Vec<String>>,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Ask for an orphan token (root only, unless through a role or `create-orphan`).
    pub no_parent: bool,
    /// Do not add the `default` policy.
    pub no_default_policy: bool,
    /// Requested renewability (`None` = renewable).
    pub renewable: Option<bool>,
    /// Requested TTL, seconds.
    pub ttl: u64,
    /// Requested explicit max TTL, seconds.
    pub explicit_max_ttl: u64,
    /// Requested display name.
    pub display_name: Option<String>,
    /// Requested use limit.
    pub num_uses: u64,
    /// Requested period, seconds (root only unless through a role).
    pub period: u64,
    /// Requested token type: `service` or `batch` (`None` = the role's default, else service).
    pub token_type: Option<String>,
}

impl CreateParams {
    /// Reads the parameters from a request body, leniently typed.
    pub fn parse(data: &Map<String, Value>) -> Result<Self, LogicalError> {
        let token_type = match get_str(data, "type")?.as_deref() {
            None | Some("" | "default") => None,
            Some(t @ (SERVICE_TYPE | BATCH_TYPE)) => Some(t.to_owned()),
            Some(_) => return Err(LogicalError::invalid("invalid 'token_type' value")),
        };
        let num_uses = match get_i64(data, "num_uses")? {
            Some(n) if n < 0 => {
                return Err(LogicalError::invalid("number of uses cannot be negative"));
            }
            Some(n) => n as u64,
            None => 0,
        };
        let ttl = match get_duration(data, "ttl")? {
            Some(t) => Some(t),
            None => get_duration(data, "lease")?,
        };
        Ok(Self {
            id: get_str(data, "id")?.filter(|s| !s.is_empty()),
            policies: get_str_list(data, "policies")?,
            meta: get_str_map(data, "meta")?.unwrap_or_default(),
            no_parent: get_bool(data, "no_parent")?.unwrap_or(false),
            no_default_policy: get_bool(data, "no_default_policy")?.unwrap_or(false),
            renewable: get_bool(data, "renewable")?,
            ttl: ttl.unwrap_or(0),
            explicit_max_ttl: get_duration(data, "explicit_max_ttl")?.unwrap_or(0),
            display_name: get_str(data, "display_name")?,
            num_uses,
            period: get_duration(data, "period")?.unwrap_or(0),
            token_type,
        })
    }
}

/// Who is creating the token.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The caller's policies.
    pub policies: &'a [String],
    /// Whether the caller is root.
    pub is_root: bool,
    /// Whether the caller is root or holds `sudo` on the create path (lifts the subset rule
    /// and allows ids, orphans and periods; only root creates root tokens).
    pub sudo: bool,
}

/// Which endpoint the request came through.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint<'a> {
    /// `create`.
    Create,
    /// `create-orphan`.
    CreateOrphan,
    /// `create/:role_name`.
    Role(&'a TokenRole),
}

/// What to store: an entry without id/accessor (unless an explicit id was given) and whether
/// the caller becomes its parent.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The entry to store.
    pub entry: TokenEntry,
    /// Link the caller as parent.
    pub attach_parent: bool,
    /// Warnings for the response.
    pub warnings: Vec<String>,
}

fn needs_root(what: &str) -> TokenError {
    TokenError::invalid(format!("root or sudo privileges required to {what}"))
}

/// Decides the token a create request yields, or why it is refused.
pub fn plan(
    p: &CreateParams,
    caller: Caller<'_>,
    endpoint: Endpoint<'_>,
    limits: TtlLimits,
    now: u64,
) -> Result<Plan, TokenError> {
    let role = match endpoint {
        Endpoint::Role(r) => Some(r),
        _ => None,
    };
    if let Some(id) = &p.id {
        if !caller.sudo {
            return Err(needs_root("specify token id"));
        }
        if id.contains('.') {
            return Err(TokenError::invalid("token IDs can not contain periods"));
        }
    }

    // `no_parent` needs root or sudo on every endpoint, create-orphan included.
    if p.no_parent && !caller.sudo {
        return Err(needs_root("create orphan token"));
    }
    let orphan = match endpoint {
        Endpoint::CreateOrphan => true,
        Endpoint::Role(r) if r.orphan => true,
        _ => p.no_parent,
    };

    let policies = plan_policies(p, caller, role)?;

    let period = match role {
        Some(r) if r.period > 0 => r.period,
        _ if p.period > 0 => {
            if !caller.sudo {
                return Err(needs_root("create periodic token"));
            }
            p.period
        }
        _ => 0,
    };
    let explicit_max_ttl = match role.map_or(0, |r| r.explicit_max_ttl) {
        0 => p.explicit_max_ttl,
        r if p.explicit_max_ttl == 0 || p.explicit_max_ttl > r => r,
        _ => p.explicit_max_ttl,
    };
    let num_uses = match role.map_or(0, |r| r.token_num_uses) {
        0 => p.num_uses,
        r if p.num_uses == 0 || p.num_uses > r => r,
        _ => p.num_uses,
    };
    let token_type = token_type(p.token_type.as_deref(), role);
    let batch = token_type == BATCH_TYPE;
    let renewable = !batch && p.renewable.unwrap_or(true) && role.is_none_or(|r| r.renewable);

    let grant = creation_ttl(
        TtlRequest {
            ttl: p.ttl,
            explicit_max_ttl,
            period,
            root_policy: policies.iter().any(|x| x == ROOT_POLICY),
        },
        limits,
    );
    // A token that never expires has nothing to renew.
    let renewable = renewable && grant.ttl > 0;
    let mut warnings = Vec::new();
    if grant.capped {
        warnings.push(format!(
            "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
            p.ttl, grant.ttl
        ));
    }

    let path = match endpoint {
        Endpoint::Create => "auth/token/create".to_owned(),
        Endpoint::CreateOrphan => "auth/token/create-orphan".to_owned(),
        Endpoint::Role(r) if r.path_suffix.is_empty() => format!("auth/token/create/{}", r.name),
        Endpoint::Role(r) => format!("auth/token/create/{}/{}", r.name, r.path_suffix),
    };

    let entry = TokenEntry {
        // A batch token's id is its sealed content: a requested id is ignored.
        id: if batch {
            String::new()
        } else {
            p.id.clone().unwrap_or_default()
        },
        accessor: String::new(),
        parent: None,
        policies,
        meta: p.meta.clone(),
        display_name: display_name(p.display_name.as_deref()),
        num_uses,
        creation_time: now,
        ttl: grant.ttl,
        creation_ttl: grant.ttl,
        expire_time: (grant.ttl > 0).then(|| now.saturating_add(grant.ttl)),
        explicit_max_ttl,
        period,
        renewable,
        orphan,
        path,
        token_type: token_type.to_owned(),
        entity_id: String::new(),
        last_renewal_time: None,
        role: role.map(|r| r.name.clone()),
        revoking: false,
        bound_cidrs: role
            .map(|r| r.token_bound_cidrs.clone())
            .unwrap_or_default(),
        max_ttl: 0,
        internal: Map::new(),
    };
    if batch {
        check_rules(&entry)?;
    }
    Ok(Plan {
        entry,
        attach_parent: !orphan,
        warnings,
    })
}

/// The type a create request yields: a role of type `service` or `batch` decides; a
/// `default-*` role (or no role) gives the requested type, else its default.
pub fn token_type(requested: Option<&str>, role: Option<&TokenRole>) -> &'static str {
    let requested = requested.map(|t| {
        if t == BATCH_TYPE {
            BATCH_TYPE
        } else {
            SERVICE_TYPE
        }
    });
    match role.map(|r| r.token_type.as_str()) {
        Some(SERVICE_TYPE) => SERVICE_TYPE,
        Some(BATCH_TYPE) => BATCH_TYPE,
        Some("default-batch") => requested.unwrap_or(BATCH_TYPE),
        _ => requested.unwrap_or(SERVICE_TYPE),
    }
}

fn plan_policies(
    p: &CreateParams,
    caller: Caller<'_>,
    role: Option<&TokenRole>,
) -> Result<Vec<String>, TokenError> {
    let no_default = p.no_default_policy || role.is_some_and(|r| r.token_no_default_policy);
    let requested = sanitize(p.policies.as_deref().unwrap_or_default(), false);
    let parent_policies = sanitize(caller.policies, false);

    let requested = match role {
        Some(r) if !r.allowed_policies.is_empty() || !r.allowed_policies_glob.is_empty() => {
            if requested.is_empty() {
                r.allowed_policies.clone()
            } else {
                if !outside(&requested, &r.allowed_policies, &r.allowed_policies_glob).is_empty() {
                    return Err(TokenError::invalid(format!(
                        "token policies ({requested:?}) must be subset of the role's allowed policies ({:?})",
                        r.allowed_policies
                    )));
                }
                requested
            }
        }
        _ => {
            let requested = if p.policies.is_none() || requested.is_empty() {
                parent_policies.clone()
            } else {
                requested
            };
            if !caller.sudo && !not_in(&requested, &parent_policies).is_empty() {
                return Err(TokenError::invalid(
                    "child policies must be subset of parent",
                ));
            }
            requested
        }
    };
    if requested.iter().any(|x| x == ROOT_POLICY) && !caller.is_root {
        return Err(TokenError::invalid(
            "root tokens may not be created without parent token being root",
        ));
    }
    let disallowed = role
        .map(|r| r.disallowed_policies.as_slice())
        .unwrap_or(&[]);
    let disallowed_globs = role
        .map(|r| r.disallowed_policies_glob.as_slice())
        .unwrap_or(&[]);
    let hit = forbidden_with_globs(&requested, disallowed, disallowed_globs);
    if !hit.is_empty() {
        return Err(TokenError::invalid(format!(
            "token policies ({requested:?}) contain disallowed policies ({hit:?})"
        )));
    }
    if requested.iter().any(|x| x == RESPONSE_WRAPPING_POLICY) {
        return Err(TokenError::invalid(format!(
            "cannot assign policy {RESPONSE_WRAPPING_POLICY:?}"
        )));
    }
    let add_default = !no_default
        && forbidden_with_globs(&[DEFAULT_POLICY.to_owned()], disallowed, disallowed_globs)
            .is_empty();
    let mut out = sanitize(&requested, add_default);
    if no_default {
        out.retain(|x| x != DEFAULT_POLICY);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TtlLimits = TtlLimits {
        default_lease_ttl: 3600,
        max_lease_ttl: 7200,
    };

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn root_caller() -> Vec<String> {
        v(&["root"])
    }

    #[test]
    fn root_child_inherits_root_and_never_expires() {
        let pol = root_caller();
        let caller = Caller {
            policies: &pol,
            is_root: true,
            sudo: true,
        };
        let plan = plan(
            &CreateParams::default(),
            caller,
            Endpoint::Create,
            LIMITS,
            100,
        )
        .unwrap();
        assert_eq!(plan.entry.policies, v(&["root"]));
        assert_eq!(plan.entry.expire_time, None);
        assert!(plan.attach_parent);
        assert_eq!(plan.entry.path, "auth/token/create");
        assert_eq!(plan.entry.display_name, "token");
    }

    #[test]
    fn policies_get_default_and_are_sorted() {
        let pol = root_caller();
        let caller = Caller {
            policies: &pol,
            is_root: true,
            sudo: true,
        };
        let p = CreateParams {
            policies: Some(v(&["zeta", "alpha"])),
            ttl: 600,
            ..CreateParams::default()
        };
        let plan = plan(&p, caller, Endpoint::Create, LIMITS, 100).unwrap();
        assert_eq!(plan.entry.policies, v(&["alpha", "default", "zeta"]));
        assert_eq!(plan.entry.expire_time, Some(700));
        let p = CreateParams {
            no_default_policy: true,
            ..p
        };
        let plan2 = super::plan(&p, caller, Endpoint::Create, LIMITS, 100).unwrap();
        assert_eq!(plan2.entry.policies, v(&["alpha", "zeta"]));
    }

    #[test]
    fn response_wrapping_policy_cannot_be_assigned() {
        let pol = root_caller();
        let caller = Caller {
            policies: &pol,
            is_root: true,
            sudo: true,
        };
        let p = CreateParams {
            policies: Some(v(&["response-wrapping"])),
            ..CreateParams::default()
        };
        assert!(matches!(
            plan(&p, caller, Endpoint::Create, LIMITS, 0),
            Err(TokenError::InvalidRequest(m)) if m.contains("response-wrapping")
        ));
    }

    #[test]
    fn non_root_subset_rule_and_privileged_options() {
        let pol = v(&["a", "b", "default"]);
        let caller = Caller {
            policies: &pol,
            is_root: false,
            sudo: false,
        };
        let ok = CreateParams {
            policies: Some(v(&["a"])),
            ..CreateParams::default()
        };
        assert!(plan(&ok, caller, Endpoint::Create, LIMITS, 0).is_ok());
        for bad in [
            CreateParams {
                policies: Some(v(&["c"])),
                ..CreateParams::default()
            },
            CreateParams {
                policies: Some(v(&["root"])),
                ..CreateParams::default()
            },
            CreateParams {
                no_parent: true,
                ..CreateParams::default()
            },
            CreateParams {
                period: 60,
                ..CreateParams::default()
            },
            CreateParams {
                id: Some("custom".into()),
                ..CreateParams::default()
            },
        ] {
            assert!(
                matches!(
                    plan(&bad, caller, Endpoint::Create, LIMITS, 0),
                    Err(TokenError::InvalidRequest(_))
                ),
                "{bad:?} must be refused"
            );
        }
        // create-orphan needs no privilege.
        let plan = plan(&ok, caller, Endpoint::CreateOrphan, LIMITS, 0).unwrap();
        assert!(plan.entry.orphan && !plan.attach_parent);
    }

    #[test]
    fn role_sets_policies_period_and_path() {
        let role = TokenRole {
            name: "r".into(),
            allowed_policies: v(&["testpolicy"]),
            disallowed_policies: v(&["bad"]),
            period: 1800,
            path_suffix: "sfx".into(),
            orphan: true,
            ..TokenRole::default()
        };
        let pol = v(&["default"]);
        let caller = Caller {
            policies: &pol,
            is_root: false,
            sudo: false,
        };
        let plan1 = plan(
            &CreateParams::default(),
            caller,
            Endpoint::Role(&role),
            LIMITS,
            0,
        )
        .unwrap();
        assert_eq!(plan1.entry.policies, v(&["default", "testpolicy"]));
        assert_eq!(plan1.entry.period, 1800);
        assert_eq!(plan1.entry.ttl, 1800);
        assert_eq!(plan1.entry.path, "auth/token/create/r/sfx");
        assert!(plan1.entry.orphan);
        let outside = CreateParams {
            policies: Some(v(&["other"])),
            ..CreateParams::default()
        };
        assert!(plan(&outside, caller, Endpoint::Role(&role), LIMITS, 0).is_err());
    }

    #[test]
    fn role_policy_globs() {
        let role = TokenRole {
            name: "g".into(),
            allowed_policies: v(&["fixed"]),
            allowed_policies_glob: v(&["dev-*"]),
            disallowed_policies_glob: v(&["dev-secret*"]),
            ..TokenRole::default()
        };
        let pol = v(&["default"]);
        let caller = Caller {
            policies: &pol,
            is_root: false,
            sudo: false,
        };
        let ask = |p: &[&str]| CreateParams {
            policies: Some(v(p)),
            ..CreateParams::default()
        };
        let ok = plan(
            &ask(&["dev-app", "fixed"]),
            caller,
            Endpoint::Role(&role),
            LIMITS,
            0,
        )
        .unwrap();
        assert_eq!(ok.entry.policies, v(&["default", "dev-app", "fixed"]));
        for bad in [&["prod"][..], &["dev-secrets"][..]] {
            assert!(
                plan(&ask(bad), caller, Endpoint::Role(&role), LIMITS, 0).is_err(),
                "{bad:?}"
            );
        }
        // Nothing requested: the role's exact allowed policies (globs cannot be expanded).
        let none = plan(
            &CreateParams::default(),
            caller,
            Endpoint::Role(&role),
            LIMITS,
            0,
        )
        .unwrap();
        assert_eq!(none.entry.policies, v(&["default", "fixed"]));
        // A disallowed glob matching `default` keeps it off.
        let no_default = TokenRole {
            allowed_policies: v(&["a"]),
            allowed_policies_glob: Vec::new(),
            disallowed_policies_glob: v(&["def*"]),
            ..role
        };
        let p = plan(
            &CreateParams::default(),
            caller,
            Endpoint::Role(&no_default),
            LIMITS,
            0,
        )
        .unwrap();
        assert_eq!(p.entry.policies, v(&["a"]));
    }

    #[test]
    fn token_type_from_request_and_role() {
        let role = |t: &str| TokenRole {
            token_type: t.into(),
            ..TokenRole::default()
        };
        assert_eq!(token_type(None, None), "service");
        assert_eq!(token_type(Some("batch"), None), "batch");
        assert_eq!(token_type(Some("batch"), Some(&role("service"))), "service");
        assert_eq!(token_type(Some("service"), Some(&role("batch"))), "batch");
        assert_eq!(token_type(None, Some(&role("default-batch"))), "batch");
        assert_eq!(
            token_type(Some("service"), Some(&role("default-batch"))),
            "service"
        );
        assert_eq!(
            token_type(Some("batch"), Some(&role("default-service"))),
            "batch"
        );
    }

    #[test]
    fn parse_is_lenient_and_rejects_bad_values() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        let p = CreateParams::parse(&m(serde_json::json!({
            "ttl": "1h", "policies": "a,b", "num_uses": "3", "renewable": "false",
            "meta": {"k": "v"}, "display_name": "x"
        })))
        .unwrap();
        assert_eq!(p.ttl, 3600);
        assert_eq!(p.policies, Some(v(&["a", "b"])));
        assert_eq!(p.num_uses, 3);
        assert_eq!(p.renewable, Some(false));
        assert_eq!(p.meta.get("k").map(String::as_str), Some("v"));
        assert!(CreateParams::parse(&m(serde_json::json!({"num_uses": -1}))).is_err());
        let batch = CreateParams::parse(&m(serde_json::json!({"type": "batch"}))).unwrap();
        assert_eq!(batch.token_type.as_deref(), Some("batch"));
        assert!(CreateParams::parse(&m(serde_json::json!({"type": "weird"}))).is_err());
        assert!(CreateParams::parse(&m(serde_json::json!({"type": "default-batch"}))).is_err());
    }
}
