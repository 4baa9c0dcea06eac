//! A named transit key: its versions and the rules on which versions may be used.
//!
//! Pure logic, no I/O: [`super::store`] loads and saves policies, the handlers apply requests to
//! them. Version numbers start at 1; `latest_version` is the newest. A ciphertext names the
//! version that sealed it, so older versions keep decrypting until `min_decryption_version`
//! moves past them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use zeroize::Zeroizing;

use super::asym::{self, SignParams};
use super::cipher::{KeyType, NONCE_LEN};
use super::ciphertext;
use super::hashalg::HashAlg;

/// The shortest non-zero automatic rotation period Vault accepts (one hour).
const MIN_AUTO_ROTATE_SECS: u64 = 3600;

/// One version of a key.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    /// The key material, wiped from memory on drop.
    #[serde(with = "secret_b64")]
    pub(crate) key: Zeroizing<Vec<u8>>,
    /// The version's HMAC key (every type has one). Absent in keys stored before HMAC
    /// existed: those use a key derived from `key` (see [`Policy::hmac_key`]).
    #[serde(
        default,
        with = "secret_b64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) hmac_key: Option<Zeroizing<Vec<u8>>>,
    /// When this version was created, nanoseconds since the Unix epoch.
    pub(crate) created_ns: i64,
}

impl KeyVersion {
    /// A version holding `key`, with a fresh HMAC key.
    pub(crate) fn new(key: Zeroizing<Vec<u8>>, created_ns: i64) -> Self {
        Self {
            key,
            hmac_key: Some(super::cipher::random_secret(HMAC_KEY_LEN)),
            created_ns,
        }
    }
}

/// Length of every version's HMAC key.
const HMAC_KEY_LEN: usize = 32;

/// A named key with all its versions and settings, as stored.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Policy {
    /// The key's name.
    pub(crate) name: String,
    /// The key type (fixed at creation).
    #[serde(rename = "type")]
    pub(crate) key_type: KeyType,
    /// Every version still held, by number.
    pub(crate) keys: BTreeMap<u64, KeyVersion>,
    /// The newest version.
    pub(crate) latest_version: u64,
    /// The oldest version allowed to decrypt.
    pub(crate) min_decryption_version: u64,
    /// The oldest version allowed to encrypt (0: only the latest).
    pub(crate) min_encryption_version: u64,
    /// The oldest version still held (0: none was ever trimmed).
    pub(crate) min_available_version: u64,
    /// Whether `DELETE keys/<name>` is allowed.
    pub(crate) deletion_allowed: bool,
    /// Whether the key material may be exported (never unset once set).
    pub(crate) exportable: bool,
    /// Whether a plaintext backup may be taken (never unset once set).
    pub(crate) allow_plaintext_backup: bool,
    /// Seconds after which the latest version is rotated automatically (0: never).
    pub(crate) auto_rotate_period: u64,
    /// Whether each request's `context` derives the key actually used (HKDF-SHA256).
    #[serde(default)]
    pub(crate) derived: bool,
    /// Whether encryption is deterministic: the nonce comes from the plaintext and context.
    #[serde(default)]
    pub(crate) convergent_encryption: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("type", &self.key_type)
            .field("latest_version", &self.latest_version)
            .finish_non_exhaustive()
    }
}

/// Settings given when a key is created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CreateOptions {
    /// Whether the key may be exported.
    pub(crate) exportable: bool,
    /// Whether plaintext backups are allowed.
    pub(crate) allow_plaintext_backup: bool,
    /// Automatic rotation period in seconds (0: never).
    pub(crate) auto_rotate_period: u64,
    /// Whether keys are derived from a context per request.
    pub(crate) derived: bool,
    /// Whether encryption is convergent (requires `derived`).
    pub(crate) convergent_encryption: bool,
}

/// A change requested through `keys/<name>/config`; `None` leaves a setting alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConfigChange {
    /// New `min_decryption_version` (may be negative in the request, which is refused).
    pub(crate) min_decryption_version: Option<i64>,
    /// New `min_encryption_version`.
    pub(crate) min_encryption_version: Option<i64>,
    /// New `deletion_allowed`.
    pub(crate) deletion_allowed: Option<bool>,
    /// New `exportable`.
    pub(crate) exportable: Option<bool>,
    /// New `allow_plaintext_backup`.
    pub(crate) allow_plaintext_backup: Option<bool>,
    /// New `auto_rotate_period` in seconds.
    pub(crate) auto_rotate_period: Option<u64>,
}

fn invalid(msg: impl Into<String>) -> LogicalError {
    LogicalError::invalid(msg)
}

/// Checks an automatic rotation period: 0 disables, otherwise at least an hour.
pub(crate) fn check_auto_rotate(secs: u64) -> Result<(), LogicalError> {
    if secs != 0 && secs < MIN_AUTO_ROTATE_SECS {
        return Err(invalid(
            "auto_rotate_period must be 0 to disable, or at least an hour",
        ));
    }
    Ok(())
}

impl Policy {
    /// A new key with version 1 freshly generated (slow for RSA: handlers generate the
    /// material off the async runtime and call [`Policy::with_material`]).
    #[cfg(test)]
    pub(crate) fn new(name: &str, key_type: KeyType, now_ns: i64, opts: &CreateOptions) -> Self {
        let key = asym::generate(key_type).unwrap_or_default();
        Self::with_material(name, key_type, now_ns, opts, key)
    }

    /// A new key whose version 1 holds `key`, generated for `key_type`.
    pub(crate) fn with_material(
        name: &str,
        key_type: KeyType,
        now_ns: i64,
        opts: &CreateOptions,
        key: Zeroizing<Vec<u8>>,
    ) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, KeyVersion::new(key, now_ns));
        Self {
            name: name.to_owned(),
            key_type,
            keys,
            latest_version: 1,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            deletion_allowed: false,
            exportable: opts.exportable,
            allow_plaintext_backup: opts.allow_plaintext_backup,
            auto_rotate_period: opts.auto_rotate_period,
            derived: opts.derived,
            convergent_encryption: opts.convergent_encryption,
        }
    }

    /// Adds a new latest version (generating it here; see [`Policy::rotate_with`]).
    #[cfg(test)]
    pub(crate) fn rotate(&mut self, now_ns: i64) {
        let key = asym::generate(self.key_type).unwrap_or_default();
        self.rotate_with(now_ns, key);
    }

    /// Adds a new latest version holding `key`.
    pub(crate) fn rotate_with(&mut self, now_ns: i64, key: Zeroizing<Vec<u8>>) {
        self.latest_version += 1;
        self.keys
            .insert(self.latest_version, KeyVersion::new(key, now_ns));
    }

    /// The key material of `entry` for a request with `context`: the stored key, or for
    /// derived keys HKDF-SHA256 of it with the context as info.
    fn material(
        &self,
        entry: &KeyVersion,
        context: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, LogicalError> {
        if !self.derived {
            return Ok(entry.key.clone());
        }
        let context = context
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                invalid("missing 'context' for key derivation: this key is derived, so every request must carry a base64 context")
            })?;
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &entry.key);
        let mut out = Zeroizing::new(vec![0u8; self.key_type.key_len()]);
        hk.expand(context, &mut out)
            .map_err(|_| LogicalError::Internal("key derivation failed".to_owned()))?;
        Ok(out)
    }

    /// The HMAC key of `version` (which must exist). Versions stored before HMAC keys were
    /// kept get one derived from their key material.
    pub(crate) fn hmac_key(&self, entry: &KeyVersion) -> Zeroizing<Vec<u8>> {
        if let Some(k) = &entry.hmac_key {
            return k.clone();
        }
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &entry.key);
        let mut out = Zeroizing::new(vec![0u8; HMAC_KEY_LEN]);
        // 32 bytes is far below HKDF-SHA256's limit, so expand cannot fail.
        let _ = hk.expand(b"tresor transit hmac key", &mut out);
        out
    }

    /// The version an operation that "encrypts" (encrypt, sign, hmac) uses, with its entry.
    pub(crate) fn entry_for_write(
        &self,
        requested: Option<u64>,
    ) -> Result<(u64, &KeyVersion), LogicalError> {
        let version = self.encryption_version(requested)?;
        let entry = self
            .keys
            .get(&version)
            .ok_or_else(|| invalid(format!("key version {version} is no longer available")))?;
        Ok((version, entry))
    }

    /// Signs `input` with `requested` (or the latest) version; returns the signature and
    /// the version used.
    pub(crate) fn sign(
        &self,
        input: &[u8],
        p: &SignParams,
        requested: Option<u64>,
        context: Option<&[u8]>,
    ) -> Result<(Vec<u8>, u64), LogicalError> {
        if !self.key_type.signs() {
            return Err(invalid(format!(
                "key type {} does not support signing",
                self.key_type.as_str()
            )));
        }
        let (version, entry) = self.entry_for_write(requested)?;
        let key = self.material(entry, context)?;
        Ok((asym::sign(self.key_type, &key, input, p)?, version))
    }

    /// The public key of `version` for `context` (derived Ed25519 keys), base64 or PEM.
    pub(crate) fn public_key_for(
        &self,
        version: u64,
        context: Option<&[u8]>,
    ) -> Result<Option<String>, LogicalError> {
        let Some(entry) = self.keys.get(&version) else {
            return Ok(None);
        };
        let key = self.material(entry, context)?;
        asym::public_key(self.key_type, &key)
    }

    /// Whether `sig`, made by key `version`, is valid for `input`.
    pub(crate) fn verify(
        &self,
        input: &[u8],
        version: u64,
        sig: &[u8],
        p: &SignParams,
        context: Option<&[u8]>,
    ) -> Result<bool, LogicalError> {
        if !self.key_type.signs() {
            return Err(invalid(format!(
                "key type {} does not support verification",
                self.key_type.as_str()
            )));
        }
        let entry = self.decryption_key(version)?;
        let key = self.material(entry, context)?;
        asym::verify(self.key_type, &key, input, sig, p)
    }

    /// The HMAC of `input` with `requested` (or the latest) version: `vault:v<N>:<mac>`.
    pub(crate) fn hmac(
        &self,
        alg: HashAlg,
        input: &[u8],
        requested: Option<u64>,
    ) -> Result<(String, u64), LogicalError> {
        let (version, entry) = self.entry_for_write(requested)?;
        let mac = alg.hmac(&self.hmac_key(entry), input);
        Ok((ciphertext::format(version, &mac), version))
    }

    /// Whether `hmac` (`vault:v<N>:<mac>`) is the HMAC of `input`.
    pub(crate) fn verify_hmac(
        &self,
        alg: HashAlg,
        input: &[u8],
        hmac: &str,
    ) -> Result<bool, LogicalError> {
        let parsed = ciphertext::parse_as(hmac, "hmac").map_err(invalid)?;
        let entry = self.decryption_key(parsed.version)?;
        Ok(alg.hmac_matches(&self.hmac_key(entry), input, &parsed.blob))
    }

    /// Deletes every version below `min_available_version`. Vault's bounds: at least 1, not
    /// below the current minimum, and at most the lower of `min_decryption_version` and
    /// `min_encryption_version`, both of which must be set (non-zero).
    pub(crate) fn trim(&mut self, min_available_version: i64) -> Result<(), LogicalError> {
        let v = u64::try_from(min_available_version)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| invalid("invalid min_available_version: it must be at least 1"))?;
        if self.min_encryption_version == 0 {
            return Err(invalid(
                "cannot trim a key whose min_encryption_version is 0 (latest): set it first",
            ));
        }
        if v > self.min_encryption_version {
            return Err(invalid(format!(
                "cannot set min_available_version to {v}: it is greater than min_encryption_version {}",
                self.min_encryption_version
            )));
        }
        if v > self.min_decryption_version {
            return Err(invalid(format!(
                "cannot set min_available_version to {v}: it is greater than min_decryption_version {}",
                self.min_decryption_version
            )));
        }
        if v < self.min_available_version {
            return Err(invalid(format!(
                "cannot set min_available_version to {v}: it is already {} and cannot be lowered",
                self.min_available_version
            )));
        }
        self.keys.retain(|version, _| *version >= v);
        self.min_available_version = v;
        Ok(())
    }

    /// Checks that a policy read from a backup is consistent: versions present from
    /// `min_available_version` to `latest_version`, minimums in range, key material of the
    /// type's shape. Refuses with the reason otherwise.
    pub(crate) fn validate(&self) -> Result<(), LogicalError> {
        let bad = |why: String| invalid(format!("invalid backup: {why}"));
        let first = self.min_available_version.max(1);
        if self.latest_version == 0 || self.keys.is_empty() {
            return Err(bad("the key has no versions".to_owned()));
        }
        if self.keys.keys().next() != Some(&first)
            || self.keys.keys().next_back() != Some(&self.latest_version)
            || u64::try_from(self.keys.len()).ok() != Some(self.latest_version - first + 1)
        {
            return Err(bad("the key versions are not contiguous".to_owned()));
        }
        if self.min_decryption_version < first || self.min_decryption_version > self.latest_version
        {
            return Err(bad("min_decryption_version is out of range".to_owned()));
        }
        if self.min_encryption_version > self.latest_version
            || (self.min_encryption_version > 0
                && self.min_encryption_version < self.min_decryption_version)
        {
            return Err(bad("min_encryption_version is out of range".to_owned()));
        }
        if self.convergent_encryption && !self.derived {
            return Err(bad(
                "convergent encryption requires a derived key".to_owned()
            ));
        }
        if self.derived && !self.key_type.derives() {
            return Err(bad(format!(
                "key type {} cannot be derived",
                self.key_type.as_str()
            )));
        }
        check_auto_rotate(self.auto_rotate_period)?;
        for (v, entry) in &self.keys {
            let ok = if self.key_type.signs() && self.key_type != KeyType::Ed25519 {
                asym::public_key(self.key_type, &entry.key).is_ok()
            } else {
                entry.key.len() == self.key_type.key_len()
            };
            if !ok {
                return Err(bad(format!(
                    "the material of version {v} is not a valid {} key",
                    self.key_type.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Whether the automatic rotation period has elapsed since the latest version was made.
    pub(crate) fn rotation_due(&self, now_ns: i64) -> bool {
        if self.auto_rotate_period == 0 {
            return false;
        }
        let Some(latest) = self.keys.get(&self.latest_version) else {
            return true;
        };
        let period_ns = i128::from(self.auto_rotate_period) * 1_000_000_000;
        i128::from(now_ns) - i128::from(latest.created_ns) >= period_ns
    }

    /// The version to encrypt with when the caller asked for `requested` (0 or `None`: latest).
    pub(crate) fn encryption_version(&self, requested: Option<u64>) -> Result<u64, LogicalError> {
        let version = match requested {
            None | Some(0) => return Ok(self.latest_version),
            Some(v) => v,
        };
        if version > self.latest_version {
            return Err(invalid(format!(
                "requested key version {version} is newer than the latest version {}",
                self.latest_version
            )));
        }
        if self.min_encryption_version > 0 && version < self.min_encryption_version {
            return Err(invalid(format!(
                "requested key version {version} is below the min_encryption_version {}",
                self.min_encryption_version
            )));
        }
        Ok(version)
    }

    /// The key of `version` if it may decrypt.
    pub(crate) fn decryption_key(&self, version: u64) -> Result<&KeyVersion, LogicalError> {
        if version < self.min_decryption_version {
            return Err(invalid(format!(
                "ciphertext key version {version} is disallowed by policy (too old): \
                 min_decryption_version is {}",
                self.min_decryption_version
            )));
        }
        if version > self.latest_version {
            return Err(invalid(format!(
                "invalid ciphertext: key version {version} does not exist (latest is {})",
                self.latest_version
            )));
        }
        self.keys
            .get(&version)
            .ok_or_else(|| invalid(format!("key version {version} is no longer available")))
    }

    /// Encrypts `plaintext` with `requested` (or the latest) version; returns the ciphertext
    /// string and the version used.
    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        requested: Option<u64>,
        context: Option<&[u8]>,
    ) -> Result<(String, u64), LogicalError> {
        if !self.key_type.is_aead() {
            return Err(invalid(format!(
                "key type {} does not support encryption",
                self.key_type.as_str()
            )));
        }
        let (version, entry) = self.entry_for_write(requested)?;
        let key = self.material(entry, context)?;
        let nonce = if self.convergent_encryption {
            let mac = HashAlg::Sha2_256.hmac(&key, plaintext);
            let mut n = [0u8; NONCE_LEN];
            n.copy_from_slice(&mac[..NONCE_LEN]);
            Some(n)
        } else {
            None
        };
        let blob = self
            .key_type
            .seal(&key, aad, plaintext, nonce.as_ref())
            .map_err(|_| LogicalError::Internal("encryption failed".to_owned()))?;
        Ok((ciphertext::format(version, &blob), version))
    }

    /// Decrypts a ciphertext string; returns the plaintext and the version that sealed it.
    pub(crate) fn decrypt(
        &self,
        text: &str,
        aad: &[u8],
        context: Option<&[u8]>,
    ) -> Result<(Zeroizing<Vec<u8>>, u64), LogicalError> {
        if !self.key_type.is_aead() {
            return Err(invalid(format!(
                "key type {} does not support decryption",
                self.key_type.as_str()
            )));
        }
        let parsed = ciphertext::parse(text).map_err(invalid)?;
        let entry = self.decryption_key(parsed.version)?;
        let key = self.material(entry, context)?;
        let plain = self
            .key_type
            .open(&key, aad, &parsed.blob)
            .map_err(|_| {
                invalid("decryption failed: message authentication failed (wrong key, associated data or tampered ciphertext)")
            })?;
        Ok((plain, parsed.version))
    }

    /// Applies a configuration change; on error the policy is left unchanged. Returns warnings.
    pub(crate) fn apply_config(
        &mut self,
        change: &ConfigChange,
    ) -> Result<Vec<String>, LogicalError> {
        let mut next = self.clone();
        let mut warnings = Vec::new();
        if let Some(v) = change.min_decryption_version {
            let v = u64::try_from(v)
                .map_err(|_| invalid("min_decryption_version cannot be negative"))?;
            let v = if v == 0 {
                warnings.push(
                    "key versions start at 1; min_decryption_version was set to 1".to_owned(),
                );
                1
            } else {
                v
            };
            if v > next.latest_version {
                return Err(invalid(format!(
                    "cannot set min_decryption_version to {v}: the latest key version is {}",
                    next.latest_version
                )));
            }
            if v < next.min_available_version {
                return Err(invalid(format!(
                    "cannot set min_decryption_version to {v}: versions below {} were trimmed",
                    next.min_available_version
                )));
            }
            next.min_decryption_version = v;
        }
        if let Some(v) = change.min_encryption_version {
            let v = u64::try_from(v)
                .map_err(|_| invalid("min_encryption_version cannot be negative"))?;
            if v > next.latest_version {
                return Err(invalid(format!(
                    "cannot set min_encryption_version to {v}: the latest key version is {}",
                    next.latest_version
                )));
            }
            if v > 0 && v < next.min_available_version {
                return Err(invalid(format!(
                    "cannot set min_encryption_version to {v}: versions below {} were trimmed",
                    next.min_available_version
                )));
            }
            next.min_encryption_version = v;
        }
        if next.min_encryption_version > 0
            && next.min_encryption_version < next.min_decryption_version
        {
            return Err(invalid(format!(
                "min_encryption_version {} must be 0 (latest) or at least min_decryption_version {}",
                next.min_encryption_version, next.min_decryption_version
            )));
        }
        if let Some(v) = change.deletion_allowed {
            next.deletion_allowed = v;
        }
        if let Some(v) = change.exportable {
            if !v && next.exportable {
                return Err(invalid(
                    "export cannot be disabled on a key that has had it enabled",
                ));
            }
            next.exportable = v;
        }
        if let Some(v) = change.allow_plaintext_backup {
            if !v && next.allow_plaintext_backup {
                return Err(invalid(
                    "plaintext backup cannot be disabled on a key that has had it enabled",
                ));
            }
            next.allow_plaintext_backup = v;
        }
        if let Some(v) = change.auto_rotate_period {
            check_auto_rotate(v)?;
            next.auto_rotate_period = v;
        }
        *self = next;
        Ok(warnings)
    }

    /// The key as `GET keys/<name>` shows it (never the key material); `keys` lists the
    /// versions from `min_decryption_version` on.
    pub(crate) fn info(&self) -> Map<String, Value> {
        // Versions below min_decryption_version are not shown (they are still held).
        let keys: Map<String, Value> = self
            .keys
            .range(self.min_decryption_version..)
            .map(|(v, k)| (v.to_string(), self.version_info(k)))
            .collect();
        let info = json!({
            "name": self.name,
            "type": self.key_type.as_str(),
            "keys": keys,
            "latest_version": self.latest_version,
            "min_available_version": self.min_available_version,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "deletion_allowed": self.deletion_allowed,
            "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "auto_rotate_period": self.auto_rotate_period,
            "derived": self.derived,
            "imported_key": false,
            "supports_encryption": self.key_type.is_aead(),
            "supports_decryption": self.key_type.is_aead(),
            "supports_derivation": self.key_type.derives(),
            "supports_signing": self.key_type.signs(),
        });
        let mut info = match info {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if self.derived {
            info.insert("kdf".to_owned(), json!("hkdf_sha256"));
            info.insert(
                "convergent_encryption".to_owned(),
                json!(self.convergent_encryption),
            );
            if self.convergent_encryption {
                info.insert("convergent_encryption_version".to_owned(), json!(-1));
            }
        }
        info
    }

    /// One version in `keys` of the key read: its creation time in Unix seconds for
    /// symmetric keys; for signing keys its creation time (RFC 3339), the type's name and
    /// the public key (absent for derived keys, whose public key depends on the context).
    fn version_info(&self, k: &KeyVersion) -> Value {
        if !self.key_type.signs() {
            return json!(k.created_ns.div_euclid(1_000_000_000));
        }
        let created = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(k.created_ns))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let public = if self.derived {
            None
        } else {
            asym::public_key(self.key_type, &k.key).ok().flatten()
        };
        json!({
            "creation_time": created,
            "name": curve_name(self.key_type),
            "public_key": public.unwrap_or_default(),
        })
    }
}

/// The `name` Vault shows for a signing key's version.
fn curve_name(t: KeyType) -> &'static str {
    match t {
        KeyType::EcdsaP256 => "P-256",
        KeyType::EcdsaP384 => "P-384",
        KeyType::EcdsaP521 => "P-521",
        other => other.as_str(),
    }
}

/// Serde of optional key material (see [`secret_b64`]).
mod secret_b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        key: &Option<Zeroizing<Vec<u8>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match key {
            Some(k) => super::secret_b64::serialize(k, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::secret_b64")] Zeroizing<Vec<u8>>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde of key material as base64 without unprotected intermediate copies.
mod secret_b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserializer, Serializer, de};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        key: &Zeroizing<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(key.as_slice()));
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Zeroizing<Vec<u8>>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("base64 key material")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let mut out = Zeroizing::new(Vec::with_capacity(v.len()));
                STANDARD
                    .decode_vec(v, &mut out)
                    .map_err(|_| E::custom("key material is not valid base64"))?;
                Ok(out)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000_000_000;

    fn key() -> Policy {
        Policy::new("k", KeyType::Aes256Gcm96, T0, &CreateOptions::default())
    }

    #[test]
    fn new_key_starts_at_version_one() {
        let p = key();
        assert_eq!(p.latest_version, 1);
        assert_eq!(p.min_decryption_version, 1);
        assert_eq!(p.min_encryption_version, 0);
        assert_eq!(p.keys.len(), 1);
        assert_eq!(p.keys[&1].key.len(), 32);
        let info = p.info();
        assert_eq!(info["keys"], json!({"1": 1_700_000_000}));
        assert_eq!(info["type"], "aes256-gcm96");
        assert_eq!(info["deletion_allowed"], false);
    }

    #[test]
    fn rotation_adds_distinct_versions_and_old_ones_still_decrypt() {
        let mut p = key();
        let (c1, v1) = p.encrypt(b"one", b"", None, None).unwrap();
        p.rotate(T0 + 5);
        let (c2, v2) = p.encrypt(b"two", b"", None, None).unwrap();
        assert_eq!((v1, v2), (1, 2));
        assert!(c1.starts_with("vault:v1:") && c2.starts_with("vault:v2:"));
        assert_ne!(p.keys[&1].key.as_slice(), p.keys[&2].key.as_slice());
        assert_eq!(p.decrypt(&c1, b"", None).unwrap().0.as_slice(), b"one");
        assert_eq!(
            p.decrypt(&c2, b"", None).unwrap(),
            (Zeroizing::new(b"two".to_vec()), 2)
        );
        // Encrypting with an explicit older version is allowed while min_encryption_version is 0.
        let (c, v) = p.encrypt(b"old", b"", Some(1), None).unwrap();
        assert_eq!(v, 1);
        assert!(c.starts_with("vault:v1:"));
        assert!(p.encrypt(b"x", b"", Some(3), None).is_err());
    }

    #[test]
    fn min_versions_restrict_use() {
        let mut p = key();
        let (c1, _) = p.encrypt(b"one", b"", None, None).unwrap();
        p.rotate(T0);
        p.rotate(T0);
        p.apply_config(&ConfigChange {
            min_decryption_version: Some(2),
            min_encryption_version: Some(3),
            ..ConfigChange::default()
        })
        .unwrap();
        let err = p.decrypt(&c1, b"", None).unwrap_err().to_string();
        assert!(err.contains("too old"), "{err}");
        assert!(
            p.encrypt(b"x", b"", Some(2), None)
                .unwrap_err()
                .to_string()
                .contains("min_encryption_version")
        );
        assert_eq!(p.encrypt(b"x", b"", None, None).unwrap().1, 3);
        // A ciphertext naming a version that does not exist yet.
        let future = ciphertext::format(9, &[0u8; 40]);
        assert!(
            p.decrypt(&future, b"", None)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
    }

    #[test]
    fn config_rules_are_all_or_nothing() {
        let mut p = key();
        p.rotate(T0);
        let before = (
            p.min_decryption_version,
            p.min_encryption_version,
            p.deletion_allowed,
        );
        let bad = [
            ConfigChange {
                min_decryption_version: Some(3),
                ..Default::default()
            },
            ConfigChange {
                min_decryption_version: Some(-1),
                ..Default::default()
            },
            ConfigChange {
                min_encryption_version: Some(5),
                ..Default::default()
            },
            // min_encryption_version below min_decryption_version
            ConfigChange {
                min_decryption_version: Some(2),
                min_encryption_version: Some(1),
                deletion_allowed: Some(true),
                ..Default::default()
            },
            ConfigChange {
                auto_rotate_period: Some(60),
                ..Default::default()
            },
        ];
        for change in &bad {
            assert!(p.apply_config(change).is_err(), "{change:?}");
            assert_eq!(
                (
                    p.min_decryption_version,
                    p.min_encryption_version,
                    p.deletion_allowed
                ),
                before
            );
        }
        let warnings = p
            .apply_config(&ConfigChange {
                min_decryption_version: Some(0),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.min_decryption_version, 1);
        assert_eq!(warnings.len(), 1);
        p.apply_config(&ConfigChange {
            exportable: Some(true),
            allow_plaintext_backup: Some(true),
            auto_rotate_period: Some(7200),
            ..Default::default()
        })
        .unwrap();
        assert!(p.exportable && p.allow_plaintext_backup);
        assert_eq!(p.auto_rotate_period, 7200);
        assert!(
            p.apply_config(&ConfigChange {
                exportable: Some(false),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            p.apply_config(&ConfigChange {
                allow_plaintext_backup: Some(false),
                ..Default::default()
            })
            .is_err()
        );
        assert!(p.exportable);
    }

    #[test]
    fn rotation_due_follows_the_period() {
        let mut p = key();
        assert!(!p.rotation_due(T0 + 1_000_000_000_000_000));
        p.auto_rotate_period = 3600;
        assert!(!p.rotation_due(T0 + 3599 * 1_000_000_000));
        assert!(p.rotation_due(T0 + 3600 * 1_000_000_000));
        p.rotate(T0 + 3600 * 1_000_000_000);
        assert!(!p.rotation_due(T0 + 3601 * 1_000_000_000));
    }

    #[test]
    fn tampered_and_foreign_ciphertexts_are_refused() {
        let p = key();
        let other = key();
        let (c, _) = p.encrypt(b"secret", b"ad", None, None).unwrap();
        assert!(
            other
                .decrypt(&c, b"ad", None)
                .unwrap_err()
                .to_string()
                .contains("authentication failed")
        );
        assert!(p.decrypt(&c, b"", None).is_err());
        let mut parsed = ciphertext::parse(&c).unwrap();
        parsed.blob[20] ^= 0x40;
        let tampered = ciphertext::format(1, &parsed.blob);
        assert!(matches!(
            p.decrypt(&tampered, b"ad", None),
            Err(LogicalError::InvalidRequest(_))
        ));
        assert!(matches!(
            p.decrypt("garbage", b"", None),
            Err(LogicalError::InvalidRequest(_))
        ));
    }

    #[test]
    fn stored_form_round_trips_and_debug_hides_keys() {
        let mut p = key();
        p.rotate(T0 + 1);
        let bytes = serde_json::to_vec(&p).unwrap();
        let back: Policy = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.latest_version, 2);
        assert_eq!(back.keys[&2].key.as_slice(), p.keys[&2].key.as_slice());
        assert_eq!(back.keys[&2].created_ns, T0 + 1);
        let (c, _) = p.encrypt(b"x", b"", None, None).unwrap();
        assert_eq!(back.decrypt(&c, b"", None).unwrap().0.as_slice(), b"x");
        let shown = format!("{p:?}");
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            p.keys[&1].key.as_slice(),
        );
        assert!(!shown.contains(&b64));
        assert!(serde_json::from_slice::<Policy>(br#"{"name":"k"}"#).is_err());
    }
}
