//! The `kubernetes` auth method: pods log in with their service-account JWT, which the
//! Kubernetes API server confirms through the TokenReview API.
//!
//! Paths (relative to the mount):
//! - `config` read, write ([`K8sConfig`]: `kubernetes_host` required, `kubernetes_ca_cert`,
//!   `token_reviewer_jwt` (never shown), `pem_keys`, `issuer`, `disable_iss_validation`,
//!   `disable_local_ca_jwt`);
//! - `role/` LIST; `role/:name` read, write ([`K8sRole`]: `bound_service_account_names`,
//!   `bound_service_account_namespaces` (both required, globs, `*` for any), `audience`,
//!   `alias_name_source`, the common `token_*` fields), delete;
//! - `login` write (`role`, `jwt`), served without a token; a renewal of its token is refused
//!   once the role is gone.
//!
//! A login reads the service account from the JWT's claims (its signature checked first when
//! `pem_keys` are set), checks its times when it has any, the issuer (when validated), the
//! role's bindings and audience (403 `permission denied`; Vault also answers 403, with the
//! reason, which is logged here at debug level), then posts the JWT to `<kubernetes_host>/apis/authentication.k8s.io/v1/tokenreviews`
//! with the reviewer JWT as bearer (the client's own JWT when none is configured); a review
//! that fails, is not authenticated, or names another account is `403 permission denied`.
//! The token carries metadata `role`, `service_account_name`, `service_account_namespace`,
//! `service_account_uid`, `service_account_secret_name`, display name `<namespace>-<name>`
//! (so `kubernetes-production-webapp-sa` on the default mount), and an alias named by the
//! account's UID (or `<namespace>/<name>` with `alias_name_source=serviceaccount_name`).
//!
//! When `disable_local_ca_jwt` is false and no CA or reviewer JWT is configured, the pod's
//! own (`/var/run/secrets/kubernetes.io/serviceaccount/ca.crt` and `token`) are used when
//! present, as Vault does inside a cluster.
//!
//! Storage: `config`, `role/<name>`.

pub mod review;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields::{get_bool, get_str, get_str_list};
use tresor_sdk::token_fields::TokenFields;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response, cidr};
use tresor_storage::Backend;

use crate::glob;
use crate::jwt::{claims, keys, role::LEGACY, token};
use crate::store::{check_name, get_json, put_json};

const CONFIG_KEY: &str = "config";
const ROLE_PREFIX: &str = "role/";
const LOCAL_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const LOCAL_JWT: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Longest local CA or token file read.
const MAX_LOCAL_FILE: u64 = 256 * 1024;
/// Most names or namespaces a role binds.
const MAX_BOUND: usize = 256;

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

/// A stored configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct K8sConfig {
    /// The API server (`host`, `host:port` or URL).
    pub kubernetes_host: String,
    /// CA certificate (PEM) of the API server.
    pub kubernetes_ca_cert: String,
    /// The bearer of TokenReview calls.
    pub token_reviewer_jwt: String,
    /// PEM keys that verify service-account JWTs before the review.
    pub pem_keys: Vec<String>,
    /// The `iss` tokens must have (with `disable_iss_validation=false`).
    pub issuer: String,
    /// Skip the issuer check (the default, as Vault's).
    pub disable_iss_validation: bool,
    /// Do not use the pod's own CA and token.
    pub disable_local_ca_jwt: bool,
}

impl K8sConfig {
    fn from_data(data: &Map<String, Value>) -> Result<K8sConfig, LogicalError> {
        let s = |k: &str| get_str(data, k).map(Option::unwrap_or_default);
        let c = K8sConfig {
            kubernetes_host: s("kubernetes_host")?,
            kubernetes_ca_cert: s("kubernetes_ca_cert")?,
            token_reviewer_jwt: s("token_reviewer_jwt")?,
            pem_keys: get_str_list(data, "pem_keys")?.unwrap_or_default(),
            issuer: s("issuer")?,
            disable_iss_validation: get_bool(data, "disable_iss_validation")?.unwrap_or(true),
            disable_local_ca_jwt: get_bool(data, "disable_local_ca_jwt")?.unwrap_or(false),
        };
        if c.kubernetes_host.is_empty() {
            return Err(LogicalError::invalid("no host provided"));
        }
        if c.pem_keys.len() > keys::MAX_KEYS {
            return Err(LogicalError::invalid("too many pem_keys"));
        }
        c.keys()?;
        if !c.kubernetes_ca_cert.is_empty() {
            crate::remote::parse_ca(&c.kubernetes_ca_cert)
                .map_err(|e| LogicalError::invalid(format!("kubernetes_ca_cert: {e}")))?;
        }
        if c.token_reviewer_jwt.len() > token::MAX_JWT_BYTES {
            return Err(LogicalError::invalid("token_reviewer_jwt is too long"));
        }
        Ok(c)
    }

    fn keys(&self) -> Result<Vec<keys::PublicKey>, LogicalError> {
        let mut out = Vec::new();
        for pem in &self.pem_keys {
            out.extend(
                keys::from_pem(pem)
                    .map_err(|e| LogicalError::invalid(format!("error parsing pem_keys: {e}")))?,
            );
        }
        Ok(out)
    }

    fn to_data(&self) -> Map<String, Value> {
        match json!({
            "kubernetes_host": self.kubernetes_host,
            "kubernetes_ca_cert": self.kubernetes_ca_cert,
            "pem_keys": self.pem_keys,
            "issuer": self.issuer,
            "disable_iss_validation": self.disable_iss_validation,
            "disable_local_ca_jwt": self.disable_local_ca_jwt,
            "token_reviewer_jwt_set": !self.token_reviewer_jwt.is_empty(),
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// A stored role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct K8sRole {
    /// Service-account names allowed (globs; `*` for any).
    pub bound_service_account_names: Vec<String>,
    /// Namespaces allowed (globs; `*` for any).
    pub bound_service_account_namespaces: Vec<String>,
    /// The audience the JWT must carry (empty: not checked).
    pub audience: String,
    /// `serviceaccount_uid` or `serviceaccount_name`.
    pub alias_name_source: String,
    /// The token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl Default for K8sRole {
    fn default() -> Self {
        Self {
            bound_service_account_names: Vec::new(),
            bound_service_account_namespaces: Vec::new(),
            audience: String::new(),
            alias_name_source: "serviceaccount_uid".into(),
            token: TokenFields::default(),
        }
    }
}

fn bound_list(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, LogicalError> {
    let Some(list) = get_str_list(data, field)? else {
        return Ok(None);
    };
    let list: Vec<String> = list.into_iter().filter(|s| !s.is_empty()).collect();
    if list.len() > MAX_BOUND {
        return Err(LogicalError::invalid(format!(
            "too many {field} (at most {MAX_BOUND})"
        )));
    }
    if list.len() > 1 && list.iter().any(|s| s == "*") {
        return Err(LogicalError::invalid(format!(
            "can not mix \"*\" with values in {field:?}"
        )));
    }
    Ok(Some(list))
}

impl K8sRole {
    fn update(&mut self, data: &Map<String, Value>) -> Result<(), LogicalError> {
        if let Some(v) = bound_list(data, "bound_service_account_names")? {
            self.bound_service_account_names = v;
        }
        if let Some(v) = bound_list(data, "bound_service_account_namespaces")? {
            self.bound_service_account_namespaces = v;
        }
        if let Some(v) = get_str(data, "audience")? {
            self.audience = v;
        }
        if let Some(v) = get_str(data, "alias_name_source")? {
            self.alias_name_source = match v.as_str() {
                "" | "serviceaccount_uid" => "serviceaccount_uid".into(),
                "serviceaccount_name" => v,
                _ => {
                    return Err(LogicalError::invalid(format!(
                        "invalid alias_name_source {v:?}"
                    )));
                }
            };
        }
        self.token.update(data, LEGACY)?;
        if self.bound_service_account_names.is_empty() {
            return Err(LogicalError::invalid(
                "\"bound_service_account_names\" can not be empty",
            ));
        }
        if self.bound_service_account_namespaces.is_empty() {
            return Err(LogicalError::invalid(
                "\"bound_service_account_namespaces\" can not be empty",
            ));
        }
        Ok(())
    }

    fn to_data(&self) -> Map<String, Value> {
        let mut m = match json!({
            "bound_service_account_names": self.bound_service_account_names,
            "bound_service_account_namespaces": self.bound_service_account_namespaces,
            "audience": self.audience,
            "alias_name_source": self.alias_name_source,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.token.write_into(&mut m, LEGACY);
        m
    }

    /// Whether the role admits the account. Pure.
    pub fn admits(&self, sa: &review::ServiceAccount) -> Result<(), &'static str> {
        if !glob::any_matches(&self.bound_service_account_names, &sa.name) {
            return Err("service account name not authorized");
        }
        if !glob::any_matches(&self.bound_service_account_namespaces, &sa.namespace) {
            return Err("namespace not authorized");
        }
        Ok(())
    }
}

/// Reads a small local file, if it is there.
async fn local_file(path: &str) -> Option<String> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    if meta.len() > MAX_LOCAL_FILE {
        return None;
    }
    tokio::fs::read_to_string(path).await.ok()
}

/// The Kubernetes backend of one mount.
#[derive(Debug, Default)]
pub struct Kubernetes {
    reviews: review::ReviewClient,
}

impl Kubernetes {
    /// A backend.
    pub fn new() -> Self {
        Self::default()
    }

    async fn login(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let name = get_str(&req.data, "role")?.unwrap_or_default();
        if name.is_empty() {
            return Err(LogicalError::invalid("missing role"));
        }
        let jwt = get_str(&req.data, "jwt")?.unwrap_or_default();
        if jwt.is_empty() {
            return Err(LogicalError::invalid("missing jwt"));
        }
        check_name(&name, "role")?;
        let role: K8sRole = get_json(&req.storage, &role_key(&name))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("invalid role name {name:?}")))?;
        if !cidr::allows(&role.token.token_bound_cidrs, req.remote_addr) {
            return Err(LogicalError::PermissionDenied);
        }
        let config: K8sConfig = get_json(&req.storage, CONFIG_KEY)
            .await?
            .ok_or_else(|| LogicalError::Internal("could not load backend configuration".into()))?;
        // A token that does not even parse is refused like one the review refuses.
        let parsed = token::parse(&jwt).map_err(|_| LogicalError::PermissionDenied)?;
        let pem_keys = config.keys()?;
        if !pem_keys.is_empty()
            && !keys::verify_any(
                &pem_keys,
                None,
                parsed.alg,
                &parsed.signing_input,
                &parsed.signature,
            )
        {
            return Err(LogicalError::PermissionDenied);
        }
        let c = &parsed.claims;
        // Vault answers these refusals with 403 and the reason; the reason is logged here
        // and the client gets "permission denied".
        let refuse = |why: &str| {
            tracing::debug!(reason = why, "kubernetes login refused");
            LogicalError::PermissionDenied
        };
        if !config.disable_iss_validation && !config.issuer.is_empty() {
            claims::check_issuer(&config.issuer, c).map_err(|e| refuse(&e))?;
        }
        claims::check_times(
            c,
            claims::Leeways {
                clock_skew: 0,
                expiration: 0,
                not_before: 0,
            },
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .or_else(|e| {
            if e.starts_with("no issue time") {
                Ok(())
            } else {
                Err(refuse(&e))
            }
        })?;
        let sa = review::service_account(c);
        if !role.audience.is_empty() && !sa.audiences.contains(&role.audience) {
            return Err(refuse(
                "audience claim does not match any expected audience",
            ));
        }
        role.admits(&sa).map_err(refuse)?;
        if sa.uid.is_empty() {
            return Err(LogicalError::invalid("could not parse UID from claims"));
        }
        let alias = if role.alias_name_source == "serviceaccount_name" {
            format!("{}/{}", sa.namespace, sa.name)
        } else {
            sa.uid.clone()
        };
        let mut ca = config.kubernetes_ca_cert.clone();
        let mut bearer = config.token_reviewer_jwt.clone();
        if !config.disable_local_ca_jwt {
            if ca.is_empty() {
                ca = local_file(LOCAL_CA).await.unwrap_or_default();
            }
            if bearer.is_empty() {
                bearer = local_file(LOCAL_JWT)
                    .await
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
            }
        }
        if bearer.is_empty() {
            bearer = jwt.clone();
        }
        let audiences = if role.audience.is_empty() {
            sa.audiences.clone()
        } else {
            vec![role.audience.clone()]
        };
        let answer = self
            .reviews
            .review(&config.kubernetes_host, &ca, &bearer, &jwt, &audiences)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "kubernetes login: token review failed");
                LogicalError::PermissionDenied
            })?;
        let reviewed = review::read_review(&answer, &audiences).map_err(|e| {
            tracing::debug!(error = %e, "kubernetes login: token review refused");
            LogicalError::PermissionDenied
        })?;
        if reviewed.name != sa.name || reviewed.namespace != sa.namespace || reviewed.uid != sa.uid
        {
            tracing::debug!("kubernetes login: the review names another service account");
            return Err(LogicalError::PermissionDenied);
        }
        let mut login = role.token.login();
        let meta = [
            ("service_account_uid", sa.uid.clone()),
            ("service_account_name", sa.name.clone()),
            ("service_account_namespace", sa.namespace.clone()),
            ("service_account_secret_name", sa.secret_name.clone()),
        ];
        for (k, v) in &meta {
            login.metadata.insert((*k).into(), v.clone());
            login.alias.metadata.insert((*k).into(), v.clone());
        }
        login.metadata.insert("role".into(), name.clone());
        login.display_name = format!("{}-{}", sa.namespace, sa.name);
        login.alias.name = alias;
        login.internal.insert("role".into(), json!(name));
        Ok(Some(Response::login(login)))
    }

    async fn renew(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let name = req
            .data
            .get("role")
            .and_then(Value::as_str)
            .or_else(|| req.auth.metadata.get("role").map(String::as_str))
            .unwrap_or_default()
            .to_owned();
        match get_json::<K8sRole>(&req.storage, &role_key(&name)).await? {
            Some(_) if !name.is_empty() => Ok(None),
            _ => Err(LogicalError::invalid(format!(
                "role {name} does not exist during renewal"
            ))),
        }
    }
}

#[async_trait]
impl LogicalBackend for Kubernetes {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let op = req.operation;
        let parts: Vec<&str> = req.path.split('/').collect();
        match parts.as_slice() {
            ["config"] => match op {
                Operation::Read => Ok(get_json::<K8sConfig>(&req.storage, CONFIG_KEY)
                    .await?
                    .map(|c| Response::data(c.to_data()))),
                o if is_write(o) => {
                    let c = K8sConfig::from_data(&req.data)?;
                    put_json(&req.storage, CONFIG_KEY, &c).await?;
                    Ok(None)
                }
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["role", ""] | ["role"] if op == Operation::List => {
                let mut keys = req.storage.list(ROLE_PREFIX).await?;
                keys.sort();
                Ok(Some(Response::json(json!({ "keys": keys }))))
            }
            ["role", name] => {
                check_name(name, "role")?;
                match op {
                    Operation::Read => Ok(get_json::<K8sRole>(&req.storage, &role_key(name))
                        .await?
                        .map(|r| Response::data(r.to_data()))),
                    Operation::Delete => {
                        req.storage.delete(&role_key(name)).await?;
                        Ok(None)
                    }
                    o if is_write(o) => {
                        let mut role: K8sRole = get_json(&req.storage, &role_key(name))
                            .await?
                            .unwrap_or_default();
                        role.update(&req.data)?;
                        put_json(&req.storage, &role_key(name), &role).await?;
                        Ok(None)
                    }
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["login"] if op == Operation::Renew => self.renew(req).await,
            ["login"] if is_write(op) => self.login(req).await,
            ["login"] => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match req.path.split('/').collect::<Vec<_>>().as_slice() {
            ["role", name] if !name.is_empty() => {
                Ok(Some(req.storage.get(&role_key(name)).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    fn unauthenticated_paths(&self) -> Vec<String> {
        vec!["login".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(names: &[&str], namespaces: &[&str]) -> K8sRole {
        let mut r = K8sRole::default();
        r.update(
            match &json!({
                "bound_service_account_names": names,
                "bound_service_account_namespaces": namespaces,
            }) {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
        )
        .expect("valid");
        r
    }

    fn sa(ns: &str, name: &str) -> review::ServiceAccount {
        review::ServiceAccount {
            name: name.into(),
            namespace: ns.into(),
            uid: "u".into(),
            ..Default::default()
        }
    }

    #[test]
    fn bindings_with_globs() {
        let r = role(&["webapp-*", "api"], &["prod*"]);
        assert!(r.admits(&sa("production", "webapp-sa")).is_ok());
        assert!(r.admits(&sa("prod", "api")).is_ok());
        assert_eq!(
            r.admits(&sa("prod", "db")),
            Err("service account name not authorized")
        );
        assert_eq!(r.admits(&sa("dev", "api")), Err("namespace not authorized"));
        let any = role(&["*"], &["*"]);
        assert!(any.admits(&sa("x", "y")).is_ok());
    }

    #[test]
    fn role_rules() {
        let mut r = K8sRole::default();
        let data = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert!(
            r.update(&data(json!({"bound_service_account_names": ["a"]})))
                .is_err()
        );
        assert!(
            K8sRole::default()
                .update(&data(json!({"bound_service_account_names": ["*", "a"],
                    "bound_service_account_namespaces": ["x"]})))
                .is_err()
        );
        assert!(
            K8sRole::default()
                .update(&data(json!({"bound_service_account_names": "a",
                    "bound_service_account_namespaces": "x", "alias_name_source": "pod"})))
                .is_err()
        );
        let mut ok = K8sRole::default();
        ok.update(&data(json!({"bound_service_account_names": "a,b",
            "bound_service_account_namespaces": "x", "policies": "p", "ttl": "1h"})))
            .expect("valid");
        let d = ok.to_data();
        assert_eq!(d["bound_service_account_names"], json!(["a", "b"]));
        assert_eq!(d["token_policies"], json!(["p"]));
        assert_eq!(d["alias_name_source"], json!("serviceaccount_uid"));
    }
}
