//! A configured connection (`config/<name>`): what is stored, how a request's fields update
//! it, how it is shown on read (never the password), and the PostgreSQL client configuration
//! it renders to (pure logic, no I/O).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::DbError;
use crate::pool::{CONNECT_TIMEOUT, PoolLimits};
use crate::statements;
use crate::template::{DEFAULT_POSTGRES_TEMPLATE, UsernameTemplate};
use crate::tls::TlsParams;

/// The only plugin offered.
pub const POSTGRES_PLUGIN: &str = "postgresql-database-plugin";
/// Longest connection URL, bytes.
const MAX_URL_LEN: usize = 4096;
/// Longest root username or password, bytes.
const MAX_CRED_LEN: usize = 1024;

/// How passwords reach PostgreSQL in statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PasswordAuthentication {
    /// In clear inside the statement (`password`, the default).
    #[default]
    #[serde(rename = "password")]
    Password,
    /// Pre-hashed as a SCRAM-SHA-256 verifier, so the clear password never reaches the server
    /// (`scram-sha-256`).
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

impl PasswordAuthentication {
    fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "" | "password" => Ok(Self::Password),
            "scram-sha-256" => Ok(Self::ScramSha256),
            other => Err(DbError::invalid(format!(
                "password_authentication must be \"password\" or \"scram-sha-256\", not {other:?}"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ScramSha256 => "scram-sha-256",
        }
    }

    /// What `{{password}}` becomes in a statement for `password`.
    pub fn statement_value(self, password: &str) -> String {
        match self {
            Self::Password => password.to_owned(),
            Self::ScramSha256 => postgres_protocol::password::scram_sha_256(password.as_bytes()),
        }
    }
}

/// A stored connection configuration. The root password is wiped from memory on drop.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ConnectionConfig {
    /// Always [`POSTGRES_PLUGIN`].
    pub plugin_name: String,
    /// libpq URL or key/value string, possibly with `{{username}}`/`{{password}}`.
    pub connection_url: String,
    /// The root user.
    pub username: String,
    /// The root password.
    pub password: String,
    /// Roles allowed to use this connection (`*` for all).
    pub allowed_roles: Vec<String>,
    /// Whether writes connect first.
    pub verify_connection: bool,
    /// Statements rotating the root password (empty: the default).
    pub root_rotation_statements: Vec<String>,
    /// How passwords are put into statements.
    #[zeroize(skip)]
    pub password_authentication: PasswordAuthentication,
    /// The username template (empty: the PostgreSQL default).
    pub username_template: String,
    /// Most open connections.
    pub max_open_connections: u64,
    /// Most idle connections (0: as many as `max_open_connections`).
    pub max_idle_connections: u64,
    /// Longest a connection lives, seconds (0: no limit).
    pub max_connection_lifetime: u64,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .field("allowed_roles", &self.allowed_roles)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            plugin_name: POSTGRES_PLUGIN.to_owned(),
            connection_url: String::new(),
            username: String::new(),
            password: String::new(),
            allowed_roles: Vec::new(),
            verify_connection: true,
            root_rotation_statements: Vec::new(),
            password_authentication: PasswordAuthentication::Password,
            username_template: String::new(),
            max_open_connections: 4,
            max_idle_connections: 0,
            max_connection_lifetime: 0,
        }
    }
}

fn bounded(field: &str, value: String, max: usize) -> Result<String, DbError> {
    if value.len() > max {
        return Err(DbError::invalid(format!(
            "{field} is longer than {max} bytes"
        )));
    }
    Ok(value)
}

impl ConnectionConfig {
    /// Applies a write's fields on top of `self` (an existing config or the defaults), as
    /// Vault does: fields absent from the request keep their value.
    pub fn apply(&mut self, data: &Map<String, Value>) -> Result<(), DbError> {
        let inv = |e: tresor_sdk::LogicalError| DbError::invalid(e.to_string());
        if let Some(p) = fields::get_str(data, "plugin_name").map_err(inv)? {
            if p != POSTGRES_PLUGIN {
                return Err(DbError::invalid(format!(
                    "unsupported plugin_name {p:?}: only {POSTGRES_PLUGIN:?} is available"
                )));
            }
            self.plugin_name = p;
        }
        if let Some(u) = fields::get_str(data, "connection_url").map_err(inv)? {
            self.connection_url = bounded("connection_url", u, MAX_URL_LEN)?;
        }
        if let Some(u) = fields::get_str(data, "username").map_err(inv)? {
            self.username = bounded("username", u, MAX_CRED_LEN)?;
        }
        if let Some(p) = fields::get_str(data, "password").map_err(inv)? {
            self.password = bounded("password", p, MAX_CRED_LEN)?;
        }
        if let Some(r) = fields::get_str_list(data, "allowed_roles").map_err(inv)? {
            if r.len() > 1024 {
                return Err(DbError::invalid("allowed_roles: at most 1024 entries"));
            }
            self.allowed_roles = r;
        }
        if let Some(v) = fields::get_bool(data, "verify_connection").map_err(inv)? {
            self.verify_connection = v;
        }
        if let Some(s) = statement_list(data, "root_rotation_statements")? {
            self.root_rotation_statements = s;
        }
        if let Some(p) = fields::get_str(data, "password_authentication").map_err(inv)? {
            self.password_authentication = PasswordAuthentication::parse(&p)?;
        }
        if let Some(t) = fields::get_str(data, "username_template").map_err(inv)? {
            if !t.is_empty() {
                UsernameTemplate::parse(&t)?;
            }
            self.username_template = t;
        }
        if let Some(n) = fields::get_u64(data, "max_open_connections").map_err(inv)? {
            if n > 1000 {
                return Err(DbError::invalid("max_open_connections: at most 1000"));
            }
            self.max_open_connections = n;
        }
        if let Some(n) = fields::get_u64(data, "max_idle_connections").map_err(inv)? {
            self.max_idle_connections = n;
        }
        if let Some(n) = fields::get_duration(data, "max_connection_lifetime").map_err(inv)? {
            self.max_connection_lifetime = n;
        }
        if self.connection_url.is_empty() {
            return Err(DbError::invalid("connection_url cannot be empty"));
        }
        if self.max_open_connections == 0 {
            self.max_open_connections = 4;
        }
        // Fails early on a malformed URL or TLS parameters.
        self.client_config()?;
        Ok(())
    }

    /// Whether role `role` may use this connection.
    pub fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }

    /// The username template to use.
    pub fn template(&self) -> Result<UsernameTemplate, DbError> {
        if self.username_template.is_empty() {
            Ok(UsernameTemplate::parse(DEFAULT_POSTGRES_TEMPLATE)?)
        } else {
            Ok(UsernameTemplate::parse(&self.username_template)?)
        }
    }

    /// Pool limits from the config.
    pub fn limits(&self) -> PoolLimits {
        let max_open = self.max_open_connections.clamp(1, 1000) as usize;
        let max_idle = match self.max_idle_connections {
            0 => max_open,
            n => (n as usize).min(max_open),
        };
        PoolLimits {
            max_open,
            max_idle,
            max_lifetime: (self.max_connection_lifetime > 0)
                .then(|| Duration::from_secs(self.max_connection_lifetime)),
        }
    }

    /// The PostgreSQL client configuration and the TLS parameters: `sslmode` and
    /// `sslrootcert` are taken out (see [`crate::tls`]), `{{username}}`/`{{password}}`
    /// substituted (percent-encoded in URL form), then the root credentials filled in where
    /// the string has none.
    pub fn client_config(&self) -> Result<(tokio_postgres::Config, TlsParams), DbError> {
        let url_form = self.connection_url.starts_with("postgres://")
            || self.connection_url.starts_with("postgresql://");
        let (rest, tls) = crate::tls::split_params(&self.connection_url)?;
        let enc = |v: &str| {
            if url_form {
                percent_encode(v)
            } else {
                v.to_owned()
            }
        };
        let rendered = zeroize::Zeroizing::new(statements::substitute(
            &rest,
            &[
                ("username", &enc(&self.username)),
                ("password", &enc(&self.password)),
            ],
        ));
        let mut cfg: tokio_postgres::Config = rendered
            .parse()
            .map_err(|e| DbError::invalid(format!("invalid connection_url: {e}")))?;
        if cfg.get_user().is_none_or(str::is_empty) && !self.username.is_empty() {
            cfg.user(&self.username);
        }
        if cfg.get_password().is_none_or(<[u8]>::is_empty) && !self.password.is_empty() {
            cfg.password(&self.password);
        }
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(CONNECT_TIMEOUT);
        }
        cfg.application_name("tresor-database");
        cfg.ssl_mode(tls.client_mode());
        Ok((cfg, tls))
    }

    /// A fingerprint of everything the pool depends on, to notice a changed config.
    pub fn pool_fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [&self.connection_url, &self.username, &self.password] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let l = self.limits();
        h.update(format!("{}/{}/{:?}", l.max_open, l.max_idle, l.max_lifetime).as_bytes());
        h.finalize().into()
    }

    /// The JSON of a read (Vault's shape; the password is never shown).
    pub fn to_read_json(&self) -> Value {
        json!({
            "plugin_name": self.plugin_name,
            "plugin_version": "",
            "connection_details": {
                "connection_url": self.connection_url,
                "username": self.username,
                "max_open_connections": self.max_open_connections,
                "max_idle_connections": self.max_idle_connections,
                "max_connection_lifetime": tresor_sdk::duration::format_secs(self.max_connection_lifetime),
                "password_authentication": self.password_authentication.as_str(),
                "username_template": self.username_template,
            },
            "allowed_roles": self.allowed_roles,
            "root_credentials_rotate_statements": self.root_rotation_statements,
            "password_policy": "",
            "verify_connection": self.verify_connection,
        })
    }
}

/// A statements field (list or string), bounded.
pub fn statement_list(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, DbError> {
    let list = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        // A single string is one entry (it may hold several statements split on `;`), not a
        // comma-separated list: SQL has commas.
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(DbError::invalid(format!("{field}: expected strings"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(DbError::invalid(format!("{field}: expected a list"))),
    };
    statements::check_list(field, &list).map_err(DbError::Invalid)?;
    Ok(Some(
        list.into_iter().filter(|s| !s.trim().is_empty()).collect(),
    ))
}

/// Percent-encodes everything but unreserved characters (for the userinfo of a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn url_substitution_and_defaults() {
        let mut c = ConnectionConfig::default();
        c.apply(&obj(json!({
            "plugin_name": POSTGRES_PLUGIN,
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
            "username": "root",
            "password": "p@ss:w/rd",
            "allowed_roles": "a,b",
        })))
        .unwrap();
        let (pg, _) = c.client_config().unwrap();
        assert_eq!(pg.get_user(), Some("root"));
        assert_eq!(pg.get_password(), Some(&b"p@ss:w/rd"[..]));
        assert!(c.allows("a") && !c.allows("c"));
        assert!(c.verify_connection);
        let read = c.to_read_json();
        assert!(!read.to_string().contains("p@ss"));
        assert_eq!(read["connection_details"]["username"], "root");

        let mut kv = ConnectionConfig::default();
        kv.apply(&obj(json!({"connection_url": "host=127.0.0.1 port=5 dbname=x", "username": "u", "password": "p"}))).unwrap();
        let (pg, _) = kv.client_config().unwrap();
        assert_eq!(pg.get_user(), Some("u"));
        assert_eq!(pg.get_password(), Some(&b"p"[..]));
    }

    #[test]
    fn refusals() {
        for bad in [
            json!({"connection_url": "postgresql://x/y", "plugin_name": "mysql-database-plugin"}),
            json!({"connection_url": ""}),
            json!({"connection_url": "postgresql://x/y?sslmode=verify-everything"}),
            json!({"connection_url": "postgresql://x/y?sslkey=/k.pem"}),
            json!({"connection_url": "postgresql://x/y", "password_authentication": "md5"}),
            json!({"connection_url": "postgresql://x/y", "username_template": "{{ nope }}"}),
            json!({"connection_url": "postgresql://x/y", "root_rotation_statements": [1]}),
        ] {
            let mut c = ConnectionConfig::default();
            assert!(c.apply(&obj(bad.clone())).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]

        /// Whatever the root credentials hold, the URL form carries them to the client
        /// configuration unchanged (percent-encoded on the way).
        #[test]
        fn url_credentials_roundtrip(user in "[^\\x00]{1,40}", password in "[^\\x00]{1,40}") {
            let mut c = ConnectionConfig::default();
            c.apply(&obj(json!({
                "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres",
                "username": user, "password": password, "verify_connection": false,
            }))).unwrap();
            let (pg, _) = c.client_config().unwrap();
            proptest::prop_assert_eq!(pg.get_user(), Some(user.as_str()));
            proptest::prop_assert_eq!(pg.get_password(), Some(password.as_bytes()));
        }
    }

    #[test]
    fn scram_value_is_a_verifier() {
        let v = PasswordAuthentication::ScramSha256.statement_value("secret");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"), "{v}");
        assert!(!v.contains("secret"));
        assert_eq!(PasswordAuthentication::Password.statement_value("s"), "s");
    }
}
