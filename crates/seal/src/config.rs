//! The seal configuration the core stores in plaintext at `core/seal-config`.

use serde::{Deserialize, Serialize};

use crate::SealError;

/// Largest number of shares a Shamir split supports.
const MAX_SHARES: u32 = 255;

/// How the root key is protected and how many operator shares exist. For Shamir the secret
/// shares unseal; for auto seals the secret shares are 1/1 and the recovery shares authorize
/// generate-root and rekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealConfig {
    /// The seal type ("shamir", "awskms", ...).
    pub seal_type: String,
    /// Number of key shares handed out.
    pub secret_shares: u32,
    /// Number of key shares needed to unseal.
    pub secret_threshold: u32,
    /// Number of key shares kept in storage for the seal instead of handed out. Tresor's
    /// seals wrap the root key rather than store shares, so the core writes 0.
    pub stored_shares: u32,
    /// Number of recovery shares (auto seals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_shares: Option<u32>,
    /// Number of recovery shares needed (auto seals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<u32>,
}

impl Default for SealConfig {
    /// A Shamir configuration with every count zero (invalid until the counts are set).
    fn default() -> Self {
        SealConfig {
            seal_type: "shamir".into(),
            secret_shares: 0,
            secret_threshold: 0,
            stored_shares: 0,
            recovery_shares: None,
            recovery_threshold: None,
        }
    }
}

impl SealConfig {
    /// A Shamir configuration with `shares` key shares, `threshold` of which unseal.
    pub fn shamir(shares: u32, threshold: u32) -> Self {
        SealConfig {
            seal_type: "shamir".into(),
            secret_shares: shares,
            secret_threshold: threshold,
            stored_shares: 0,
            recovery_shares: None,
            recovery_threshold: None,
        }
    }

    /// Checks the share counts; the error messages are the ones Vault clients expect.
    pub fn validate(&self) -> Result<(), SealError> {
        check_counts("seal", self.secret_shares, self.secret_threshold)?;
        if self.stored_shares > self.secret_shares {
            return Err(SealError::InvalidConfig {
                kind: "seal",
                reason: "stored keys cannot be larger than shares",
            });
        }
        let has_recovery = self.recovery_shares.is_some_and(|n| n > 0)
            || self.recovery_threshold.is_some_and(|n| n > 0);
        if has_recovery {
            if self.seal_type == "shamir" {
                return Err(SealError::RecoveryParamsWithShamir);
            }
            check_counts(
                "recovery",
                self.recovery_shares.unwrap_or(0),
                self.recovery_threshold.unwrap_or(0),
            )?;
        }
        Ok(())
    }

    /// The JSON form stored at `core/seal-config`.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and integers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the stored JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SealError> {
        serde_json::from_slice(bytes).map_err(|e| SealError::Malformed(e.to_string()))
    }
}

fn check_counts(kind: &'static str, shares: u32, threshold: u32) -> Result<(), SealError> {
    let reason = if shares < 1 {
        "shares must be at least one"
    } else if threshold < 1 {
        "threshold must be at least one"
    } else if shares > 1 && threshold < 2 {
        "threshold must be greater than one for multiple shares"
    } else if shares > MAX_SHARES {
        "shares must be less than 256"
    } else if threshold > MAX_SHARES {
        "threshold must be less than 256"
    } else if threshold > shares {
        "threshold cannot be larger than shares"
    } else {
        return Ok(());
    };
    Err(SealError::InvalidConfig { kind, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(c: &SealConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn default_is_shamir_and_needs_counts() {
        let d = SealConfig::default();
        assert_eq!(d.seal_type, "shamir");
        assert!(d.validate().is_err());
        let set = SealConfig {
            secret_shares: 3,
            secret_threshold: 2,
            ..SealConfig::default()
        };
        assert!(set.validate().is_ok());
    }

    #[test]
    fn valid_configurations() {
        assert!(SealConfig::shamir(5, 3).validate().is_ok());
        assert!(SealConfig::shamir(1, 1).validate().is_ok());
        assert!(SealConfig::shamir(255, 255).validate().is_ok());
        let auto = SealConfig {
            seal_type: "awskms".into(),
            recovery_shares: Some(5),
            recovery_threshold: Some(3),
            ..SealConfig::shamir(1, 1)
        };
        assert!(auto.validate().is_ok());
    }

    #[test]
    fn vault_messages() {
        assert_eq!(
            msg(&SealConfig::shamir(5, 0)),
            "invalid seal configuration: threshold must be at least one"
        );
        assert_eq!(
            msg(&SealConfig::shamir(3, 5)),
            "invalid seal configuration: threshold cannot be larger than shares"
        );
        assert_eq!(
            msg(&SealConfig::shamir(5, 1)),
            "invalid seal configuration: threshold must be greater than one for multiple shares"
        );
        assert_eq!(
            msg(&SealConfig::shamir(256, 3)),
            "invalid seal configuration: shares must be less than 256"
        );
        assert_eq!(
            msg(&SealConfig::shamir(0, 0)),
            "invalid seal configuration: shares must be at least one"
        );
        let stored = SealConfig {
            stored_shares: 2,
            ..SealConfig::shamir(1, 1)
        };
        assert_eq!(
            msg(&stored),
            "invalid seal configuration: stored keys cannot be larger than shares"
        );
    }

    #[test]
    fn recovery_rules() {
        let shamir_with_recovery = SealConfig {
            recovery_shares: Some(3),
            recovery_threshold: Some(2),
            ..SealConfig::shamir(5, 3)
        };
        assert_eq!(
            msg(&shamir_with_recovery),
            "parameters specific to auto unseal seals present"
        );
        let bad_recovery = SealConfig {
            seal_type: "awskms".into(),
            recovery_shares: Some(2),
            recovery_threshold: Some(3),
            ..SealConfig::shamir(1, 1)
        };
        assert_eq!(
            msg(&bad_recovery),
            "invalid recovery configuration: threshold cannot be larger than shares"
        );
    }

    #[test]
    fn json_omits_absent_recovery_fields() {
        let c = SealConfig::shamir(5, 3);
        let v: serde_json::Value = serde_json::from_slice(&c.to_json()).unwrap();
        assert_eq!(v["secret_shares"], 5);
        assert_eq!(v["secret_threshold"], 3);
        assert_eq!(v["seal_type"], "shamir");
        assert!(v.get("recovery_shares").is_none());
        assert_eq!(SealConfig::from_json(&c.to_json()).unwrap(), c);
        assert!(SealConfig::from_json(b"{}").is_err());
    }
}
