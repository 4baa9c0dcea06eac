//! The keys of a JWKS or OIDC-discovery mount, fetched over HTTP and cached per mount: kept
//! for [`KEYS_TTL`], fetched again when the configuration changes, and refreshed early when a
//! token names a `kid` the cache does not hold (at most once per [`MIN_REFRESH`], so a flood
//! of made-up key ids cannot turn into a flood of fetches). At most [`MAX_KEYS`] keys are kept.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use super::config::{JwtConfig, KeySource};
use super::keys::{self, MAX_KEYS, PublicKey};
use crate::remote::{self, RemoteError};

/// How long fetched keys are used before they are fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Shortest time between two refreshes caused by an unknown `kid`.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);

/// Fetched keys, and the issuer a discovery document names.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The keys.
    pub keys: Vec<PublicKey>,
    /// The discovery document's `issuer` (empty for a JWKS URL).
    pub issuer: String,
}

#[derive(Debug)]
struct Entry {
    fingerprint: String,
    fetched: Fetched,
    at: Instant,
    last_forced: Option<Instant>,
}

/// What to do with the cache for one login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Use the cached keys.
    Use,
    /// Fetch (nothing cached, another configuration, too old).
    Fetch,
    /// Fetch because the token's `kid` is unknown (counts against [`MIN_REFRESH`]).
    Refresh,
}

/// Decides, from what is cached, whether to fetch. Pure.
pub fn decide(
    cached: Option<(&str, Instant, Option<Instant>, &[PublicKey])>,
    fingerprint: &str,
    kid: Option<&str>,
    now: Instant,
) -> Decision {
    let Some((fp, at, last_forced, keys)) = cached else {
        return Decision::Fetch;
    };
    if fp != fingerprint || now.saturating_duration_since(at) >= KEYS_TTL {
        return Decision::Fetch;
    }
    let unknown = kid.is_some_and(|k| !keys.iter().any(|key| key.kid.as_deref() == Some(k)));
    let may = last_forced.is_none_or(|t| now.saturating_duration_since(t) >= MIN_REFRESH);
    if unknown && may {
        Decision::Refresh
    } else {
        Decision::Use
    }
}

fn fingerprint(c: &JwtConfig) -> String {
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        c.jwks_url, c.jwks_ca_pem, c.oidc_discovery_url, c.oidc_discovery_ca_pem
    )
}

/// The keys of one mount.
#[derive(Debug, Default)]
pub struct KeyCache {
    entry: Mutex<Option<Entry>>,
}

fn bad(url: &str, what: &str) -> RemoteError {
    RemoteError::Body {
        url: url.to_owned(),
        what: what.to_owned(),
    }
}

/// Fetches the keys `config` names (JWKS or discovery).
pub async fn fetch(config: &JwtConfig) -> Result<Fetched, RemoteError> {
    let (jwks_url, ca, issuer) = match config.source() {
        Ok(KeySource::Discovery) => {
            let base = config.oidc_discovery_url.trim_end_matches('/');
            let url = format!("{base}/.well-known/openid-configuration");
            let doc = remote::get_json(&url, &config.oidc_discovery_ca_pem).await?;
            let issuer = doc
                .get("issuer")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&url, "no issuer"))?;
            if issuer.trim_end_matches('/') != base {
                return Err(bad(
                    &url,
                    &format!("issuer {issuer:?}, not {:?}", config.oidc_discovery_url),
                ));
            }
            let jwks = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&url, "no jwks_uri"))?;
            (
                jwks.to_owned(),
                config.oidc_discovery_ca_pem.clone(),
                issuer.to_owned(),
            )
        }
        _ => (
            config.jwks_url.clone(),
            config.jwks_ca_pem.clone(),
            String::new(),
        ),
    };
    let doc = remote::get_json(&jwks_url, &ca).await?;
    let mut keys = keys::from_jwks(&doc).map_err(|e| bad(&jwks_url, &e.to_string()))?;
    keys.truncate(MAX_KEYS);
    Ok(Fetched { keys, issuer })
}

impl KeyCache {
    /// The keys for a token naming `kid`, fetched when [`decide`] says so.
    pub async fn keys(
        &self,
        config: &JwtConfig,
        kid: Option<&str>,
    ) -> Result<Fetched, RemoteError> {
        let fp = fingerprint(config);
        let mut guard = self.entry.lock().await;
        let now = Instant::now();
        let decision = decide(
            guard.as_ref().map(|e| {
                (
                    e.fingerprint.as_str(),
                    e.at,
                    e.last_forced,
                    e.fetched.keys.as_slice(),
                )
            }),
            &fp,
            kid,
            now,
        );
        match decision {
            Decision::Use => {}
            Decision::Fetch | Decision::Refresh => {
                let fetched = fetch(config).await?;
                let last_forced = match (decision, guard.as_ref()) {
                    (Decision::Refresh, _) => Some(now),
                    (_, Some(e)) if e.fingerprint == fp => e.last_forced,
                    _ => None,
                };
                *guard = Some(Entry {
                    fingerprint: fp,
                    fetched,
                    at: now,
                    last_forced,
                });
            }
        }
        guard
            .as_ref()
            .map(|e| e.fetched.clone())
            .ok_or_else(|| bad("", "no keys"))
    }

    /// Replaces the cache with keys fetched for a configuration just written.
    pub async fn prime(&self, config: &JwtConfig, fetched: Fetched) {
        *self.entry.lock().await = Some(Entry {
            fingerprint: fingerprint(config),
            fetched,
            at: Instant::now(),
            last_forced: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::keys::KeyMaterial;

    fn key(kid: &str) -> PublicKey {
        PublicKey {
            kid: Some(kid.into()),
            alg: None,
            material: KeyMaterial::Ed25519(vec![0; 32]),
        }
    }

    #[test]
    fn fetch_refresh_and_rate_limit() {
        let t0 = Instant::now();
        let keys = [key("a")];
        assert_eq!(decide(None, "fp", None, t0), Decision::Fetch);
        let c = Some(("fp", t0, None, &keys[..]));
        assert_eq!(decide(c, "fp", Some("a"), t0), Decision::Use);
        assert_eq!(decide(c, "fp", None, t0), Decision::Use);
        assert_eq!(decide(c, "other", Some("a"), t0), Decision::Fetch);
        assert_eq!(decide(c, "fp", Some("b"), t0), Decision::Refresh);
        assert_eq!(decide(c, "fp", Some("a"), t0 + KEYS_TTL), Decision::Fetch);
        // Just refreshed: an unknown kid waits for MIN_REFRESH.
        let c = Some(("fp", t0, Some(t0), &keys[..]));
        assert_eq!(
            decide(c, "fp", Some("b"), t0 + Duration::from_secs(1)),
            Decision::Use
        );
        assert_eq!(
            decide(c, "fp", Some("b"), t0 + MIN_REFRESH),
            Decision::Refresh
        );
    }
}
