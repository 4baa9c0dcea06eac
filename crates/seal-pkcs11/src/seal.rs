//! [`Pkcs11Seal`]: the `Seal` implementation over a PKCS#11 session.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use cryptoki::context::Pkcs11;
use tresor_config::SealStanza;
use tresor_seal::{Seal, SealError, WrappedKey};
use zeroize::Zeroizing;

use crate::SEAL_TYPE;
use crate::config::Pkcs11Config;
use crate::error::{Op, Pkcs11Error};
use crate::session::HsmSession;

/// An auto seal whose key is an AES-256 key inside an HSM, reached through PKCS#11. Wraps with
/// `CKM_AES_GCM` (random 96-bit IV, 128-bit tag) inside the HSM.
///
/// The session is opened by the constructor ([`Pkcs11Seal::from_stanza`]; on first use with
/// [`Pkcs11Seal::from_stanza_lazy`]) and reopened on the next call after the token reports it
/// lost (removed token, closed session, device error, logged out); those failures surface as
/// the retriable [`SealError::Unavailable`]. A refused PIN is never retried (HSMs lock a PIN
/// after a few failures): the seal reports it until it is rebuilt from a corrected stanza.
/// PKCS#11 calls run on tokio's blocking pool, one at a time per seal; clones share the
/// session.
#[derive(Clone)]
pub struct Pkcs11Seal {
    inner: Arc<Inner>,
}

struct Inner {
    config: Pkcs11Config,
    module: Pkcs11,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    session: Option<HsmSession>,
    /// Set when the token refused the PIN; no further login is attempted.
    login_refused: Option<&'static str>,
}

impl fmt::Debug for Pkcs11Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Seal")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Seal {
    /// Builds the seal from a `seal "pkcs11"` stanza, with the VAULT_HSM_* variables of the
    /// process environment taking precedence. See [`Pkcs11Seal::from_stanza_with_env`].
    pub fn from_stanza(stanza: &SealStanza) -> Result<Pkcs11Seal, SealError> {
        Self::from_stanza_with_env(stanza, &|name| std::env::var(name).ok())
    }

    /// Builds the seal from a stanza, with the overrides `env` returns for VAULT_HSM_LIB,
    /// VAULT_HSM_SLOT, VAULT_HSM_TOKEN_LABEL, VAULT_HSM_PIN, VAULT_HSM_KEY_LABEL,
    /// VAULT_HSM_MECHANISM and VAULT_HSM_GENERATE_KEY.
    ///
    /// Blocks: loads the module, finds the token (by `slot` and/or `token_label`), logs in and
    /// finds the key (generating it if `generate_key` is true and it is missing). Call it from
    /// `spawn_blocking` inside a runtime. Errors: [`SealError::InvalidConfig`] for a bad stanza
    /// or a refused PIN; [`SealError::Unavailable`] (naming the cause: library, token, missing
    /// key, `CKR_` code) otherwise.
    pub fn from_stanza_with_env(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Pkcs11Seal, SealError> {
        let seal = Self::from_stanza_lazy(stanza, env)?;
        let session = HsmSession::open(&seal.inner.module, &seal.inner.config)
            .map_err(|e| e.into_seal_error(Op::Connect))?;
        seal.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .session = Some(session);
        Ok(seal)
    }

    /// Like [`Pkcs11Seal::from_stanza_with_env`] but without touching the token: validates the
    /// stanza and loads the module, and leaves finding the token, logging in and finding (or
    /// generating) the key to the first `wrap`, `unwrap` or `health_check`, whose errors then
    /// say what is wrong. For a server that must come up (sealed) while its HSM is
    /// unreachable, and keep retrying. Errors: [`SealError::InvalidConfig`] for a bad stanza,
    /// [`SealError::Unavailable`] when the module cannot be loaded.
    pub fn from_stanza_lazy(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Pkcs11Seal, SealError> {
        let config = Pkcs11Config::from_stanza_with_env(stanza, env)
            .map_err(|e| e.into_seal_error(Op::Connect))?;
        let module =
            crate::module::load(&config.lib).map_err(|e| e.into_seal_error(Op::Connect))?;
        Ok(Pkcs11Seal {
            inner: Arc::new(Inner {
                config,
                module,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// [`Pkcs11Seal::from_stanza`] on a blocking thread, for callers inside a runtime.
    pub async fn open(stanza: &SealStanza) -> Result<Pkcs11Seal, SealError> {
        let stanza = stanza.clone();
        tokio::task::spawn_blocking(move || Self::from_stanza(&stanza))
            .await
            .map_err(|e| SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason: format!("opening the HSM session did not complete: {e}"),
            })?
    }

    /// Checks that the HSM answers: the session is alive (reopened if it was lost) and the
    /// current key is still on the token.
    pub async fn health_check(&self) -> Result<(), SealError> {
        self.run(Op::Connect, |session| session.ping()).await
    }

    /// The key id new wraps are recorded under: `<CKA_LABEL>#<CKA_ID hex>`.
    pub async fn current_key_id(&self) -> Result<String, SealError> {
        self.run(Op::Connect, |session| Ok(session.current_key_id()))
            .await
    }

    /// Runs `f` on the session in a blocking thread, opening the session first if needed.
    async fn run<T, F>(&self, op: Op, f: F) -> Result<T, SealError>
    where
        T: Send + 'static,
        F: FnOnce(&mut HsmSession) -> Result<T, Pkcs11Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.with_session(f))
            .await
            .map_err(|e| SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason: format!("HSM call did not complete: {e}"),
            })?
            .map_err(|e| e.into_seal_error(op))
    }
}

impl Inner {
    /// Locks the session state, (re)opens the session if there is none, and runs `f`. A lost
    /// session is dropped so the next call opens a new one.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&mut HsmSession) -> Result<T, Pkcs11Error>,
    ) -> Result<T, Pkcs11Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reason) = state.login_refused {
            return Err(Pkcs11Error::Login(reason));
        }
        let session = match &mut state.session {
            Some(session) => session,
            empty => match HsmSession::open(&self.module, &self.config) {
                Ok(session) => empty.insert(session),
                Err(Pkcs11Error::Login(reason)) => {
                    tracing::error!(
                        "{reason}; not logging in again until the seal is reconfigured"
                    );
                    state.login_refused = Some(reason);
                    return Err(Pkcs11Error::Login(reason));
                }
                Err(e) => return Err(e),
            },
        };
        let result = f(session);
        if let Err(e) = &result
            && e.session_lost()
        {
            tracing::warn!(error = %e, "pkcs11 seal: session lost; reopening on the next call");
            state.session = None;
        }
        result
    }
}

#[async_trait]
impl Seal for Pkcs11Seal {
    fn seal_type(&self) -> &'static str {
        SEAL_TYPE
    }

    fn is_auto(&self) -> bool {
        true
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        let plaintext = Zeroizing::new(plaintext.to_vec());
        let (key_id, ciphertext) = self
            .run(Op::Wrap, move |session| session.encrypt(&plaintext))
            .await?;
        Ok(WrappedKey {
            seal_type: SEAL_TYPE.to_owned(),
            key_id,
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if wrapped.seal_type != SEAL_TYPE {
            return Err(SealError::WrongSealType {
                seal_type: SEAL_TYPE,
                found: wrapped.seal_type.clone(),
            });
        }
        let key_id = wrapped.key_id.clone();
        let ciphertext = wrapped.ciphertext.clone();
        self.run(Op::Unwrap, move |session| {
            session.decrypt(&key_id, &ciphertext)
        })
        .await
    }
}
