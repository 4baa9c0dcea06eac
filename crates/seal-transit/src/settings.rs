//! The seal's settings: a `seal "transit"` stanza plus Vault's environment variables. Pure, so
//! it is tested without a network or the process environment.
//!
//! Precedence follows Vault's transit seal: the variables that name the key
//! (`VAULT_TRANSIT_SEAL_KEY_NAME`, `VAULT_TRANSIT_SEAL_MOUNT_PATH`,
//! `VAULT_TRANSIT_SEAL_DISABLE_RENEWAL`) and `VAULT_NAMESPACE` override the stanza, while the
//! connection variables (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT`, `VAULT_CLIENT_CERT`,
//! `VAULT_CLIENT_KEY`, `VAULT_TLS_SERVER_NAME`, `VAULT_SKIP_VERIFY`) are only used when the
//! stanza leaves the parameter out.

use std::fmt;
use std::path::PathBuf;

use tresor_config::SealStanza;
use tresor_seal::SealError;
use zeroize::Zeroizing;

use crate::SEAL_TYPE;

/// Fallback for `address`.
pub const ENV_ADDR: &str = "VAULT_ADDR";
/// Fallback for `token`.
pub const ENV_TOKEN: &str = "VAULT_TOKEN";
/// Overrides `key_name`.
pub const ENV_KEY_NAME: &str = "VAULT_TRANSIT_SEAL_KEY_NAME";
/// Overrides `mount_path`.
pub const ENV_MOUNT_PATH: &str = "VAULT_TRANSIT_SEAL_MOUNT_PATH";
/// Overrides `disable_renewal`.
pub const ENV_DISABLE_RENEWAL: &str = "VAULT_TRANSIT_SEAL_DISABLE_RENEWAL";
/// Overrides `namespace`.
pub const ENV_NAMESPACE: &str = "VAULT_NAMESPACE";
/// Fallback for `tls_ca_cert`.
pub const ENV_CACERT: &str = "VAULT_CACERT";
/// Fallback for `tls_client_cert`.
pub const ENV_CLIENT_CERT: &str = "VAULT_CLIENT_CERT";
/// Fallback for `tls_client_key`.
pub const ENV_CLIENT_KEY: &str = "VAULT_CLIENT_KEY";
/// Fallback for `tls_server_name`.
pub const ENV_TLS_SERVER_NAME: &str = "VAULT_TLS_SERVER_NAME";
/// Fallback for `tls_skip_verify`.
pub const ENV_SKIP_VERIFY: &str = "VAULT_SKIP_VERIFY";
/// The mount of the transit engine when none is configured.
pub const DEFAULT_MOUNT_PATH: &str = "transit/";

/// How to reach the transit server over TLS. All empty: the OS trust store, the address's
/// host name, no client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the CA certificate(s) that issued the server's certificate; when set, only
    /// these are trusted.
    pub ca_cert: Option<PathBuf>,
    /// PEM file of the client certificate (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must carry, instead of the address's host.
    pub server_name: Option<String>,
    /// Accept any server certificate. For tests only.
    pub skip_verify: bool,
}

impl TlsSettings {
    /// Whether anything differs from the defaults.
    pub fn is_customized(&self) -> bool {
        self != &TlsSettings::default()
    }
}

/// Everything the seal needs to reach its transit key, resolved from the stanza and the
/// environment. `Debug` never shows the token.
#[derive(Clone)]
pub struct TransitSettings {
    /// The transit server's base URL, without a trailing slash (`https://host:8200`).
    pub address: String,
    /// The token the seal authenticates with. Zeroized on drop.
    pub token: Zeroizing<String>,
    /// The transit key's name.
    pub key_name: String,
    /// The transit engine's mount, without leading or trailing slashes (`transit`).
    pub mount_path: String,
    /// Sent as `X-Vault-Namespace` when set (Vault Enterprise; Tresor ignores the header).
    pub namespace: Option<String>,
    /// Whether the token is left alone rather than renewed in the background.
    pub disable_renewal: bool,
    /// TLS options.
    pub tls: TlsSettings,
}

impl fmt::Debug for TransitSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitSettings")
            .field("address", &self.address)
            .field("token", &"<redacted>")
            .field("key_name", &self.key_name)
            .field("mount_path", &self.mount_path)
            .field("namespace", &self.namespace)
            .field("disable_renewal", &self.disable_renewal)
            .field("tls", &self.tls)
            .finish()
    }
}

impl TransitSettings {
    /// Resolves the settings of a `seal "transit"` stanza. `env` looks up an environment
    /// variable (pass `|name| std::env::var(name).ok()` for the process environment); empty
    /// values count as unset. See the module documentation for the precedence.
    ///
    /// `address`, `token` and `key_name` are required. `disabled`, `name` and `priority` are
    /// the caller's business.
    pub fn from_stanza(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SealError> {
        if stanza.kind != SEAL_TYPE {
            return Err(invalid("transit seal: the stanza is for another seal type"));
        }
        let env = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let param = |name: &str| {
            stanza
                .param(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };

        let address = param("address")
            .or_else(|| env(ENV_ADDR))
            .ok_or_else(|| invalid("transit seal: address is required (or VAULT_ADDR)"))?;
        if !(address.starts_with("https://") || address.starts_with("http://")) {
            return Err(invalid(
                "transit seal: address must be an http:// or https:// URL",
            ));
        }
        let address = address.trim_end_matches('/').to_owned();

        let token = Zeroizing::new(
            param("token")
                .or_else(|| env(ENV_TOKEN))
                .ok_or_else(|| invalid("transit seal: token is required (or VAULT_TOKEN)"))?,
        );

        let key_name = env(ENV_KEY_NAME)
            .or_else(|| param("key_name"))
            .ok_or_else(|| {
                invalid("transit seal: key_name is required (or VAULT_TRANSIT_SEAL_KEY_NAME)")
            })?;
        if key_name.contains('/') || key_name.contains(':') {
            return Err(invalid(
                "transit seal: key_name must not contain '/' or ':'",
            ));
        }

        let mount_path = env(ENV_MOUNT_PATH)
            .or_else(|| param("mount_path"))
            .unwrap_or_else(|| DEFAULT_MOUNT_PATH.to_owned());
        let mount_path = mount_path.trim_matches('/').to_owned();
        if mount_path.is_empty() {
            return Err(invalid("transit seal: mount_path must not be empty"));
        }

        let disable_renewal = match env(ENV_DISABLE_RENEWAL).or_else(|| param("disable_renewal")) {
            Some(v) => parse_bool(&v)
                .ok_or_else(|| invalid("transit seal: disable_renewal must be true or false"))?,
            None => false,
        };
        let namespace = env(ENV_NAMESPACE)
            .or_else(|| param("namespace"))
            .map(|ns| ns.trim_matches('/').to_owned())
            .filter(|ns| !ns.is_empty());

        let path = |name: &str, var: &str| param(name).or_else(|| env(var)).map(PathBuf::from);
        let skip_verify = match param("tls_skip_verify").or_else(|| env(ENV_SKIP_VERIFY)) {
            Some(v) => parse_bool(&v)
                .ok_or_else(|| invalid("transit seal: tls_skip_verify must be true or false"))?,
            None => false,
        };
        let tls = TlsSettings {
            ca_cert: path("tls_ca_cert", ENV_CACERT),
            client_cert: path("tls_client_cert", ENV_CLIENT_CERT),
            client_key: path("tls_client_key", ENV_CLIENT_KEY),
            server_name: param("tls_server_name").or_else(|| env(ENV_TLS_SERVER_NAME)),
            skip_verify,
        };
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            return Err(invalid(
                "transit seal: tls_client_cert and tls_client_key must be given together",
            ));
        }

        Ok(TransitSettings {
            address,
            token,
            key_name,
            mount_path,
            namespace,
            disable_renewal,
            tls,
        })
    }
}

/// Go's `strconv.ParseBool`, which Vault uses for these options.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub(crate) fn invalid(reason: &'static str) -> SealError {
    SealError::InvalidConfig {
        kind: "seal",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stanza(params: &[(&str, &str)]) -> SealStanza {
        let mut s = SealStanza::new("transit");
        for (k, v) in params {
            s.params.insert((*k).to_owned(), (*v).to_owned());
        }
        s
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn reason(err: SealError) -> &'static str {
        match err {
            SealError::InvalidConfig { kind, reason } => {
                assert_eq!(kind, "seal");
                reason
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("address", "https://vault.example:8200/"),
        ("token", "s.secret-token"),
        ("key_name", "autounseal"),
    ];

    #[test]
    fn seed_stanza_parses() {
        let s = stanza(&[
            ("address", "https://hcp-vault.example.com:8200"),
            ("token", "hvs.transit-unseal-token"),
            ("disable_renewal", "false"),
            ("key_name", "autounseal"),
            ("mount_path", "transit/"),
        ]);
        let got = TransitSettings::from_stanza(&s, &env_of(&[])).unwrap();
        assert_eq!(got.address, "https://hcp-vault.example.com:8200");
        assert_eq!(got.token.as_str(), "hvs.transit-unseal-token");
        assert_eq!(got.key_name, "autounseal");
        assert_eq!(got.mount_path, "transit");
        assert!(!got.disable_renewal);
        assert_eq!(got.namespace, None);
        assert!(!got.tls.is_customized());
    }

    #[test]
    fn defaults_and_normalisation() {
        let got = TransitSettings::from_stanza(&stanza(MINIMAL), &env_of(&[])).unwrap();
        assert_eq!(got.address, "https://vault.example:8200");
        assert_eq!(got.mount_path, "transit");
        let nested = stanza(&[MINIMAL, &[("mount_path", "/team/transit/")]].concat());
        let got = TransitSettings::from_stanza(&nested, &env_of(&[])).unwrap();
        assert_eq!(got.mount_path, "team/transit");
    }

    #[test]
    fn debug_hides_the_token() {
        let got = TransitSettings::from_stanza(&stanza(MINIMAL), &env_of(&[])).unwrap();
        let shown = format!("{got:?}");
        assert!(!shown.contains("s.secret-token"), "{shown}");
        assert!(shown.contains("autounseal"));
    }

    #[test]
    fn key_env_vars_override_the_stanza() {
        let s = stanza(&[MINIMAL, &[("mount_path", "cfg"), ("namespace", "cfg-ns")]].concat());
        let env = env_of(&[
            (ENV_KEY_NAME, "env-key"),
            (ENV_MOUNT_PATH, "env-mount/"),
            (ENV_DISABLE_RENEWAL, "true"),
            (ENV_NAMESPACE, "env-ns/"),
        ]);
        let got = TransitSettings::from_stanza(&s, &env).unwrap();
        assert_eq!(got.key_name, "env-key");
        assert_eq!(got.mount_path, "env-mount");
        assert!(got.disable_renewal);
        assert_eq!(got.namespace.as_deref(), Some("env-ns"));
        // Empty variables count as unset.
        let env = env_of(&[(ENV_KEY_NAME, " "), (ENV_MOUNT_PATH, "")]);
        let got = TransitSettings::from_stanza(&s, &env).unwrap();
        assert_eq!(got.key_name, "autounseal");
        assert_eq!(got.mount_path, "cfg");
        assert_eq!(got.namespace.as_deref(), Some("cfg-ns"));
    }

    #[test]
    fn connection_env_vars_are_fallbacks() {
        let env = env_of(&[
            (ENV_ADDR, "http://127.0.0.1:8200"),
            (ENV_TOKEN, "env-token"),
            (ENV_CACERT, "/env/ca.pem"),
            (ENV_TLS_SERVER_NAME, "env.example"),
            (ENV_SKIP_VERIFY, "true"),
        ]);
        let only_key = stanza(&[("key_name", "k")]);
        let got = TransitSettings::from_stanza(&only_key, &env).unwrap();
        assert_eq!(got.address, "http://127.0.0.1:8200");
        assert_eq!(got.token.as_str(), "env-token");
        assert_eq!(got.tls.ca_cert, Some(PathBuf::from("/env/ca.pem")));
        assert_eq!(got.tls.server_name.as_deref(), Some("env.example"));
        assert!(got.tls.skip_verify);

        let full = stanza(
            &[
                MINIMAL,
                &[
                    ("tls_ca_cert", "/cfg/ca.pem"),
                    ("tls_server_name", "cfg.example"),
                    ("tls_skip_verify", "false"),
                ],
            ]
            .concat(),
        );
        let got = TransitSettings::from_stanza(&full, &env).unwrap();
        assert_eq!(got.address, "https://vault.example:8200");
        assert_eq!(got.token.as_str(), "s.secret-token");
        assert_eq!(got.tls.ca_cert, Some(PathBuf::from("/cfg/ca.pem")));
        assert_eq!(got.tls.server_name.as_deref(), Some("cfg.example"));
        assert!(!got.tls.skip_verify);
    }

    #[test]
    fn required_parameters() {
        for (missing, word) in [
            ("address", "address"),
            ("token", "token"),
            ("key_name", "key_name"),
        ] {
            let params: Vec<_> = MINIMAL
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = TransitSettings::from_stanza(&stanza(&params), &env_of(&[])).unwrap_err();
            assert!(err.to_string().contains("transit"), "{err}");
            assert!(reason(err).contains(word));
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        let cases: &[(&str, &str, &str)] = &[
            ("address", "vault.example:8200", "URL"),
            ("key_name", "a/b", "key_name"),
            ("mount_path", "/", "mount_path"),
            ("disable_renewal", "yes", "disable_renewal"),
            ("tls_skip_verify", "maybe", "tls_skip_verify"),
            ("tls_client_cert", "/c.pem", "together"),
        ];
        for (name, value, word) in cases {
            let mut s = stanza(MINIMAL);
            s.params.insert((*name).to_owned(), (*value).to_owned());
            let err = TransitSettings::from_stanza(&s, &env_of(&[])).unwrap_err();
            assert!(reason(err).contains(word), "{name}={value}");
        }
        let mut other = stanza(MINIMAL);
        other.kind = "awskms".into();
        assert!(TransitSettings::from_stanza(&other, &env_of(&[])).is_err());
    }

    #[test]
    fn go_booleans() {
        for v in ["1", "t", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(v), Some(true));
        }
        for v in ["0", "f", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(v), Some(false));
        }
        assert_eq!(parse_bool("yes"), None);
    }
}
