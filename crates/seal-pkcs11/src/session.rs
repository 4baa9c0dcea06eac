//! A logged-in PKCS#11 session and the HSM operations the seal needs. Every function here
//! blocks on the HSM; the seal calls them from `spawn_blocking`.

use std::collections::HashMap;

use cryptoki::context::Pkcs11;
use cryptoki::error::Error as CryptokiError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::blob::{self, AAD, IV_LEN, KeyName, TAG_BITS};
use crate::config::Pkcs11Config;
use crate::error::{Pkcs11Error, RvClass, login_refusal, rv_name};

/// Length of the `CKA_ID` given to generated keys.
const GENERATED_ID_LEN: usize = 16;
/// AES-256.
const KEY_LEN: u64 = 32;

/// An open, logged-in session with the configured key found.
pub(crate) struct HsmSession {
    session: Session,
    token_label: String,
    current: (KeyName, ObjectHandle),
    /// Older keys found by the key id of a wrapped key.
    others: HashMap<KeyName, ObjectHandle>,
}

impl HsmSession {
    /// Finds the token, opens a session, logs in and finds (or generates) the key.
    pub(crate) fn open(module: &Pkcs11, config: &Pkcs11Config) -> Result<Self, Pkcs11Error> {
        crate::module::initialize(module, &config.lib)?;
        let (slot, token_label) = find_slot(module, config)?;
        let session = if config.generate_key {
            module.open_rw_session(slot)
        } else {
            module.open_ro_session(slot)
        }
        .map_err(Pkcs11Error::hsm("C_OpenSession"))?;
        login(&session, config)?;
        let current = find_or_generate_key(&session, config, &token_label)?;
        tracing::info!(
            slot = slot.id(),
            token = %token_label,
            key_id = %current.0.key_id(),
            "pkcs11 seal: session open"
        );
        Ok(HsmSession {
            session,
            token_label,
            current,
            others: HashMap::new(),
        })
    }

    /// The key id of the key new wraps use.
    pub(crate) fn current_key_id(&self) -> String {
        self.current.0.key_id()
    }

    /// Encrypts `plaintext` under the current key; returns (key id, stored ciphertext).
    pub(crate) fn encrypt(&self, plaintext: &[u8]) -> Result<(String, Vec<u8>), Pkcs11Error> {
        let iv: [u8; IV_LEN] = tresor_crypto::random_bytes(IV_LEN)
            .try_into()
            .map_err(|_| Pkcs11Error::MalformedBlob)?;
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, AAD, TAG_BITS.into())
            .map_err(Pkcs11Error::hsm("C_EncryptInit"))?;
        let sealed = self
            .session
            .encrypt(&Mechanism::AesGcm(params), self.current.1, plaintext)
            .map_err(Pkcs11Error::hsm("C_Encrypt"))?;
        Ok((self.current.0.key_id(), blob::encode(&iv, &sealed)))
    }

    /// Decrypts a stored ciphertext wrapped under the key named by `key_id`.
    pub(crate) fn decrypt(
        &mut self,
        key_id: &str,
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Pkcs11Error> {
        let name = KeyName::parse(key_id)?;
        let (iv, sealed) = blob::decode(stored)?;
        let key = self.key_for(&name, key_id)?;
        let mut iv = iv;
        let params = GcmParams::new(&mut iv, AAD, TAG_BITS.into())
            .map_err(Pkcs11Error::hsm("C_DecryptInit"))?;
        match self
            .session
            .decrypt(&Mechanism::AesGcm(params), key, sealed)
        {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(e) => {
                let err = Pkcs11Error::hsm("C_Decrypt")(e);
                // A generic failure may hide a lost session: ask the session before calling
                // it a failed authentication.
                if matches!(
                    err,
                    Pkcs11Error::Hsm {
                        class: RvClass::BadData,
                        ..
                    }
                ) {
                    self.ping()?;
                }
                Err(err)
            }
        }
    }

    /// Checks that the session is alive and the current key still readable.
    pub(crate) fn ping(&self) -> Result<(), Pkcs11Error> {
        self.session
            .get_session_info()
            .map_err(Pkcs11Error::hsm("C_GetSessionInfo"))?;
        self.session
            .get_attributes(self.current.1, &[AttributeType::KeyType])
            .map_err(Pkcs11Error::hsm("C_GetAttributeValue"))?;
        Ok(())
    }

    /// The handle of the key named `name`: the current key, a cached older key, or one looked
    /// up on the token by its label and id.
    fn key_for(&mut self, name: &KeyName, key_id: &str) -> Result<ObjectHandle, Pkcs11Error> {
        if *name == self.current.0 {
            return Ok(self.current.1);
        }
        if let Some(handle) = self.others.get(name) {
            return Ok(*handle);
        }
        let mut template = aes_key_template();
        if !name.label.is_empty() {
            template.push(Attribute::Label(name.label.as_bytes().to_vec()));
        }
        if !name.id.is_empty() {
            template.push(Attribute::Id(name.id.clone()));
        }
        let found = self
            .session
            .find_objects(&template)
            .map_err(Pkcs11Error::hsm("C_FindObjects"))?;
        match found.as_slice() {
            [handle] => {
                self.others.insert(name.clone(), *handle);
                Ok(*handle)
            }
            _ => {
                tracing::warn!(
                    key_id,
                    token = %self.token_label,
                    matches = found.len(),
                    "pkcs11 seal: wrapped key names a key not (uniquely) on this token"
                );
                Err(Pkcs11Error::UnknownKey(key_id.to_owned()))
            }
        }
    }
}

/// The slot holding the configured token, and the token's label.
fn find_slot(module: &Pkcs11, config: &Pkcs11Config) -> Result<(Slot, String), Pkcs11Error> {
    let slots = module
        .get_slots_with_token()
        .map_err(Pkcs11Error::hsm("C_GetSlotList"))?;
    let label_of = |slot: Slot| -> Result<String, Pkcs11Error> {
        module
            .get_token_info(slot)
            .map(|info| info.label().trim_end().to_owned())
            .map_err(Pkcs11Error::hsm("C_GetTokenInfo"))
    };
    if let Some(number) = config.slot {
        let slot = slots
            .iter()
            .copied()
            .find(|s| s.id() == number)
            .ok_or_else(|| Pkcs11Error::TokenNotFound(format!("no token in slot {number}")))?;
        let label = label_of(slot)?;
        if let Some(want) = &config.token_label
            && *want != label
        {
            return Err(Pkcs11Error::TokenNotFound(format!(
                "the token in slot {number} is labelled {label:?}, not {want:?}"
            )));
        }
        return Ok((slot, label));
    }
    let want = config.token_label.as_deref().unwrap_or_default();
    for slot in slots {
        let label = label_of(slot)?;
        if label == want {
            return Ok((slot, label));
        }
    }
    Err(Pkcs11Error::TokenNotFound(format!(
        "no slot holds a token labelled {want:?}"
    )))
}

/// Logs in as the user. A token already logged in (by another session of this process) is
/// fine.
fn login(session: &Session, config: &Pkcs11Config) -> Result<(), Pkcs11Error> {
    let pin = AuthPin::new(Box::from(config.pin()));
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) => Ok(()),
        Err(CryptokiError::Pkcs11(rv, _)) => {
            if rv == cryptoki::error::RvError::UserAlreadyLoggedIn {
                return Ok(());
            }
            match login_refusal(rv) {
                Some(reason) => Err(Pkcs11Error::Login(reason)),
                None => Err(Pkcs11Error::Hsm {
                    function: "C_Login",
                    code: rv_name(rv),
                    class: crate::error::classify(rv),
                }),
            }
        }
        Err(other) => Err(Pkcs11Error::hsm("C_Login")(other)),
    }
}

fn aes_key_template() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
    ]
}

/// Finds the configured key; generates it when it is missing and `generate_key` is set.
fn find_or_generate_key(
    session: &Session,
    config: &Pkcs11Config,
    token_label: &str,
) -> Result<(KeyName, ObjectHandle), Pkcs11Error> {
    let mut template = aes_key_template();
    let mut described = Vec::new();
    if let Some(label) = &config.key_label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
        described.push(format!("label {label:?}"));
    }
    if let Some(id) = &config.key_id {
        template.push(Attribute::Id(id.clone()));
        described.push(format!("id {}", hex::encode(id)));
    }
    let described = described.join(" and ");
    let found = session
        .find_objects(&template)
        .map_err(Pkcs11Error::hsm("C_FindObjects"))?;
    let handle = match found.as_slice() {
        [handle] => *handle,
        [] if config.generate_key => generate_key(session, config)?,
        [] => {
            return Err(Pkcs11Error::KeyNotFound {
                key: described,
                token: token_label.to_owned(),
            });
        }
        many => {
            return Err(Pkcs11Error::AmbiguousKey {
                key: described,
                token: token_label.to_owned(),
                count: many.len(),
            });
        }
    };
    Ok((key_name(session, handle)?, handle))
}

/// Creates a 256-bit AES token key that never leaves the HSM.
fn generate_key(session: &Session, config: &Pkcs11Config) -> Result<ObjectHandle, Pkcs11Error> {
    let id = match &config.key_id {
        Some(id) => id.clone(),
        None => tresor_crypto::random_bytes(GENERATED_ID_LEN),
    };
    let mut template = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::ValueLen(KEY_LEN.into()),
        Attribute::Id(id.clone()),
    ];
    if let Some(label) = &config.key_label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    let handle = session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(Pkcs11Error::hsm("C_GenerateKey"))?;
    tracing::info!(
        key_label = config.key_label.as_deref().unwrap_or_default(),
        key_id = %hex::encode(&id),
        "pkcs11 seal: generated a new AES-256 key on the token"
    );
    Ok(handle)
}

/// Reads a key's label and id.
fn key_name(session: &Session, handle: ObjectHandle) -> Result<KeyName, Pkcs11Error> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
        .map_err(Pkcs11Error::hsm("C_GetAttributeValue"))?;
    let mut name = KeyName {
        label: String::new(),
        id: Vec::new(),
    };
    for attribute in attributes {
        match attribute {
            Attribute::Label(label) => name.label = String::from_utf8_lossy(&label).into_owned(),
            Attribute::Id(id) => name.id = id,
            _ => {}
        }
    }
    Ok(name)
}
