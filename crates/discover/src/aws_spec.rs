//! The `provider=aws` query: which instances to look for and how to reach EC2. Pure.

use std::fmt;

use zeroize::Zeroizing;

use crate::DiscoverError;
use crate::spec::Pairs;

/// Keys the aws provider understands (besides `provider`).
pub const AWS_KEYS: &[&str] = &[
    "region",
    "tag_key",
    "tag_value",
    "addr_type",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "endpoint",
];

/// Which address of each instance to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddrType {
    /// The primary private IPv4 address (`private_v4`, the default).
    #[default]
    PrivateV4,
    /// The public IPv4 address (`public_v4`); instances without one are skipped.
    PublicV4,
    /// The IPv6 addresses of the instance's network interfaces (`private_v6`; go-discover
    /// spells it `public_v6`, which is accepted as the same thing).
    V6,
}

impl AddrType {
    /// Parses `private_v4`, `public_v4`, `private_v6` or `public_v6`.
    pub fn parse(s: &str) -> Result<AddrType, DiscoverError> {
        match s {
            "private_v4" => Ok(AddrType::PrivateV4),
            "public_v4" => Ok(AddrType::PublicV4),
            "private_v6" | "public_v6" => Ok(AddrType::V6),
            other => Err(DiscoverError::spec(format!(
                "addr_type {other:?} is not one of private_v4, public_v4, private_v6"
            ))),
        }
    }
}

/// Credentials given in the query itself (otherwise the AWS default chain is used).
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// `access_key_id`.
    pub access_key_id: String,
    /// `secret_access_key`.
    pub secret_access_key: Zeroizing<String>,
    /// `session_token`, for temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A parsed `provider=aws` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSpec {
    /// `region`; when absent the AWS default region chain (environment, profile, instance
    /// metadata) decides.
    pub region: Option<String>,
    /// `tag_key`: the instance tag to match.
    pub tag_key: String,
    /// `tag_value`: the value that tag must have.
    pub tag_value: String,
    /// `addr_type`.
    pub addr_type: AddrType,
    /// `access_key_id` + `secret_access_key` (+ `session_token`), when given.
    pub credentials: Option<StaticCredentials>,
    /// `endpoint`: an EC2 endpoint URL overriding the regional one.
    pub endpoint: Option<String>,
    /// Keys present in the query that the aws provider does not know (reported, not fatal:
    /// go-discover ignores them too).
    pub ignored_keys: Vec<String>,
}

impl AwsSpec {
    /// Builds the spec from the pairs left after `provider` was taken out.
    pub(crate) fn from_pairs(mut pairs: Pairs) -> Result<AwsSpec, DiscoverError> {
        let mut take = |k: &str| pairs.remove(k).filter(|v| !v.is_empty());
        let tag_key =
            take("tag_key").ok_or_else(|| DiscoverError::spec("provider=aws requires tag_key"))?;
        let tag_value = take("tag_value")
            .ok_or_else(|| DiscoverError::spec("provider=aws requires tag_value"))?;
        let addr_type = match take("addr_type") {
            Some(a) => AddrType::parse(&a)?,
            None => AddrType::default(),
        };
        let credentials = match (take("access_key_id"), take("secret_access_key")) {
            (Some(id), Some(secret)) => Some(StaticCredentials {
                access_key_id: id.as_str().to_owned(),
                secret_access_key: secret,
                session_token: take("session_token"),
            }),
            (None, None) => {
                if take("session_token").is_some() {
                    return Err(DiscoverError::spec(
                        "session_token needs access_key_id and secret_access_key",
                    ));
                }
                None
            }
            (Some(_), None) => {
                return Err(DiscoverError::spec(
                    "access_key_id is given without secret_access_key",
                ));
            }
            (None, Some(_)) => {
                return Err(DiscoverError::spec(
                    "secret_access_key is given without access_key_id",
                ));
            }
        };
        let region = take("region").map(|r| r.as_str().to_owned());
        let endpoint = take("endpoint").map(|e| e.as_str().to_owned());
        Ok(AwsSpec {
            region,
            tag_key: tag_key.as_str().to_owned(),
            tag_value: tag_value.as_str().to_owned(),
            addr_type,
            credentials,
            endpoint,
            ignored_keys: pairs.into_keys().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiscoverSpec;

    fn aws(s: &str) -> Result<AwsSpec, DiscoverError> {
        DiscoverSpec::parse(s).map(|DiscoverSpec::Aws(a)| a)
    }

    #[test]
    fn full_query_is_parsed() {
        let a = aws(
            "provider=aws region=eu-west-1 tag_key=Name tag_value=\"vault server\" \
             addr_type=public_v4 access_key_id=AKIDEXAMPLE secret_access_key=s3cr3t \
             session_token=tok endpoint=http://127.0.0.1:5000 service=x",
        )
        .unwrap();
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.tag_key, "Name");
        assert_eq!(a.tag_value, "vault server");
        assert_eq!(a.addr_type, AddrType::PublicV4);
        let c = a.credentials.clone().unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(c.secret_access_key.as_str(), "s3cr3t");
        assert_eq!(c.session_token.as_deref().map(String::as_str), Some("tok"));
        assert_eq!(a.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(a.ignored_keys, vec!["service".to_owned()]);
    }

    #[test]
    fn defaults_apply() {
        let a = aws("provider=aws tag_key=role tag_value=tresor").unwrap();
        assert_eq!(a.region, None);
        assert_eq!(a.addr_type, AddrType::PrivateV4);
        assert_eq!(a.credentials, None);
        assert_eq!(a.endpoint, None);
        assert!(a.ignored_keys.is_empty());
    }

    #[test]
    fn addr_types() {
        for (s, t) in [
            ("private_v4", AddrType::PrivateV4),
            ("public_v4", AddrType::PublicV4),
            ("private_v6", AddrType::V6),
            ("public_v6", AddrType::V6),
        ] {
            assert_eq!(AddrType::parse(s).unwrap(), t);
        }
        let e = aws("provider=aws tag_key=a tag_value=b addr_type=v4").unwrap_err();
        assert!(e.to_string().contains("addr_type \"v4\""), "{e}");
    }

    #[test]
    fn tag_key_and_tag_value_are_required() {
        let e = aws("provider=aws tag_value=b").unwrap_err().to_string();
        assert!(e.contains("requires tag_key"), "{e}");
        let e = aws("provider=aws tag_key=a").unwrap_err().to_string();
        assert!(e.contains("requires tag_value"), "{e}");
        let e = aws("provider=aws tag_key=a tag_value=")
            .unwrap_err()
            .to_string();
        assert!(e.contains("requires tag_value"), "{e}");
    }

    #[test]
    fn half_given_static_credentials_are_refused() {
        for (q, want) in [
            ("access_key_id=a", "without secret_access_key"),
            ("secret_access_key=hunter2", "without access_key_id"),
            ("session_token=hunter2", "session_token needs"),
        ] {
            let e = aws(&format!("provider=aws tag_key=a tag_value=b {q}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let a = aws("provider=aws tag_key=a tag_value=b access_key_id=AKID \
             secret_access_key=hunter2 session_token=tok3n")
        .unwrap();
        let dbg = format!("{a:?}");
        assert!(dbg.contains("AKID"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains("tok3n"), "{dbg}");
        let dbg = format!("{:?}", DiscoverSpec::Aws(a));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}
