//! The pkcs11 seal's parameters: the `seal "pkcs11"` stanza, overridden by `VAULT_HSM_*`
//! environment variables. Pure: no library is loaded here.

use std::fmt;
use std::path::PathBuf;

use tresor_config::SealStanza;
use zeroize::Zeroizing;

use crate::error::Pkcs11Error;

/// `CKM_AES_GCM`, the only mechanism this seal implements.
pub(crate) const CKM_AES_GCM: u64 = 0x1087;

/// Environment variables that take precedence over the stanza's parameters, as
/// (parameter, variable).
const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("lib", "VAULT_HSM_LIB"),
    ("slot", "VAULT_HSM_SLOT"),
    ("token_label", "VAULT_HSM_TOKEN_LABEL"),
    ("pin", "VAULT_HSM_PIN"),
    ("key_label", "VAULT_HSM_KEY_LABEL"),
    ("mechanism", "VAULT_HSM_MECHANISM"),
    ("generate_key", "VAULT_HSM_GENERATE_KEY"),
];

/// Validated parameters of a pkcs11 seal. The PIN is held in a zeroizing buffer and never
/// shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Pkcs11Config {
    /// Path of the PKCS#11 module (shared library) to load.
    pub(crate) lib: PathBuf,
    /// Slot number (`slot`), if given.
    pub(crate) slot: Option<u64>,
    /// Token label (`token_label`), if given. With `slot` too, the token in that slot must
    /// carry this label.
    pub(crate) token_label: Option<String>,
    /// The user PIN.
    pin: Zeroizing<String>,
    /// `CKA_LABEL` of the AES key (`key_label`).
    pub(crate) key_label: Option<String>,
    /// `CKA_ID` of the AES key (`key_id`, hex, optionally `0x`-prefixed).
    pub(crate) key_id: Option<Vec<u8>>,
    /// Create the key when it is missing (`generate_key = "true"`).
    pub(crate) generate_key: bool,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("lib", &self.lib)
            .field("slot", &self.slot)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("key_label", &self.key_label)
            .field("key_id", &self.key_id.as_deref().map(hex::encode))
            .field("generate_key", &self.generate_key)
            .finish()
    }
}

impl Pkcs11Config {
    /// Reads a `seal "pkcs11"` stanza, letting the variables `env` returns (VAULT_HSM_LIB,
    /// VAULT_HSM_SLOT, VAULT_HSM_TOKEN_LABEL, VAULT_HSM_PIN, VAULT_HSM_KEY_LABEL,
    /// VAULT_HSM_MECHANISM, VAULT_HSM_GENERATE_KEY) override the parameters. An empty variable
    /// counts as unset. `hmac_*` parameters are ignored: this seal does not use an HMAC key.
    pub(crate) fn from_stanza_with_env(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Pkcs11Error> {
        if stanza.kind != "pkcs11" {
            return Err(Pkcs11Error::Config(
                "pkcs11: the stanza is not a pkcs11 seal",
            ));
        }
        let value = |name: &str| -> Option<Zeroizing<String>> {
            let var = ENV_OVERRIDES
                .iter()
                .find(|(param, _)| *param == name)
                .and_then(|(_, var)| env(var))
                .filter(|v| !v.is_empty());
            var.or_else(|| stanza.param(name).map(str::to_owned))
                .map(Zeroizing::new)
        };
        let text = |name: &str| value(name).map(|v| v.trim().to_owned());

        let lib = text("lib")
            .filter(|l| !l.is_empty())
            .ok_or(Pkcs11Error::Config(
                "pkcs11: lib (or VAULT_HSM_LIB) is required",
            ))?;
        let slot = text("slot")
            .filter(|s| !s.is_empty())
            .map(|s| parse_slot(&s))
            .transpose()?;
        let token_label = text("token_label").filter(|l| !l.is_empty());
        if slot.is_none() && token_label.is_none() {
            return Err(Pkcs11Error::Config(
                "pkcs11: slot or token_label is required",
            ));
        }
        let pin = value("pin")
            .filter(|p| !p.is_empty())
            .ok_or(Pkcs11Error::Config(
                "pkcs11: pin (or VAULT_HSM_PIN) is required",
            ))?;
        let key_label = text("key_label").filter(|l| !l.is_empty());
        let key_id = text("key_id")
            .filter(|k| !k.is_empty())
            .map(|k| parse_key_id(&k))
            .transpose()?;
        if key_label.is_none() && key_id.is_none() {
            return Err(Pkcs11Error::Config(
                "pkcs11: key_label or key_id is required",
            ));
        }
        if let Some(mechanism) = text("mechanism").filter(|m| !m.is_empty()) {
            check_mechanism(&mechanism)?;
        }
        let generate_key = match text("generate_key") {
            None => false,
            Some(v) if v.is_empty() => false,
            Some(v) => parse_bool(&v).ok_or(Pkcs11Error::Config(
                "pkcs11: generate_key must be \"true\" or \"false\"",
            ))?,
        };
        if generate_key && key_label.is_none() {
            return Err(Pkcs11Error::Config(
                "pkcs11: generate_key needs key_label to name the new key",
            ));
        }
        Ok(Pkcs11Config {
            lib: PathBuf::from(lib),
            slot,
            token_label,
            pin,
            key_label,
            key_id,
            generate_key,
        })
    }

    /// The user PIN.
    pub(crate) fn pin(&self) -> &str {
        &self.pin
    }
}

/// A slot number: decimal, or hex with a `0x` prefix.
fn parse_slot(text: &str) -> Result<u64, Pkcs11Error> {
    parse_number(text).ok_or(Pkcs11Error::Config(
        "pkcs11: slot must be a decimal or 0x-prefixed hex number",
    ))
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A `CKA_ID` written as hex, optionally `0x`-prefixed.
fn parse_key_id(text: &str) -> Result<Vec<u8>, Pkcs11Error> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    match hex::decode(digits) {
        Ok(id) if !id.is_empty() => Ok(id),
        _ => Err(Pkcs11Error::Config(
            "pkcs11: key_id must be the key's CKA_ID in hex",
        )),
    }
}

/// Accepts `CKM_AES_GCM`, `0x1087` or `4231`; refuses every other mechanism.
fn check_mechanism(text: &str) -> Result<(), Pkcs11Error> {
    let is_gcm =
        text.eq_ignore_ascii_case("CKM_AES_GCM") || parse_number(text) == Some(CKM_AES_GCM);
    if is_gcm {
        Ok(())
    } else {
        Err(Pkcs11Error::Config(
            "pkcs11: only mechanism CKM_AES_GCM (0x1087) is supported",
        ))
    }
}

/// Booleans as Go's `strconv.ParseBool` reads them.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stanza(params: &[(&str, &str)]) -> SealStanza {
        let mut s = SealStanza::new("pkcs11");
        for (k, v) in params {
            s.params.insert((*k).to_owned(), (*v).to_owned());
        }
        s
    }

    const BASE: &[(&str, &str)] = &[
        ("lib", "/usr/lib/softhsm/libsofthsm2.so"),
        ("token_label", "tresor"),
        ("pin", "1234"),
        ("key_label", "root-wrap"),
    ];

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(params: &[(&str, &str)]) -> Result<Pkcs11Config, Pkcs11Error> {
        Pkcs11Config::from_stanza_with_env(&stanza(params), &no_env)
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all: BTreeMap<&str, &str> = BASE.iter().copied().collect();
        for (k, v) in extra {
            all.insert(k, v);
        }
        all.into_iter().collect()
    }

    fn config_reason(err: Pkcs11Error) -> &'static str {
        match err {
            Pkcs11Error::Config(reason) => reason,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_stanza() {
        let c = parse(&with(&[("slot", "0x10"), ("key_id", "0xA1b2")])).unwrap();
        assert_eq!(c.lib, PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(c.slot, Some(16));
        assert_eq!(c.token_label.as_deref(), Some("tresor"));
        assert_eq!(c.pin(), "1234");
        assert_eq!(c.key_label.as_deref(), Some("root-wrap"));
        assert_eq!(c.key_id, Some(vec![0xa1, 0xb2]));
        assert!(!c.generate_key);
        assert_eq!(parse(&with(&[("slot", "42")])).unwrap().slot, Some(42));
    }

    #[test]
    fn environment_overrides_the_stanza() {
        let env = |name: &str| match name {
            "VAULT_HSM_PIN" => Some("9999".to_owned()),
            "VAULT_HSM_KEY_LABEL" => Some("from-env".to_owned()),
            "VAULT_HSM_SLOT" => Some("7".to_owned()),
            "VAULT_HSM_GENERATE_KEY" => Some("true".to_owned()),
            "VAULT_HSM_TOKEN_LABEL" => Some(String::new()),
            _ => None,
        };
        let c = Pkcs11Config::from_stanza_with_env(&stanza(BASE), &env).unwrap();
        assert_eq!(c.pin(), "9999");
        assert_eq!(c.key_label.as_deref(), Some("from-env"));
        assert_eq!(c.slot, Some(7));
        assert!(c.generate_key);
        // An empty variable does not override.
        assert_eq!(c.token_label.as_deref(), Some("tresor"));
    }

    #[test]
    fn environment_alone_is_enough() {
        let env = |name: &str| {
            let v = match name {
                "VAULT_HSM_LIB" => "/lib/hsm.so",
                "VAULT_HSM_TOKEN_LABEL" => "t",
                "VAULT_HSM_PIN" => "p",
                "VAULT_HSM_KEY_LABEL" => "k",
                "VAULT_HSM_MECHANISM" => "0x1087",
                _ => return None,
            };
            Some(v.to_owned())
        };
        let c = Pkcs11Config::from_stanza_with_env(&SealStanza::new("pkcs11"), &env).unwrap();
        assert_eq!(c.lib, PathBuf::from("/lib/hsm.so"));
        assert_eq!(c.key_label.as_deref(), Some("k"));
    }

    #[test]
    fn required_parameters() {
        let without = |name: &str| -> Vec<(&str, &str)> {
            BASE.iter().copied().filter(|(k, _)| *k != name).collect()
        };
        assert!(config_reason(parse(&without("lib")).unwrap_err()).contains("lib"));
        assert!(config_reason(parse(&without("pin")).unwrap_err()).contains("pin"));
        assert!(config_reason(parse(&without("token_label")).unwrap_err()).contains("token_label"));
        assert!(config_reason(parse(&without("key_label")).unwrap_err()).contains("key_label"));
        // key_id alone names the key; slot alone names the token.
        let mut by_id = without("key_label");
        by_id.push(("key_id", "01"));
        assert!(parse(&by_id).is_ok());
        let mut by_slot = without("token_label");
        by_slot.push(("slot", "0"));
        assert_eq!(parse(&by_slot).unwrap().slot, Some(0));
    }

    #[test]
    fn mechanism_must_be_aes_gcm() {
        for ok in ["CKM_AES_GCM", "ckm_aes_gcm", "0x1087", "0X1087", "4231"] {
            assert!(parse(&with(&[("mechanism", ok)])).is_ok(), "{ok}");
        }
        for bad in ["0x1085", "CKM_RSA_PKCS_OAEP", "0x0009", "gcm"] {
            let reason = config_reason(parse(&with(&[("mechanism", bad)])).unwrap_err());
            assert!(reason.contains("CKM_AES_GCM"), "{bad}: {reason}");
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(config_reason(parse(&with(&[("slot", "one")])).unwrap_err()).contains("slot"));
        assert!(config_reason(parse(&with(&[("slot", "-1")])).unwrap_err()).contains("slot"));
        assert!(config_reason(parse(&with(&[("key_id", "xyz")])).unwrap_err()).contains("key_id"));
        assert!(
            config_reason(parse(&with(&[("generate_key", "yes")])).unwrap_err())
                .contains("generate_key")
        );
        let mut wrong_kind = stanza(BASE);
        wrong_kind.kind = "awskms".into();
        assert!(Pkcs11Config::from_stanza_with_env(&wrong_kind, &no_env).is_err());
    }

    #[test]
    fn generate_key_values() {
        for (text, want) in [("true", true), ("1", true), ("T", true), ("false", false)] {
            assert_eq!(
                parse(&with(&[("generate_key", text)]))
                    .unwrap()
                    .generate_key,
                want
            );
        }
        // generate_key needs a label for the new key.
        let by_id: Vec<(&str, &str)> = BASE
            .iter()
            .copied()
            .filter(|(k, _)| *k != "key_label")
            .chain([("key_id", "01"), ("generate_key", "true")])
            .collect();
        assert!(config_reason(parse(&by_id).unwrap_err()).contains("key_label"));
    }

    #[test]
    fn debug_redacts_the_pin() {
        let c = parse(&with(&[("pin", "s3cr3t-pin")])).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t-pin"), "{shown}");
        assert!(shown.contains("root-wrap"));
    }
}
