//! The count of encryptions under the active term, persisted so that a restart or a change
//! of active node does not reset it (automatic rotation by use relies on it).
//!
//! The count lives in memory ([`Barrier`]'s unsealed state) and is written to
//! [`KEY_USAGE_PATH`] (through the barrier, so encrypted and replicated) by
//! [`Barrier::persist_key_usage`], which the core calls in batches: when
//! [`Barrier::unpersisted_encryptions`] reaches its batch size, every few seconds, after a
//! rotation and before sealing. After a crash the count can therefore be behind by at most
//! what was encrypted since the last write. [`Barrier::load_key_usage`] raises the
//! in-memory count to the stored one (after unseal, and when a node becomes active).

use std::sync::atomic::Ordering;

use tresor_storage::Backend;

use crate::{Barrier, BarrierError};

/// Where the active term's encryption count is stored (through the barrier).
pub const KEY_USAGE_PATH: &str = "core/key-usage";
/// Format version of the stored count.
const VERSION: u8 = 1;

/// `version || term (u32 BE) || count (u64 BE)`.
fn encode(term: u32, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(13);
    out.push(VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<(u32, u64)> {
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.len() != 12 {
        return None;
    }
    let (term, count) = rest.split_at(4);
    Some((
        u32::from_be_bytes(term.try_into().ok()?),
        u64::from_be_bytes(count.try_into().ok()?),
    ))
}

impl Barrier {
    /// Encryptions under the active term not yet persisted.
    pub fn unpersisted_encryptions(&self) -> Result<u64, BarrierError> {
        let state = self.unsealed()?;
        Ok(state
            .encryptions
            .load(Ordering::Relaxed)
            .saturating_sub(state.persisted.load(Ordering::Relaxed)))
    }

    /// Raises the in-memory count of the active term to the stored one (if it was stored for
    /// the active term) and returns the count.
    pub async fn load_key_usage(&self) -> Result<u64, BarrierError> {
        let state = self.unsealed()?;
        if let Some(bytes) = Backend::get(self, KEY_USAGE_PATH).await?
            && let Some((term, count)) = decode(&bytes)
            && term == state.keyring.active_term()
        {
            state.encryptions.fetch_max(count, Ordering::Relaxed);
            state.persisted.fetch_max(count, Ordering::Relaxed);
        }
        Ok(state.encryptions.load(Ordering::Relaxed))
    }

    /// Stores the active term's count (including this write's own encryption) and returns it.
    pub async fn persist_key_usage(&self) -> Result<u64, BarrierError> {
        let state = self.unsealed()?;
        let term = state.keyring.active_term();
        let count = state.encryptions.load(Ordering::Relaxed).saturating_add(1);
        Backend::put(self, KEY_USAGE_PATH, encode(term, count)).await?;
        state.persisted.fetch_max(count, Ordering::Relaxed);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_round_trips_and_refuses_junk() {
        assert_eq!(decode(&encode(7, 123_456)), Some((7, 123_456)));
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&encode(7, 1)[..12]), None);
        let mut other = encode(7, 1);
        other[0] = 9;
        assert_eq!(decode(&other), None);
    }
}
