//! The keys batch tokens are sealed with: derived from the barrier keyring, per term, so every
//! node sharing the keyring opens them, and a rotation keeps older tokens valid while the
//! keyring holds their term.

use std::sync::Arc;

use tresor_barrier::Barrier;
use tresor_crypto::Key32;
use tresor_token::{BatchKeys, TokenError};

/// The purpose label batch token keys are derived under.
const PURPOSE: &str = "token/batch";

/// [`BatchKeys`] over the barrier keyring.
#[derive(Debug)]
pub(crate) struct BarrierBatchKeys(pub(crate) Arc<Barrier>);

impl BatchKeys for BarrierBatchKeys {
    fn active(&self) -> Result<(u32, Key32), TokenError> {
        self.0
            .derived_key(PURPOSE)
            .map_err(|e| TokenError::Keys(e.to_string()))
    }

    fn key(&self, term: u32) -> Option<Key32> {
        self.0.derived_key_for_term(PURPOSE, term).ok()
    }
}
