//! The login stage: an auth backend's [`LoginAuth`] becomes a token. The backend says who logged
//! in and what the token may do; here the token is planned ([`plan`], pure: policies, TTLs
//! clamped by the role, the mount and the system, display name, CIDR binding at login), the
//! identity entity of the alias is found or made, the token store writes the token, and the
//! response gets Vault's `auth` block. Every auth method (userpass, AppRole, and those to come)
//! logs in through here.

use std::net::IpAddr;

use tresor_sdk::{AuthResponse, LoginAuth, MountInfo, Operation, Request, Response, cidr};
use tresor_token::{BATCH_TYPE, DEFAULT_POLICY, ROOT_POLICY, SERVICE_TYPE, TokenEntry, TtlLimits};

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

/// Longest display name a login token gets (longer ones are cut).
const MAX_DISPLAY_NAME: usize = 256;

/// The display name of a login token: the mount path without `auth/` (slashes made dashes)
/// joined by a dash to the backend's name (`userpass-alice`; `approle` alone when the backend
/// gives none), with every character outside `[A-Za-z0-9-]` made a dash, cut to
/// [`MAX_DISPLAY_NAME`].
pub(crate) fn display_name(mount_path: &str, name: &str) -> String {
    let source = mount_path.strip_prefix("auth/").unwrap_or(mount_path);
    let joined = format!("{}{name}", source.replace('/', "-"));
    let clean: String = joined
        .trim_end_matches('-')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_DISPLAY_NAME)
        .collect();
    clean
}

/// The policies of a login token: lower-cased, trimmed, deduplicated, sorted, with `default`
/// unless asked otherwise. A login never yields a root token.
pub(crate) fn login_policies(login: &LoginAuth) -> Result<Vec<String>, CoreError> {
    let mut out: Vec<String> = login
        .policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if out.iter().any(|p| p == ROOT_POLICY) {
        return Err(CoreError::invalid("auth methods cannot create root tokens"));
    }
    if !login.no_default_policy {
        out.push(DEFAULT_POLICY.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The TTL facts of a login token: `(ttl, max_ttl)`. A periodic token gets its period (cut by
/// the explicit maximum) and no maximum; others get the requested TTL or the mount's default,
/// cut by the smallest of the role's maximum, the mount's maximum, the system maximum and the
/// explicit maximum.
pub(crate) fn login_ttls(login: &LoginAuth, mount: &MountInfo, system: TtlLimits) -> (u64, u64) {
    let smallest = |values: &[u64]| values.iter().copied().filter(|v| *v > 0).min().unwrap_or(0);
    if login.period > 0 {
        let ttl = smallest(&[login.period, login.explicit_max_ttl]);
        return (ttl, 0);
    }
    let max = smallest(&[
        login.max_ttl,
        mount.max_lease_ttl,
        system.max_lease_ttl,
        login.explicit_max_ttl,
    ]);
    let wanted = if login.ttl > 0 {
        login.ttl
    } else {
        mount.default_lease_ttl
    };
    let ttl = match (wanted, max) {
        (0, m) => m,
        (w, 0) => w,
        (w, m) => w.min(m),
    };
    (ttl, max)
}

/// Plans the token of a login through `mount` at `request_path` from `remote` at `now`: the
/// entry the token store will write (without id, accessor or entity), or why the login is
/// refused (a root policy, a client outside the bound CIDRs, an unknown token type).
pub(crate) fn plan(
    login: &LoginAuth,
    mount: &MountInfo,
    request_path: &str,
    remote: Option<IpAddr>,
    system: TtlLimits,
    now: u64,
) -> Result<TokenEntry, CoreError> {
    // Logins default to service tokens; `batch` and `default-batch` issue batch tokens (a
    // login asks for no type of its own, so the default is the role's choice).
    let batch = match login.token_type.as_str() {
        "" | "default" | "service" | "default-service" => false,
        "batch" | "default-batch" => true,
        other => {
            return Err(CoreError::invalid(format!(
                "unsupported token_type {other:?}"
            )));
        }
    };
    if !cidr::allows(&login.bound_cidrs, remote) {
        return Err(CoreError::PermissionDenied);
    }
    let policies = login_policies(login)?;
    let (ttl, max_ttl) = login_ttls(login, mount, system);
    if batch && (login.period > 0 || login.num_uses > 0) {
        return Err(CoreError::invalid(
            "batch tokens cannot be periodic or have a use limit",
        ));
    }
    let mut entry = TokenEntry {
        policies,
        meta: login.metadata.clone(),
        display_name: display_name(&mount.path, &login.display_name),
        num_uses: login.num_uses,
        creation_time: now,
        ttl,
        creation_ttl: ttl,
        expire_time: (ttl > 0).then(|| now.saturating_add(ttl)),
        explicit_max_ttl: login.explicit_max_ttl,
        period: login.period,
        renewable: login.renewable && ttl > 0,
        orphan: true,
        path: request_path.to_owned(),
        token_type: SERVICE_TYPE.to_owned(),
        bound_cidrs: login.bound_cidrs.clone(),
        max_ttl,
        internal: login.internal.clone(),
        ..TokenEntry::default()
    };
    if batch {
        // A batch token is its own record: its TTL (already cut by every maximum, the
        // explicit one included) is all it carries; it is never renewed, so the login's
        // renewal data and maximum are not kept.
        entry.token_type = BATCH_TYPE.to_owned();
        entry.renewable = false;
        entry.explicit_max_ttl = 0;
        entry.max_ttl = 0;
        entry.internal.clear();
    }
    Ok(entry)
}

/// The `auth` block of a login's response.
pub(crate) fn auth_block(e: &TokenEntry) -> AuthResponse {
    AuthResponse {
        client_token: e.id.clone(),
        accessor: e.accessor.clone(),
        policies: e.policies.clone(),
        token_policies: e.policies.clone(),
        metadata: Some(e.meta.clone()),
        lease_duration: e.ttl,
        renewable: e.renewable,
        entity_id: e.entity_id.clone(),
        token_type: e.token_type.clone(),
        orphan: e.orphan,
        num_uses: e.num_uses,
        mfa_requirement: (),
        display_name: e.display_name.clone(),
    }
}

impl Core {
    /// Mints the token `resp.login` asks for and fills `resp.auth`; the login result itself
    /// never leaves the core.
    pub(crate) async fn login_stage(
        &self,
        active: &Active,
        request_path: &str,
        mount: &MountInfo,
        remote: Option<IpAddr>,
        resp: &mut Response,
    ) -> Result<(), CoreError> {
        let Some(login) = resp.login.take() else {
            return Ok(());
        };
        if !mount.path.starts_with("auth/") {
            return Err(CoreError::Internal(format!(
                "a login answered from {}, which is no auth mount",
                mount.path
            )));
        }
        let tokens = &active.tokens;
        let mut entry = plan(
            &login,
            mount,
            request_path,
            remote,
            tokens.limits(),
            tokens.now(),
        )?;
        if !login.alias.name.is_empty() {
            entry.entity_id = active
                .identity
                .entity_for(&mount.accessor, &login.alias.name)
                .await?;
        }
        let entry = tokens
            .create(entry, None)
            .await
            .map_err(|e| CoreError::from(tresor_sdk::LogicalError::from(e)))?;
        resp.auth = Some(auth_block(&entry));
        Ok(())
    }
}

impl Core {
    /// Before `auth/token/renew`, `renew-self` or `renew-accessor` renews a token a login
    /// issued, its auth method is asked ([`Operation::Renew`] at the login path, with the
    /// token as `auth` and the login's `internal` data as `data`): its error refuses the
    /// renewal. Tokens of the token store, unknown
    /// tokens and tokens whose method is gone go on unasked (the token backend answers them).
    pub(crate) async fn check_login_renewal(
        &self,
        active: &Active,
        rel: &str,
        request: &Request,
        caller: Option<&TokenEntry>,
    ) -> Result<(), CoreError> {
        let tokens = &active.tokens;
        let text = |k: &str| {
            request
                .data
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let looked_up = match rel {
            "renew-self" => caller.cloned(),
            "renew" => tokens.lookup(&text("token")).await.ok().flatten(),
            "renew-accessor" => tokens
                .lookup_accessor(&text("accessor"))
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let Some(target) = looked_up else {
            return Ok(());
        };
        let Some(rest) = target.path.strip_prefix("auth/") else {
            return Ok(());
        };
        let table = active.auth_snapshot();
        let Some((entry, login_path)) = table.route(rest) else {
            return Ok(());
        };
        if entry.kind == "token" {
            return Ok(());
        }
        let Some(backend) = active.backend(&entry.uuid) else {
            return Ok(());
        };
        let mut renew = Request::new(Operation::Renew, login_path, active.auth_view(entry));
        renew.mount = active.auth_mount_info(entry);
        renew.auth = target.auth();
        // What the method kept at login comes back as the request's data.
        renew.data = target.internal.clone();
        renew.remote_addr = request.remote_addr;
        backend.handle(&renew).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(default: u64, max: u64) -> MountInfo {
        MountInfo {
            path: "auth/userpass/".into(),
            accessor: "auth_userpass_1234".into(),
            default_lease_ttl: default,
            max_lease_ttl: max,
            ..MountInfo::default()
        }
    }

    const SYSTEM: TtlLimits = TtlLimits {
        default_lease_ttl: 2_764_800,
        max_lease_ttl: 2_764_800,
    };

    #[test]
    fn display_names_as_vault_forms_them() {
        assert_eq!(display_name("auth/userpass/", "alice"), "userpass-alice");
        assert_eq!(display_name("auth/approle/", ""), "approle");
        assert_eq!(display_name("auth/team/a/", "b.c@d"), "team-a-b-c-d");
        assert_eq!(
            display_name("auth/x/", &"n".repeat(1000)).len(),
            MAX_DISPLAY_NAME
        );
    }

    #[test]
    fn policies_get_default_and_never_root() {
        let mut l = LoginAuth {
            policies: vec!["B".into(), " a ".into(), "a".into()],
            ..LoginAuth::default()
        };
        assert_eq!(login_policies(&l).expect("ok"), vec!["a", "b", "default"]);
        l.no_default_policy = true;
        assert_eq!(login_policies(&l).expect("ok"), vec!["a", "b"]);
        l.policies.push("root".into());
        assert!(login_policies(&l).is_err());
    }

    #[test]
    fn ttls_are_clamped_by_role_mount_and_system() {
        let l = |ttl, max_ttl| LoginAuth {
            ttl,
            max_ttl,
            ..LoginAuth::default()
        };
        // Nothing asked: the mount's default, capped by the mount's maximum.
        assert_eq!(login_ttls(&l(0, 0), &mount(600, 1200), SYSTEM), (600, 1200));
        // The role's maximum is lower than the mount's.
        assert_eq!(
            login_ttls(&l(900, 300), &mount(600, 1200), SYSTEM),
            (300, 300)
        );
        // A TTL above the mount maximum is cut.
        assert_eq!(
            login_ttls(&l(5000, 0), &mount(600, 1200), SYSTEM),
            (1200, 1200)
        );
        // The system maximum applies when the mount has none of its own.
        assert_eq!(
            login_ttls(&l(9_999_999, 0), &mount(0, 0), SYSTEM),
            (2_764_800, 2_764_800)
        );
        let periodic = LoginAuth {
            period: 60,
            explicit_max_ttl: 30,
            ..LoginAuth::default()
        };
        assert_eq!(login_ttls(&periodic, &mount(600, 1200), SYSTEM), (30, 0));
    }

    #[test]
    fn batch_roles_plan_batch_tokens_without_renewal_state() {
        let m = mount(600, 1200);
        let mut internal = serde_json::Map::new();
        internal.insert("k".into(), serde_json::json!("v"));
        let batch = LoginAuth {
            token_type: "batch".into(),
            renewable: true,
            ttl: 5000,
            internal,
            display_name: "ci".into(),
            ..LoginAuth::default()
        };
        let e = plan(&batch, &m, "auth/approle/login", None, SYSTEM, 100).expect("batch");
        assert_eq!(e.token_type, BATCH_TYPE);
        assert_eq!((e.ttl, e.expire_time), (1200, Some(1300)));
        assert!(!e.renewable && e.orphan && e.internal.is_empty());
        let default_batch = LoginAuth {
            token_type: "default-batch".into(),
            ..LoginAuth::default()
        };
        let e = plan(&default_batch, &m, "p", None, SYSTEM, 0).expect("default-batch");
        assert_eq!(e.token_type, BATCH_TYPE);
        let periodic = LoginAuth {
            period: 60,
            ..batch.clone()
        };
        assert!(matches!(
            plan(&periodic, &m, "p", None, SYSTEM, 0),
            Err(CoreError::InvalidRequest(_))
        ));
        let odd = LoginAuth {
            token_type: "weird".into(),
            ..LoginAuth::default()
        };
        assert!(matches!(
            plan(&odd, &m, "p", None, SYSTEM, 0),
            Err(CoreError::InvalidRequest(_))
        ));
    }

    #[test]
    fn plan_refuses_foreign_addresses() {
        let m = mount(600, 1200);
        let at = |a: &str| a.parse().ok();
        let mut internal = serde_json::Map::new();
        internal.insert("k".into(), serde_json::json!("kept for renewals"));
        let bound = LoginAuth {
            internal,
            bound_cidrs: vec!["10.0.0.0/8".into()],
            renewable: true,
            display_name: "a".into(),
            ..LoginAuth::default()
        };
        assert!(matches!(
            plan(&bound, &m, "p", at("192.168.0.1"), SYSTEM, 0),
            Err(CoreError::PermissionDenied)
        ));
        let e = plan(
            &bound,
            &m,
            "auth/userpass/login/a",
            at("10.1.1.1"),
            SYSTEM,
            100,
        )
        .expect("inside the block");
        assert_eq!(e.display_name, "userpass-a");
        assert_eq!((e.ttl, e.expire_time, e.max_ttl), (600, Some(700), 1200));
        assert!(e.renewable && e.orphan);
        assert_eq!(e.bound_cidrs, vec!["10.0.0.0/8"]);
        assert_eq!(e.path, "auth/userpass/login/a");
        assert_eq!(e.internal["k"], "kept for renewals");
    }
}
