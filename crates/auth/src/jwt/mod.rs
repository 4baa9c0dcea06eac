//! The `jwt` auth method (also mounted as type `oidc`, the same code): logins with a signed
//! JWT against a role (`role_type=jwt`). The OIDC browser flow (`oidc/auth_url`,
//! `oidc/callback`) is not served.
//!
//! Paths (relative to the mount):
//! - `config` read, write ([`JwtConfig`]; keys from `jwt_validation_pubkeys`, `jwks_url` or
//!   `oidc_discovery_url`, checked by fetching them when written);
//! - `role/` LIST; `role/:name` read, write ([`JwtRole`] and the common `token_*` fields),
//!   delete;
//! - `login` write (`role`, `jwt`), served without a token; a renewal of its token
//!   ([`Operation::Renew`]) is refused once the role is gone.
//!
//! A login takes the token apart ([`token`], bounded), checks its signature with the mount's
//! keys ([`keys`], fetched and cached by [`keyset`]) and the algorithms allowed, then its
//! claims ([`claims`]): times with the role's leeways, issuer, subject, audiences, bound
//! claims. The token it asks for carries the role's settings, metadata `role` plus the
//! `claim_mappings`, the user claim as display name and alias name. Every refusal is a 400
//! with the reason, as Vault answers; a client outside `token_bound_cidrs` gets 403.
//! Storage: `config` ([`JwtConfig`]), `role/<name>` ([`JwtRole`]).

pub mod claims;
pub mod config;
pub mod keys;
pub mod keyset;
pub mod role;
pub mod token;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tresor_sdk::fields::get_str;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response, cidr};
use tresor_storage::Backend;

use crate::store::{check_name, get_json, put_json};
pub use config::{JwtConfig, KeySource};
pub use role::JwtRole;

const CONFIG_KEY: &str = "config";
const ROLE_PREFIX: &str = "role/";

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The JWT/OIDC backend of one mount.
#[derive(Debug, Default)]
pub struct Jwt {
    keys: keyset::KeyCache,
}

impl Jwt {
    /// A backend with nothing cached.
    pub fn new() -> Self {
        Self::default()
    }

    async fn config(&self, req: &Request) -> Result<Option<JwtConfig>, LogicalError> {
        get_json(&req.storage, CONFIG_KEY).await
    }

    async fn write_config(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let config = JwtConfig::from_data(&req.data)?;
        match config.source()? {
            KeySource::Static => {}
            source => {
                let fetched = keyset::fetch(&config).await.map_err(|e| {
                    LogicalError::invalid(match source {
                        KeySource::Discovery => format!("error checking oidc discovery URL: {e}"),
                        _ => format!("error checking jwks URL: {e}"),
                    })
                })?;
                self.keys.prime(&config, fetched).await;
            }
        }
        put_json(&req.storage, CONFIG_KEY, &config).await?;
        Ok(None)
    }

    async fn write_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let mut role: JwtRole = get_json(&req.storage, &role_key(name))
            .await?
            .unwrap_or_default();
        role.update(&req.data)?;
        put_json(&req.storage, &role_key(name), &role).await?;
        Ok(None)
    }

    /// Verifies the signature and the claims of `jwt` for `role`; the claims on success.
    async fn verify(
        &self,
        config: &JwtConfig,
        role: &JwtRole,
        jwt: &str,
    ) -> Result<Map<String, Value>, LogicalError> {
        let bad = |m: String| LogicalError::invalid(m);
        let parsed = token::parse(jwt).map_err(|e| bad(format!("error parsing token: {e}")))?;
        if !config.algs()?.contains(&parsed.alg) {
            return Err(bad(format!(
                "error verifying token: unsupported signing algorithm {:?}",
                parsed.alg.name()
            )));
        }
        let kid = parsed.kid.as_deref();
        let (verified, issuer) = match config.source()? {
            KeySource::Static => {
                let keys = config.static_keys()?;
                let ok = keys::verify_any(
                    &keys,
                    None,
                    parsed.alg,
                    &parsed.signing_input,
                    &parsed.signature,
                );
                if !ok {
                    return Err(bad(
                        "no known key successfully validated the token signature".into(),
                    ));
                }
                (ok, config.bound_issuer.clone())
            }
            source => {
                let fetched = self
                    .keys
                    .keys(config, kid)
                    .await
                    .map_err(|e| bad(format!("error fetching jwks keyset: {e}")))?;
                let ok = keys::verify_any(
                    &fetched.keys,
                    kid,
                    parsed.alg,
                    &parsed.signing_input,
                    &parsed.signature,
                );
                let issuer = if source == KeySource::Discovery {
                    fetched.issuer
                } else {
                    config.bound_issuer.clone()
                };
                (ok, issuer)
            }
        };
        if !verified {
            return Err(bad(
                "error verifying token: failed to verify id token signature".into(),
            ));
        }
        let c = &parsed.claims;
        let invalid = |e: String| bad(format!("error validating claims: {e}"));
        claims::check_issuer(&issuer, c).map_err(invalid)?;
        if config.source()? == KeySource::Discovery && !config.bound_issuer.is_empty() {
            claims::check_issuer(&config.bound_issuer, c).map_err(invalid)?;
        }
        claims::check_times(c, role.leeways(), now()).map_err(invalid)?;
        claims::check_subject(&role.bound_subject, c).map_err(bad)?;
        claims::check_audience(&role.bound_audiences, c).map_err(bad)?;
        claims::check_bound_claims(&role.bound_claims, role.bound_claims_type == "glob", c)
            .map_err(invalid)?;
        Ok(parsed.claims)
    }

    async fn login(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let config = self
            .config(req)
            .await?
            .ok_or_else(|| LogicalError::invalid("could not load configuration"))?;
        let mut name = get_str(&req.data, "role")?
            .unwrap_or_default()
            .to_lowercase();
        if name.is_empty() {
            name = config.default_role.clone();
        }
        if name.is_empty() {
            return Err(LogicalError::invalid("missing role"));
        }
        check_name(&name, "role")?;
        let role: JwtRole = get_json(&req.storage, &role_key(&name))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("role {name:?} could not be found")))?;
        if role.role_type == "oidc" {
            return Err(LogicalError::invalid(
                "role with oidc role_type is not allowed",
            ));
        }
        let jwt = get_str(&req.data, "jwt")?.unwrap_or_default();
        if jwt.is_empty() {
            return Err(LogicalError::invalid("missing token"));
        }
        if !cidr::allows(&role.token.token_bound_cidrs, req.remote_addr) {
            return Err(LogicalError::PermissionDenied);
        }
        let c = self.verify(&config, &role, &jwt).await?;
        let user = claims::user_name(&c, &role.user_claim, role.user_claim_json_pointer)
            .map_err(LogicalError::invalid)?;
        if !role.groups_claim.is_empty() {
            // Checked as Vault checks it; group aliases are not made (no identity groups yet).
            claims::groups(&c, &role.groups_claim).map_err(LogicalError::invalid)?;
        }
        let mapped =
            claims::mapped_metadata(&c, &role.claim_mappings).map_err(LogicalError::invalid)?;
        let mut login = role.token.login();
        login.metadata = mapped.clone();
        login.metadata.insert("role".into(), name.clone());
        login.display_name = user.clone();
        login.alias.name = user;
        login.alias.metadata = mapped;
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
        if name.is_empty() {
            return Err(LogicalError::invalid(
                "failed to fetch role_name during renewal",
            ));
        }
        match get_json::<JwtRole>(&req.storage, &role_key(&name)).await? {
            Some(_) => Ok(None),
            None => Err(LogicalError::invalid(format!(
                "role {name} does not exist during renewal"
            ))),
        }
    }
}

#[async_trait]
impl LogicalBackend for Jwt {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let op = req.operation;
        let parts: Vec<&str> = req.path.split('/').collect();
        match parts.as_slice() {
            ["config"] => match op {
                Operation::Read => Ok(self.config(req).await?.map(|c| Response::data(c.to_data()))),
                o if is_write(o) => self.write_config(req).await,
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["role", ""] | ["role"] if op == Operation::List => {
                let mut keys = req.storage.list(ROLE_PREFIX).await?;
                keys.sort();
                Ok(Some(Response::json(json!({ "keys": keys }))))
            }
            ["role", name] => {
                let name = name.to_lowercase();
                check_name(&name, "role")?;
                match op {
                    Operation::Read => Ok(get_json::<JwtRole>(&req.storage, &role_key(&name))
                        .await?
                        .map(|r| Response::data(r.to_data()))),
                    Operation::Delete => {
                        req.storage.delete(&role_key(&name)).await?;
                        Ok(None)
                    }
                    o if is_write(o) => self.write_role(req, &name).await,
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["login"] if op == Operation::Renew => self.renew(req).await,
            ["login"] if is_write(op) => self.login(req).await,
            ["login"] => Err(LogicalError::UnsupportedOperation),
            ["oidc", "auth_url" | "callback"] => Err(LogicalError::invalid(
                "the OIDC browser flow is not supported; log in with a JWT (role_type=jwt)",
            )),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match req.path.split('/').collect::<Vec<_>>().as_slice() {
            ["role", name] if !name.is_empty() => Ok(Some(
                req.storage
                    .get(&role_key(&name.to_lowercase()))
                    .await?
                    .is_some(),
            )),
            _ => Ok(None),
        }
    }

    fn unauthenticated_paths(&self) -> Vec<String> {
        vec![
            "login".into(),
            "oidc/auth_url".into(),
            "oidc/callback".into(),
        ]
    }
}
