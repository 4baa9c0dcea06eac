//! The seal's settings: a `seal "awskms"` stanza plus Vault's environment overrides. Pure, so
//! it is tested without a network or the process environment.

use std::fmt;

use tresor_config::SealStanza;
use tresor_seal::SealError;
use zeroize::Zeroizing;

use crate::SEAL_TYPE;

/// Overrides `kms_key_id`.
pub const ENV_SEAL_KEY_ID: &str = "VAULT_AWSKMS_SEAL_KEY_ID";
/// The region when the stanza has none.
pub const ENV_AWS_REGION: &str = "AWS_REGION";
/// The region when neither the stanza nor `AWS_REGION` has one.
pub const ENV_AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Overrides `endpoint`.
pub const ENV_KMS_ENDPOINT: &str = "AWS_KMS_ENDPOINT";
/// The region when none is configured anywhere.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Static AWS credentials from the stanza. They replace the default credential chain; without
/// them the chain is used. Never shown by `Debug`, zeroized on drop.
#[derive(Clone)]
pub struct StaticCredentials {
    /// `access_key`.
    pub access_key_id: Zeroizing<String>,
    /// `secret_key`.
    pub secret_access_key: Zeroizing<String>,
    /// `session_token`, for temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Everything the seal needs to reach its KMS key, resolved from the stanza and environment.
#[derive(Clone, Debug)]
pub struct AwsKmsSettings {
    /// The AWS region of the KMS endpoint.
    pub region: String,
    /// The KMS key: a key id, a key ARN, `alias/NAME` or an alias ARN.
    pub kms_key_id: String,
    /// A custom KMS endpoint URL (VPC endpoint, FIPS endpoint, a test double).
    pub endpoint: Option<String>,
    /// Static credentials; `None` selects the AWS default credential chain.
    pub static_credentials: Option<StaticCredentials>,
}

impl AwsKmsSettings {
    /// Resolves the settings of a `seal "awskms"` stanza. `env` looks up an environment
    /// variable (pass `|name| std::env::var(name).ok()` for the process environment); empty
    /// values count as unset.
    ///
    /// Precedence: `VAULT_AWSKMS_SEAL_KEY_ID` over `kms_key_id`; `AWS_KMS_ENDPOINT` over
    /// `endpoint`; the stanza's `region` over `AWS_REGION` over `AWS_DEFAULT_REGION` over
    /// `us-east-1`. `disabled`, `name` and `priority` are the caller's business.
    pub fn from_stanza(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SealError> {
        if stanza.kind != SEAL_TYPE {
            return Err(invalid("awskms seal: the stanza is for another seal type"));
        }
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let param = |name: &str| {
            stanza
                .param(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };

        let kms_key_id = env(ENV_SEAL_KEY_ID)
            .or_else(|| param("kms_key_id"))
            .ok_or_else(|| {
                invalid("awskms seal: kms_key_id is required (or VAULT_AWSKMS_SEAL_KEY_ID)")
            })?;
        let region = param("region")
            .or_else(|| env(ENV_AWS_REGION))
            .or_else(|| env(ENV_AWS_DEFAULT_REGION))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint = env(ENV_KMS_ENDPOINT).or_else(|| param("endpoint"));
        if let Some(url) = &endpoint
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "awskms seal: endpoint must be an http:// or https:// URL",
            ));
        }

        let access_key = param("access_key").map(Zeroizing::new);
        let secret_key = param("secret_key").map(Zeroizing::new);
        let session_token = param("session_token").map(Zeroizing::new);
        let static_credentials = match (access_key, secret_key) {
            (Some(access_key_id), Some(secret_access_key)) => Some(StaticCredentials {
                access_key_id,
                secret_access_key,
                session_token,
            }),
            (None, None) if session_token.is_none() => None,
            (None, None) => {
                return Err(invalid(
                    "awskms seal: session_token needs access_key and secret_key",
                ));
            }
            _ => {
                return Err(invalid(
                    "awskms seal: access_key and secret_key must be given together",
                ));
            }
        };

        Ok(AwsKmsSettings {
            region,
            kms_key_id,
            endpoint,
            static_credentials,
        })
    }
}

fn invalid(reason: &'static str) -> SealError {
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
        let mut s = SealStanza::new("awskms");
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

    #[test]
    fn stanza_values_are_used() {
        let s = stanza(&[
            ("region", "eu-west-1"),
            ("kms_key_id", "alias/tresor"),
            ("endpoint", "https://kms.eu-west-1.amazonaws.com"),
        ]);
        let got = AwsKmsSettings::from_stanza(&s, &env_of(&[])).unwrap();
        assert_eq!(got.region, "eu-west-1");
        assert_eq!(got.kms_key_id, "alias/tresor");
        assert_eq!(
            got.endpoint.as_deref(),
            Some("https://kms.eu-west-1.amazonaws.com")
        );
        assert!(got.static_credentials.is_none());
    }

    #[test]
    fn seed_stanza_parses() {
        let s = stanza(&[
            ("region", "us-east-1"),
            (
                "kms_key_id",
                "arn:aws:kms:us-east-1:123456789012:key/abcd-1234-efgh-5678",
            ),
        ]);
        let got = AwsKmsSettings::from_stanza(&s, &env_of(&[])).unwrap();
        assert_eq!(
            got.kms_key_id,
            "arn:aws:kms:us-east-1:123456789012:key/abcd-1234-efgh-5678"
        );
        assert_eq!(got.endpoint, None);
    }

    #[test]
    fn key_id_env_overrides_the_stanza() {
        let s = stanza(&[("kms_key_id", "alias/from-config")]);
        let env = env_of(&[(ENV_SEAL_KEY_ID, "alias/from-env")]);
        let got = AwsKmsSettings::from_stanza(&s, &env).unwrap();
        assert_eq!(got.kms_key_id, "alias/from-env");
        // The key id may come from the environment alone.
        let got = AwsKmsSettings::from_stanza(&stanza(&[]), &env).unwrap();
        assert_eq!(got.kms_key_id, "alias/from-env");
        // An empty variable is unset.
        let got = AwsKmsSettings::from_stanza(&s, &env_of(&[(ENV_SEAL_KEY_ID, "")])).unwrap();
        assert_eq!(got.kms_key_id, "alias/from-config");
    }

    #[test]
    fn missing_key_id_is_refused() {
        let err = AwsKmsSettings::from_stanza(&stanza(&[("region", "us-east-1")]), &env_of(&[]))
            .unwrap_err();
        assert!(reason(err.clone()).contains("kms_key_id"));
        assert!(err.to_string().contains("awskms"));
    }

    #[test]
    fn region_precedence() {
        let with_region = stanza(&[("kms_key_id", "k"), ("region", "ap-south-1")]);
        let without = stanza(&[("kms_key_id", "k")]);
        let both = env_of(&[
            (ENV_AWS_REGION, "eu-central-1"),
            (ENV_AWS_DEFAULT_REGION, "eu-north-1"),
        ]);
        let only_default = env_of(&[(ENV_AWS_DEFAULT_REGION, "eu-north-1")]);
        let region = |s: &SealStanza, env: &dyn Fn(&str) -> Option<String>| {
            AwsKmsSettings::from_stanza(s, env).unwrap().region
        };
        assert_eq!(region(&with_region, &both), "ap-south-1");
        assert_eq!(region(&without, &both), "eu-central-1");
        assert_eq!(region(&without, &only_default), "eu-north-1");
        assert_eq!(region(&without, &env_of(&[])), DEFAULT_REGION);
    }

    #[test]
    fn endpoint_env_overrides_and_is_validated() {
        let s = stanza(&[("kms_key_id", "k"), ("endpoint", "https://a.example")]);
        let env = env_of(&[(ENV_KMS_ENDPOINT, "http://127.0.0.1:4566")]);
        let got = AwsKmsSettings::from_stanza(&s, &env).unwrap();
        assert_eq!(got.endpoint.as_deref(), Some("http://127.0.0.1:4566"));

        let bad = stanza(&[("kms_key_id", "k"), ("endpoint", "kms.example.com")]);
        let err = AwsKmsSettings::from_stanza(&bad, &env_of(&[])).unwrap_err();
        assert!(reason(err).contains("endpoint"));
    }

    #[test]
    fn static_credentials_only_when_complete() {
        let full = stanza(&[
            ("kms_key_id", "k"),
            ("access_key", "AKIAEXAMPLE"),
            ("secret_key", "very-secret"),
            ("session_token", "token-value"),
        ]);
        let got = AwsKmsSettings::from_stanza(&full, &env_of(&[])).unwrap();
        let creds = got.static_credentials.as_ref().unwrap();
        assert_eq!(creds.access_key_id.as_str(), "AKIAEXAMPLE");
        assert_eq!(creds.secret_access_key.as_str(), "very-secret");
        assert_eq!(
            creds.session_token.as_ref().map(|t| t.as_str()),
            Some("token-value")
        );
        // Debug never shows them.
        let shown = format!("{got:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("AKIAEXAMPLE"));
        assert!(!shown.contains("token-value"));

        let half = stanza(&[("kms_key_id", "k"), ("access_key", "AKIAEXAMPLE")]);
        let err = AwsKmsSettings::from_stanza(&half, &env_of(&[])).unwrap_err();
        assert!(reason(err).contains("together"));
        let token_only = stanza(&[("kms_key_id", "k"), ("session_token", "t")]);
        let err = AwsKmsSettings::from_stanza(&token_only, &env_of(&[])).unwrap_err();
        assert!(reason(err).contains("session_token"));
    }

    #[test]
    fn other_seal_kinds_are_refused() {
        let mut s = stanza(&[("kms_key_id", "k")]);
        s.kind = "transit".into();
        assert!(AwsKmsSettings::from_stanza(&s, &env_of(&[])).is_err());
    }
}
