//! The configuration of a JWT/OIDC mount: where verification keys come from (exactly one of
//! `jwt_validation_pubkeys`, `jwks_url`, `oidc_discovery_url`), the issuer to insist on, the
//! default role and the accepted algorithms.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::fields::{get_str, get_str_list};

use super::keys::{self, MAX_KEYS};
use super::token::Alg;

/// Where the keys of a mount come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Keys given in the configuration.
    Static,
    /// A JWKS document at a URL.
    Jwks,
    /// An OIDC provider's discovery document, and the JWKS it names.
    Discovery,
}

/// A stored configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// The OIDC discovery URL (without `/.well-known/...`).
    pub oidc_discovery_url: String,
    /// CA certificates (PEM) for the discovery URL.
    pub oidc_discovery_ca_pem: String,
    /// OAuth client id (kept and shown; the browser flow is not served).
    pub oidc_client_id: String,
    /// OAuth client secret (kept, never shown).
    pub oidc_client_secret: String,
    /// A JWKS URL.
    pub jwks_url: String,
    /// CA certificates (PEM) for the JWKS URL.
    pub jwks_ca_pem: String,
    /// PEM public keys.
    pub jwt_validation_pubkeys: Vec<String>,
    /// The `iss` tokens must have (keys from static keys or a JWKS URL).
    pub bound_issuer: String,
    /// The role of logins that name none.
    pub default_role: String,
    /// Accepted signing algorithms (empty: all supported ones).
    pub jwt_supported_algs: Vec<String>,
}

impl JwtConfig {
    /// The configuration `data` describes (a write replaces the whole configuration).
    pub fn from_data(data: &Map<String, Value>) -> Result<JwtConfig, LogicalError> {
        let s = |k: &str| get_str(data, k).map(Option::unwrap_or_default);
        let c = JwtConfig {
            oidc_discovery_url: s("oidc_discovery_url")?,
            oidc_discovery_ca_pem: s("oidc_discovery_ca_pem")?,
            oidc_client_id: s("oidc_client_id")?,
            oidc_client_secret: s("oidc_client_secret")?,
            jwks_url: s("jwks_url")?,
            jwks_ca_pem: s("jwks_ca_pem")?,
            jwt_validation_pubkeys: get_str_list(data, "jwt_validation_pubkeys")?
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !k.trim().is_empty())
                .collect(),
            bound_issuer: s("bound_issuer")?,
            default_role: s("default_role")?.to_lowercase(),
            jwt_supported_algs: get_str_list(data, "jwt_supported_algs")?.unwrap_or_default(),
        };
        c.check()?;
        Ok(c)
    }

    /// The source of keys; exactly one must be set.
    pub fn source(&self) -> Result<KeySource, LogicalError> {
        let set = [
            !self.jwt_validation_pubkeys.is_empty(),
            !self.jwks_url.is_empty(),
            !self.oidc_discovery_url.is_empty(),
        ];
        match set {
            [true, false, false] => Ok(KeySource::Static),
            [false, true, false] => Ok(KeySource::Jwks),
            [false, false, true] => Ok(KeySource::Discovery),
            _ => Err(LogicalError::invalid(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
            )),
        }
    }

    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), LogicalError> {
        self.source()?;
        if self.jwt_validation_pubkeys.len() > MAX_KEYS {
            return Err(LogicalError::invalid(format!(
                "too many jwt_validation_pubkeys (at most {MAX_KEYS})"
            )));
        }
        self.static_keys()?;
        self.algs()?;
        for (url, field) in [
            (&self.jwks_url, "jwks_url"),
            (&self.oidc_discovery_url, "oidc_discovery_url"),
        ] {
            let web = url.starts_with("https://") || url.starts_with("http://");
            if !url.is_empty() && !web {
                return Err(LogicalError::invalid(format!(
                    "{field} must be an http or https URL"
                )));
            }
        }
        if !self.jwks_ca_pem.is_empty() {
            crate::remote::parse_ca(&self.jwks_ca_pem)
                .map_err(|e| LogicalError::invalid(format!("jwks_ca_pem: {e}")))?;
        }
        if !self.oidc_discovery_ca_pem.is_empty() {
            crate::remote::parse_ca(&self.oidc_discovery_ca_pem)
                .map_err(|e| LogicalError::invalid(format!("oidc_discovery_ca_pem: {e}")))?;
        }
        Ok(())
    }

    /// The keys of `jwt_validation_pubkeys`.
    pub fn static_keys(&self) -> Result<Vec<keys::PublicKey>, LogicalError> {
        let mut out = Vec::new();
        for pem in &self.jwt_validation_pubkeys {
            out.extend(
                keys::from_pem(pem)
                    .map_err(|e| LogicalError::invalid(format!("error parsing public key: {e}")))?,
            );
        }
        Ok(out)
    }

    /// The accepted algorithms.
    pub fn algs(&self) -> Result<Vec<Alg>, LogicalError> {
        if self.jwt_supported_algs.is_empty() {
            return Ok(Alg::ALL.to_vec());
        }
        self.jwt_supported_algs
            .iter()
            .map(|a| {
                Alg::from_name(a).ok_or_else(|| {
                    LogicalError::invalid(format!("invalid jwt_supported_algs: {a}"))
                })
            })
            .collect()
    }

    /// The configuration as a read shows it (the client secret left out).
    pub fn to_data(&self) -> Map<String, Value> {
        let v = json!({
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "oidc_client_id": self.oidc_client_id,
            "jwks_url": self.jwks_url,
            "jwks_ca_pem": self.jwks_ca_pem,
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "bound_issuer": self.bound_issuer,
            "default_role": self.default_role,
            "jwt_supported_algs": self.jwt_supported_algs,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn exactly_one_key_source() {
        assert!(JwtConfig::from_data(&obj(json!({}))).is_err());
        assert!(
            JwtConfig::from_data(&obj(
                json!({"jwks_url": "http://a", "oidc_discovery_url": "http://b"})
            ))
            .is_err()
        );
        let c = JwtConfig::from_data(&obj(json!({"jwks_url": "http://127.0.0.1:1/jwks"})))
            .expect("valid");
        assert_eq!(c.source().ok(), Some(KeySource::Jwks));
        assert!(JwtConfig::from_data(&obj(json!({"jwks_url": "ftp://x"}))).is_err());
        assert!(JwtConfig::from_data(&obj(json!({"jwt_validation_pubkeys": ["nope"]}))).is_err());
        assert!(
            JwtConfig::from_data(&obj(
                json!({"jwks_url": "http://a", "jwt_supported_algs": ["HS256"]})
            ))
            .is_err()
        );
        assert!(
            JwtConfig::from_data(&obj(json!({"jwks_url": "http://a", "jwks_ca_pem": "x"})))
                .is_err()
        );
    }
}
