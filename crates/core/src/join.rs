//! Joining a node to the cluster: the seal challenge and the core's join state.
//!
//! The active node hands a joiner only ciphertext: a nonce encrypted under the root key, the
//! seal configuration, the seal-wrapped root key and the encrypted keyring. Only an operator
//! holding the cluster's unseal keys can rebuild the root key on the joiner, decrypt the
//! nonce and send it back; the active node checks it in constant time before it issues the
//! joiner a cluster certificate (itself returned encrypted under the root key). Challenges
//! are stateless ([`ChallengeKeys`]): the active node keeps nothing per challenge, so the
//! unauthenticated challenge endpoint cannot grow its memory.
//!
//! With an auto seal no operator is involved: the challenge carries the root key wrapped by
//! each of the cluster's seals, a joiner whose own seal unwraps one answers by itself (see
//! `Core::auto_unseal`), and a joiner whose seal cannot (another KMS key) is refused.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tresor_barrier::KEYRING_PATH;
use tresor_crypto::{Key32, aead, ct_eq};
use tresor_seal::{SealConfig, WrappedKey};
use tresor_storage::Backend;
use zeroize::Zeroizing;

use crate::core::{Core, ROOT_KEY_PATH, lock};
use crate::error::CoreError;
use crate::ha::JoinAdmission;

/// How long a challenge stays answerable.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Barrier prefix of the cluster CA (`ca`) and issued node identities (`node/<id>`).
pub const CLUSTER_TLS_PREFIX: &str = "core/cluster-tls/";
/// Length of the challenge nonce.
const NONCE_LEN: usize = 32;

/// What the active node sends a joining node (`sys/storage/raft/bootstrap/challenge`):
/// ciphertext only, useless without the unseal keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinChallenge {
    /// Base64 of the nonce encrypted under the root key.
    pub challenge: String,
    /// The cluster's seal configuration (threshold and share count for the operator).
    pub seal_config: SealConfig,
    /// The seal-wrapped root key (`core/root-key`; its first copy for a seal set).
    pub root_key: WrappedKey,
    /// Every copy of the root key, one per seal, when the cluster uses auto seals (empty for
    /// Shamir, and from nodes that predate seal sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_keys: Vec<WrappedKey>,
    /// Base64 of the encrypted keyring (`core/keyring`).
    pub keyring: String,
}

impl JoinChallenge {
    /// The wrapped copies of the root key to try: `root_keys`, or `root_key` alone.
    pub fn wrapped_root_keys(&self) -> Vec<WrappedKey> {
        if self.root_keys.is_empty() {
            vec![self.root_key.clone()]
        } else {
            self.root_keys.clone()
        }
    }
}

fn challenge_aad(server_id: &str) -> Vec<u8> {
    format!("tresor/join/challenge/{server_id}").into_bytes()
}

fn identity_aad(server_id: &str) -> Vec<u8> {
    format!("tresor/join/identity/{server_id}").into_bytes()
}

/// Encrypts `nonce` for `server_id` under the root key (base64 out).
pub(crate) fn seal_challenge(
    root: &Key32,
    server_id: &str,
    nonce: &[u8],
) -> Result<String, CoreError> {
    let blob = aead::encrypt(root, &challenge_aad(server_id), nonce)
        .map_err(|e| CoreError::Internal(format!("sealing join challenge: {e}")))?;
    Ok(STANDARD.encode(blob))
}

/// Decrypts a challenge with a candidate root key and returns the answer (base64 nonce).
pub(crate) fn open_challenge(
    root: &Key32,
    server_id: &str,
    challenge: &str,
) -> Result<String, CoreError> {
    let blob = STANDARD
        .decode(challenge)
        .map_err(|_| CoreError::invalid("malformed join challenge"))?;
    let nonce = aead::decrypt(root, &challenge_aad(server_id), &blob)
        .map_err(|_| CoreError::invalid("join challenge does not decrypt with this seal's keys"))?;
    Ok(STANDARD.encode(&*nonce))
}

/// Encrypts a node identity for `server_id` under the root key (base64 out).
pub(crate) fn seal_identity(
    root: &Key32,
    server_id: &str,
    identity: &[u8],
) -> Result<String, CoreError> {
    let blob = aead::encrypt(root, &identity_aad(server_id), identity)
        .map_err(|e| CoreError::Internal(format!("sealing node identity: {e}")))?;
    Ok(STANDARD.encode(blob))
}

/// Decrypts a node identity sealed by [`seal_identity`].
pub(crate) fn open_identity(
    root: &Key32,
    server_id: &str,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, CoreError> {
    let blob = STANDARD
        .decode(sealed)
        .map_err(|_| CoreError::invalid("malformed node identity"))?;
    aead::decrypt(root, &identity_aad(server_id), &blob)
        .map_err(|_| CoreError::invalid("node identity does not decrypt with this seal's keys"))
}

/// Longest `server_id` a join accepts (the challenge endpoint is unauthenticated).
pub const MAX_SERVER_ID_LEN: usize = 16 * 1024;

/// Refuses an empty or oversized `server_id`.
pub(crate) fn check_server_id(server_id: &str) -> Result<(), CoreError> {
    if server_id.is_empty() {
        return Err(CoreError::invalid("missing server_id"));
    }
    if server_id.len() > MAX_SERVER_ID_LEN {
        return Err(CoreError::invalid(format!(
            "server_id is too long: {} bytes, the limit is {MAX_SERVER_ID_LEN}",
            server_id.len()
        )));
    }
    Ok(())
}

/// Length of the expiry stamp that precedes the nonce in a challenge's plaintext.
const EXPIRY_LEN: usize = 8;

/// The active node's stateless join challenges.
///
/// Nothing is stored per challenge: the nonce of a challenge is derived with HKDF-SHA256 from
/// a random per-process secret, the joiner's `server_id` and the challenge's expiry, and the
/// expiry travels inside the challenge's plaintext (`expiry || nonce`, encrypted and
/// authenticated under the root key). The joiner's answer is that plaintext; the active node
/// re-derives the nonce from the expiry it carries and compares in constant time. Forging an
/// answer needs the secret (for another expiry) or the root key (to read the plaintext), so
/// memory stays constant whatever the unauthenticated endpoint is sent.
///
/// Answers are *time-bounded*, not single use: an answer is accepted until its challenge
/// expires ([`CHALLENGE_TTL`] after issue) or this process ends. Replaying it within that
/// window admits the same `server_id` again, which only a node that could answer anyway (it
/// holds the root key) can produce.
pub(crate) struct ChallengeKeys {
    secret: Key32,
    /// Expiries count milliseconds from here (monotonic; the secret lives no longer).
    epoch: Instant,
}

impl Default for ChallengeKeys {
    fn default() -> Self {
        ChallengeKeys {
            secret: Key32::generate(),
            epoch: Instant::now(),
        }
    }
}

impl ChallengeKeys {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn nonce(&self, server_id: &str, expiry: u64) -> Result<Zeroizing<[u8; NONCE_LEN]>, CoreError> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, self.secret.as_bytes());
        let mut info = Vec::with_capacity(32 + EXPIRY_LEN + server_id.len());
        info.extend_from_slice(b"tresor/join/nonce/");
        info.extend_from_slice(&expiry.to_be_bytes());
        info.extend_from_slice(server_id.as_bytes());
        let mut out = Zeroizing::new([0u8; NONCE_LEN]);
        hk.expand(&info, &mut out[..])
            .map_err(|e| CoreError::Internal(format!("deriving join nonce: {e}")))?;
        Ok(out)
    }

    /// The plaintext of a challenge for `server_id` issued at `now`: `expiry || nonce`.
    pub(crate) fn issue(
        &self,
        server_id: &str,
        now: Instant,
    ) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        let expiry = self
            .millis(now)
            .saturating_add(u64::try_from(CHALLENGE_TTL.as_millis()).unwrap_or(u64::MAX));
        let nonce = self.nonce(server_id, expiry)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(EXPIRY_LEN + NONCE_LEN));
        plain.extend_from_slice(&expiry.to_be_bytes());
        plain.extend_from_slice(&nonce[..]);
        Ok(plain)
    }

    /// Whether `answer` (base64 of a challenge's plaintext) answers an unexpired challenge
    /// this process issued to `server_id`.
    pub(crate) fn check(&self, server_id: &str, answer: &str, now: Instant) -> bool {
        let Ok(given) = STANDARD.decode(answer).map(Zeroizing::new) else {
            return false;
        };
        if given.len() != EXPIRY_LEN + NONCE_LEN {
            return false;
        }
        let (stamp, nonce) = given.split_at(EXPIRY_LEN);
        let mut raw = [0u8; EXPIRY_LEN];
        raw.copy_from_slice(stamp);
        let expiry = u64::from_be_bytes(raw);
        if self.millis(now) >= expiry {
            return false;
        }
        match self.nonce(server_id, expiry) {
            Ok(expected) => ct_eq(&expected[..], nonce),
            Err(_) => false,
        }
    }
}

/// A join in progress on this (joining) node: the challenge it holds until unsealed.
#[derive(Clone, Debug)]
pub(crate) struct PendingJoin {
    pub(crate) server_id: String,
    pub(crate) challenge: JoinChallenge,
}

impl Core {
    /// Active node: issues a seal challenge to joining node `server_id`.
    pub async fn join_challenge(&self, server_id: &str) -> Result<JoinChallenge, CoreError> {
        check_server_id(server_id)?;
        self.require_active()?;
        let root = self.barrier.root_key().map_err(|_| CoreError::Sealed)?;
        let seal_config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
        let copies = match self.physical.get(ROOT_KEY_PATH).await? {
            Some(b) => WrappedKey::list_from_json(&b)
                .map_err(|e| CoreError::Internal(format!("corrupt root key entry: {e}")))?,
            None => return Err(CoreError::Internal("root key missing from storage".into())),
        };
        let wrapped = copies
            .first()
            .cloned()
            .ok_or_else(|| CoreError::Internal("root key missing from storage".into()))?;
        let root_keys = if crate::recovery::uses_recovery_keys(&seal_config) {
            copies
        } else {
            Vec::new()
        };
        let keyring = self
            .physical
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| CoreError::Internal("keyring missing from storage".into()))?;
        let plain = self.challenges.issue(server_id, Instant::now())?;
        let challenge = seal_challenge(&root, server_id, &plain)?;
        Ok(JoinChallenge {
            challenge,
            seal_config,
            root_key: wrapped,
            root_keys,
            keyring: STANDARD.encode(keyring),
        })
    }

    /// Active node: checks a joiner's answer and admits it (certificate, Raft membership).
    /// Returns `{"identity": <sealed node identity>, "peers": [{"node_id", "cluster_addr"}...]}`.
    pub async fn join_answer(&self, node: JoinAdmission, answer: &str) -> Result<Value, CoreError> {
        check_server_id(&node.server_id)?;
        self.require_active()?;
        if !self
            .challenges
            .check(&node.server_id, answer, Instant::now())
        {
            return Err(CoreError::PermissionDenied);
        }
        let root = self.barrier.root_key().map_err(|_| CoreError::Sealed)?;
        let server_id = node.server_id.clone();
        let admitted = self.ha.membership.admit(self, node).await?;
        let identity = seal_identity(&root, &server_id, &admitted.identity)?;
        Ok(json!({ "identity": identity, "peers": admitted.peers }))
    }

    /// Joining node: keeps `challenge` until the operator unseals with the cluster's keys.
    ///
    /// With an auto seal the challenge must come from a cluster using auto seals, and this
    /// node's seal must unwrap the cluster's root key (checked now: a seal holding another key
    /// is refused; a seal that is merely unreachable is retried); the auto-unseal task then
    /// completes the join without an operator.
    pub async fn set_pending_join(
        &self,
        server_id: &str,
        challenge: JoinChallenge,
    ) -> Result<(), CoreError> {
        let _guard = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(CoreError::invalid(
                "node is already initialized; a member of a cluster cannot join another",
            ));
        }
        self.check_join_seal(&challenge).await?;
        *lock(&self.pending_join) = Some(PendingJoin {
            server_id: server_id.to_owned(),
            challenge,
        });
        *lock(&self.unseal_progress) = None;
        // No wake-up here: the cluster layer records its join client right after this returns,
        // and the auto-unseal task's next poll (within a second) finds the challenge.
        Ok(())
    }

    /// Refuses a join whose seal this node cannot work with.
    async fn check_join_seal(&self, challenge: &JoinChallenge) -> Result<(), CoreError> {
        let cluster_seal = &challenge.seal_config.seal_type;
        let cluster_auto = crate::recovery::uses_recovery_keys(&challenge.seal_config);
        match (&self.seals, cluster_auto) {
            (None, false) => Ok(()),
            (None, true) => Err(CoreError::invalid(format!(
                "join refused: the cluster uses the {cluster_seal} seal; configure the same \
                 seal on this node"
            ))),
            (Some(seals), false) => Err(CoreError::invalid(format!(
                "join refused: the cluster uses the shamir seal but this node is configured \
                 with the {} seal",
                seals.seal_type()
            ))),
            (Some(seals), true) => match seals.unwrap_any(&challenge.wrapped_root_keys()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(
                        "join challenge accepted but this node's seal is unavailable ({e}); \
                         the join completes when the seal answers"
                    );
                    Ok(())
                }
                Err(e) => Err(CoreError::invalid(format!(
                    "join refused: this node's seal cannot unwrap the cluster's root key: {e}"
                ))),
            },
        }
    }

    /// Reads `core/cluster-tls/<name>` (cluster certificates) from the unsealed barrier.
    pub async fn cluster_tls_get(&self, name: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self
            .barrier
            .get(&format!("{CLUSTER_TLS_PREFIX}{name}"))
            .await?)
    }

    /// Writes `core/cluster-tls/<name>` into the barrier (active node only).
    pub async fn cluster_tls_put(&self, name: &str, value: Vec<u8>) -> Result<(), CoreError> {
        self.require_active()?;
        Ok(self
            .barrier
            .put(&format!("{CLUSTER_TLS_PREFIX}{name}"), value)
            .await?)
    }

    /// Reads `core/cluster-tls/<name>`, or, when it is absent, stores what `create` makes and
    /// returns that (active node only). Calls on one node are serialized, so two callers that
    /// both find the entry missing (the activation task and a join admitted at the same moment)
    /// never store two different values: the second one finds the first one's. Returns the
    /// stored bytes and whether this call created them.
    pub async fn cluster_tls_get_or_create<F>(
        &self,
        name: &str,
        create: F,
    ) -> Result<(Vec<u8>, bool), CoreError>
    where
        F: FnOnce() -> Result<Vec<u8>, CoreError> + Send,
    {
        let _guard = self.cluster_tls.lock().await;
        if let Some(existing) = self.cluster_tls_get(name).await? {
            return Ok((existing, false));
        }
        self.require_active()?;
        let value = create()?;
        self.cluster_tls_put(name, value.clone()).await?;
        Ok((value, true))
    }

    /// Whether this node holds a join challenge and waits for its unseal keys.
    pub fn has_pending_join(&self) -> bool {
        lock(&self.pending_join).is_some()
    }

    /// Joiner: with the rebuilt key-encryption key, unwraps the cluster's root key and
    /// completes the join ([`Core::finish_join_with_root`]).
    pub(crate) async fn finish_join(
        &self,
        join: &PendingJoin,
        kek: &Key32,
    ) -> Result<Key32, CoreError> {
        let root = unwrap_with(kek, &join.challenge.root_key).await?;
        self.finish_join_with_root(join, root).await
    }

    /// Joiner: with the cluster's root key (rebuilt from unseal keys, or unwrapped by this
    /// node's auto seal), answers the challenge, installs the node identity and waits until
    /// the cluster's data has replicated here. Returns the root key.
    pub(crate) async fn finish_join_with_root(
        &self,
        join: &PendingJoin,
        root: Key32,
    ) -> Result<Key32, CoreError> {
        let answer = open_challenge(&root, &join.server_id, &join.challenge.challenge)?;
        let sealed_identity = self.ha.membership.complete_join(answer).await?;
        let identity = open_identity(&root, &join.server_id, &sealed_identity)?;
        self.ha.membership.install_joined_identity(identity).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.replicated().await? {
                return Ok(root);
            }
            if Instant::now() >= deadline {
                return Err(CoreError::Storage(
                    tresor_storage::StorageError::Unavailable(
                        "joined, but the cluster's data did not replicate within 60s; unseal again"
                            .into(),
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn replicated(&self) -> Result<bool, CoreError> {
        for key in [
            crate::core::SEAL_CONFIG_PATH,
            ROOT_KEY_PATH,
            KEYRING_PATH,
            crate::active::CLUSTER_PATH,
        ] {
            if self.physical.get(key).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Unwraps a seal-wrapped root key with a candidate key-encryption key.
pub(crate) async fn unwrap_with(kek: &Key32, wrapped: &WrappedKey) -> Result<Key32, CoreError> {
    use tresor_seal::Seal;
    let probe = tresor_seal::ShamirSeal::new();
    probe.set_kek(kek.clone());
    let raw = probe
        .unwrap(wrapped)
        .await
        .map_err(|_| CoreError::invalid("unseal failed, invalid key"))?;
    Key32::from_slice(&raw).map_err(|e| CoreError::Internal(format!("root key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_crypto::random_bytes;

    #[test]
    fn challenge_opens_only_with_the_same_root_key_and_server() {
        let root = Key32::generate();
        let nonce = random_bytes(NONCE_LEN);
        let c = seal_challenge(&root, "n2", &nonce).unwrap();
        assert_eq!(
            open_challenge(&root, "n2", &c).unwrap(),
            STANDARD.encode(&nonce)
        );
        assert!(open_challenge(&Key32::generate(), "n2", &c).is_err());
        assert!(open_challenge(&root, "n3", &c).is_err());
        assert!(open_challenge(&root, "n2", "not base64!").is_err());
    }

    #[test]
    fn identity_round_trips_under_the_root_key() {
        let root = Key32::generate();
        let sealed = seal_identity(&root, "n2", b"secret identity").unwrap();
        assert_eq!(
            &*open_identity(&root, "n2", &sealed).unwrap(),
            b"secret identity"
        );
        assert!(open_identity(&Key32::generate(), "n2", &sealed).is_err());
    }

    /// Issues a challenge for `id` at `t` and opens it as a joiner holding `root` would.
    fn answer_for(keys: &ChallengeKeys, root: &Key32, id: &str, t: Instant) -> String {
        let plain = keys.issue(id, t).unwrap();
        let sealed = seal_challenge(root, id, &plain).unwrap();
        open_challenge(root, id, &sealed).unwrap()
    }

    #[test]
    fn a_challenge_answer_is_accepted_until_it_expires() {
        let keys = ChallengeKeys::default();
        let root = Key32::generate();
        let t0 = Instant::now();
        let answer = answer_for(&keys, &root, "n2", t0);
        assert!(keys.check("n2", &answer, t0));
        assert!(keys.check("n2", &answer, t0 + CHALLENGE_TTL - Duration::from_millis(1)));
        assert!(!keys.check("n2", &answer, t0 + CHALLENGE_TTL), "expired");
    }

    #[test]
    fn a_challenge_answer_is_refused_for_another_server_id_or_process() {
        let keys = ChallengeKeys::default();
        let root = Key32::generate();
        let t0 = Instant::now();
        let answer = answer_for(&keys, &root, "n2", t0);
        assert!(!keys.check("n3", &answer, t0));
        assert!(
            !ChallengeKeys::default().check("n2", &answer, t0),
            "other secret"
        );
    }

    #[test]
    fn a_tampered_challenge_answer_is_refused() {
        let keys = ChallengeKeys::default();
        let root = Key32::generate();
        let t0 = Instant::now();
        let answer = answer_for(&keys, &root, "n2", t0);
        let raw = STANDARD.decode(&answer).unwrap();
        // Every flipped bit is refused: in the expiry (extending it) and in the nonce.
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            assert!(!keys.check("n2", &STANDARD.encode(&bad), t0), "byte {i}");
        }
        // A later expiry with the old nonce is refused too.
        let mut later = raw.clone();
        later[..EXPIRY_LEN].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(!keys.check("n2", &STANDARD.encode(&later), t0));
        assert!(!keys.check("n2", &STANDARD.encode(&raw[..EXPIRY_LEN + 1]), t0));
        assert!(!keys.check("n2", "", t0));
        assert!(!keys.check("n2", "not base64!", t0));
        // The sealed challenge itself is authenticated: a flipped byte does not open.
        let sealed = seal_challenge(&root, "n2", &keys.issue("n2", t0).unwrap()).unwrap();
        let mut blob = STANDARD.decode(&sealed).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(open_challenge(&root, "n2", &STANDARD.encode(&blob)).is_err());
    }

    #[test]
    fn server_ids_are_bounded() {
        assert!(check_server_id("n2").is_ok());
        assert!(check_server_id(&"a".repeat(MAX_SERVER_ID_LEN)).is_ok());
        let err = check_server_id(&"a".repeat(MAX_SERVER_ID_LEN + 1)).unwrap_err();
        assert!(matches!(err, CoreError::InvalidRequest(ref m) if m.contains("too long")));
        assert!(matches!(
            check_server_id(""),
            Err(CoreError::InvalidRequest(_))
        ));
    }
}
