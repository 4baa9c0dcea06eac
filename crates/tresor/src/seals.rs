//! Builds the node's seals from the config's `seal` stanzas: no enabled stanza (or `shamir`)
//! means Shamir key shares; each enabled auto-seal stanza becomes one seal of the node's seal
//! set, in file order. Disabled stanzas are built too: they are the old seal of a seal
//! migration, used to unwrap the root key once.

use std::sync::Arc;

use tresor_config::{SealStanza, ServerConfig};
use tresor_seal::Seal;

/// The seals a node is configured with.
#[derive(Default)]
pub(crate) struct NodeSeals {
    /// The enabled auto seals, in file order (empty: Shamir).
    pub(crate) enabled: Vec<Arc<dyn Seal>>,
    /// The disabled stanzas' seals: the old seal of a seal migration, used only to unwrap.
    pub(crate) disabled: Vec<Arc<dyn Seal>>,
}

/// Builds the seals of every `seal` stanza. Seals that reach a key service connect lazily, so a
/// node whose HSM or KMS is down still starts (sealed) and keeps retrying.
pub(crate) async fn build(config: &ServerConfig) -> Result<NodeSeals, String> {
    let mut seals = NodeSeals::default();
    for stanza in &config.seals {
        if let Some(seal) = build_one(stanza).await? {
            if stanza.disabled {
                tracing::info!(
                    seal = %stanza.kind,
                    "disabled seal stanza: kept as the old seal of a seal migration"
                );
                seals.disabled.push(seal);
            } else {
                seals.enabled.push(seal);
            }
        }
    }
    Ok(seals)
}

/// One stanza's seal; `None` for `shamir`.
async fn build_one(stanza: &SealStanza) -> Result<Option<Arc<dyn Seal>>, String> {
    match stanza.kind.as_str() {
        "shamir" => Ok(None),
        "pkcs11" => {
            let seal = tresor_seal_pkcs11::Pkcs11Seal::from_stanza_lazy(stanza, &|k| {
                std::env::var(k).ok()
            })
            .map_err(|e| format!("seal \"pkcs11\" ({}): {e}", origin(stanza)))?;
            Ok(Some(Arc::new(seal)))
        }
        "awskms" => {
            let seal = tresor_seal_awskms::AwsKmsSeal::from_stanza(stanza)
                .await
                .map_err(|e| format!("seal \"awskms\" ({}): {e}", origin(stanza)))?;
            Ok(Some(Arc::new(seal)))
        }
        "transit" => {
            let seal = tresor_seal_transit::TransitSeal::from_stanza(stanza)
                .await
                .map_err(|e| format!("seal \"transit\" ({}): {e}", origin(stanza)))?;
            Ok(Some(Arc::new(seal)))
        }
        other => Err(format!(
            "seal \"{other}\" ({}): unsupported seal type",
            origin(stanza)
        )),
    }
}

fn origin(stanza: &SealStanza) -> &str {
    if stanza.source.is_empty() {
        "configuration"
    } else {
        &stanza.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(stanzas: Vec<SealStanza>) -> ServerConfig {
        ServerConfig {
            seals: stanzas,
            ..ServerConfig::default()
        }
    }

    #[tokio::test]
    async fn shamir_and_no_stanza_mean_no_auto_seal() {
        let none = build(&config_with(Vec::new())).await.unwrap();
        assert!(none.enabled.is_empty() && none.disabled.is_empty());
        let shamir = config_with(vec![SealStanza::new("shamir")]);
        assert!(build(&shamir).await.unwrap().enabled.is_empty());
        let mut disabled = SealStanza::new("shamir");
        disabled.disabled = true;
        let built = build(&config_with(vec![disabled])).await.unwrap();
        assert!(built.enabled.is_empty() && built.disabled.is_empty());
    }

    #[tokio::test]
    async fn kms_and_transit_stanzas_build_without_contacting_their_service() {
        // Building never connects (a node starts sealed while its KMS is down); missing
        // required parameters are refused with the seal named.
        let err = match build(&config_with(vec![SealStanza::new("awskms")])).await {
            Err(e) => e,
            Ok(_) => panic!("awskms without kms_key_id must not build"),
        };
        assert!(err.starts_with("seal \"awskms\""), "{err}");
        let mut kms = SealStanza::new("awskms");
        kms.params
            .insert("kms_key_id".into(), "alias/tresor".into());
        kms.params.insert("region".into(), "us-east-1".into());
        kms.params
            .insert("endpoint".into(), "http://127.0.0.1:9".into());
        let built = build(&config_with(vec![kms])).await.unwrap();
        assert_eq!(built.enabled.len(), 1);
        assert_eq!(built.enabled[0].seal_type(), "awskms");
        let mut transit = SealStanza::new("transit");
        for (k, v) in [
            ("address", "http://127.0.0.1:9"),
            ("token", "s.dummy"),
            ("key_name", "autounseal"),
            ("disable_renewal", "true"),
        ] {
            transit.params.insert(k.into(), v.into());
        }
        transit.disabled = true;
        let built = build(&config_with(vec![transit])).await.unwrap();
        assert_eq!(built.disabled.len(), 1);
        assert_eq!(built.disabled[0].seal_type(), "transit");
        let err = match build(&config_with(vec![SealStanza::new("gcpckms")])).await {
            Err(e) => e,
            Ok(_) => panic!("unknown kind"),
        };
        assert!(err.contains("unsupported seal type"), "{err}");
    }

    #[tokio::test]
    async fn pkcs11_stanza_errors_name_the_seal() {
        // A stanza without `lib` is refused before any module is loaded.
        let err = match build(&config_with(vec![SealStanza::new("pkcs11")])).await {
            Err(e) => e,
            Ok(_) => panic!("a pkcs11 stanza without lib must not build"),
        };
        assert!(err.starts_with("seal \"pkcs11\""), "{err}");
        let mut stanza = SealStanza::new("pkcs11");
        for (k, v) in [
            ("lib", "/nonexistent/libnothing.so"),
            ("token_label", "t"),
            ("pin", "1234"),
            ("key_label", "k"),
        ] {
            stanza.params.insert(k.into(), v.into());
        }
        stanza.disabled = true;
        let err = match build(&config_with(vec![stanza])).await {
            Err(e) => e,
            Ok(_) => panic!("a missing module must fail"),
        };
        assert!(err.contains("pkcs11"), "{err}");
    }
}
