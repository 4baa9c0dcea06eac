//! Collecting key shares under a nonce until the threshold is reached.

use tresor_crypto::ct_eq;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::CeremonyError;

/// Which operation a collector serves; only changes the wording of errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyKind {
    /// `sys/unseal`.
    Unseal,
    /// `sys/generate-root`.
    GenerateRoot,
    /// `sys/rekey` (and recovery-key rekey).
    Rekey,
    /// `sys/rekey/verify`.
    RekeyVerify,
}

impl CeremonyKind {
    fn operation(self) -> &'static str {
        match self {
            CeremonyKind::Unseal => "unseal",
            CeremonyKind::GenerateRoot => "generation",
            CeremonyKind::Rekey => "rekey",
            CeremonyKind::RekeyVerify => "verification",
        }
    }
}

/// How far an operation has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Shares collected so far.
    pub progress: usize,
    /// Shares needed.
    pub required: usize,
}

impl Progress {
    /// Whether enough shares have been collected.
    pub fn is_complete(&self) -> bool {
        self.progress >= self.required
    }
}

/// Collects distinct key shares for one operation, identified by a random nonce. Shares are
/// zeroized when taken out, reset or dropped, and `Debug` never shows them.
pub struct ShareCollector {
    kind: CeremonyKind,
    nonce: String,
    threshold: usize,
    shares: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for ShareCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareCollector")
            .field("kind", &self.kind)
            .field("nonce", &self.nonce)
            .field("threshold", &self.threshold)
            .field("progress", &self.shares.len())
            .finish()
    }
}

impl ShareCollector {
    /// A collector for a generate-root style operation needing `threshold` shares (a
    /// threshold of zero is treated as one: a ceremony always needs a share).
    pub fn new(threshold: usize) -> Self {
        Self::with_kind(CeremonyKind::GenerateRoot, threshold)
    }

    /// A collector for `kind` needing `threshold` shares (at least one), with a fresh random
    /// (UUID) nonce.
    pub fn with_kind(kind: CeremonyKind, threshold: usize) -> Self {
        ShareCollector {
            kind,
            nonce: Uuid::new_v4().to_string(),
            threshold: threshold.max(1),
            shares: Vec::new(),
        }
    }

    /// Adds a share. `nonce`, when given, must be this operation's nonce (unseal sends none).
    /// A share equal to one already given is refused and does not count.
    pub fn add(&mut self, share: &[u8], nonce: Option<&str>) -> Result<Progress, CeremonyError> {
        if let Some(given) = nonce
            && !ct_eq(given.as_bytes(), self.nonce.as_bytes())
        {
            return Err(CeremonyError::NonceMismatch);
        }
        if share.is_empty() {
            return Err(CeremonyError::EmptyShare);
        }
        if self.is_complete() {
            return Err(CeremonyError::AlreadyComplete);
        }
        // Check every stored share without stopping early, so timing says nothing about which.
        let duplicate = self
            .shares
            .iter()
            .fold(false, |seen, s| seen | ct_eq(s, share));
        if duplicate {
            return Err(CeremonyError::DuplicateShare {
                operation: self.kind.operation(),
            });
        }
        self.shares.push(Zeroizing::new(share.to_vec()));
        Ok(self.status())
    }

    /// Number of shares collected so far.
    pub fn progress(&self) -> usize {
        self.shares.len()
    }

    /// Shares collected and shares needed, together.
    pub fn status(&self) -> Progress {
        Progress {
            progress: self.shares.len(),
            required: self.threshold,
        }
    }

    /// Whether the threshold has been reached.
    pub fn is_complete(&self) -> bool {
        self.status().is_complete()
    }

    /// This operation's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Shares needed.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The operation this collector serves.
    pub fn kind(&self) -> CeremonyKind {
        self.kind
    }

    /// Removes and returns the collected shares (progress drops to zero; the nonce stays, so
    /// a failed combine can be reported against the same operation).
    pub fn take_shares(&mut self) -> Vec<Zeroizing<Vec<u8>>> {
        std::mem::take(&mut self.shares)
    }

    /// Discards every collected share and starts over with a new nonce.
    pub fn reset(&mut self) {
        self.shares.clear();
        self.nonce = Uuid::new_v4().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_until_threshold() {
        let mut c = ShareCollector::with_kind(CeremonyKind::Unseal, 3);
        assert_eq!(
            c.status(),
            Progress {
                progress: 0,
                required: 3
            }
        );
        assert_eq!(c.add(b"a", None).unwrap().progress, 1);
        assert!(!c.is_complete());
        let nonce = c.nonce().to_owned();
        assert_eq!(c.add(b"b", Some(&nonce)).unwrap().progress, 2);
        let p = c.add(b"c", None).unwrap();
        assert!(p.is_complete());
        assert!(c.is_complete());
        assert_eq!(c.add(b"d", None), Err(CeremonyError::AlreadyComplete));
        let shares = c.take_shares();
        assert_eq!(
            shares.iter().map(|s| s.as_slice()).collect::<Vec<_>>(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert_eq!(c.progress(), 0);
        assert_eq!(c.nonce(), nonce);
    }

    #[test]
    fn duplicates_and_wrong_nonces_do_not_count() {
        let mut c = ShareCollector::new(2);
        c.add(b"share", None).unwrap();
        let err = c.add(b"share", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "given key has already been provided during this generation operation"
        );
        assert_eq!(
            c.add(b"other", Some("not-the-nonce")),
            Err(CeremonyError::NonceMismatch)
        );
        assert_eq!(c.add(b"", None), Err(CeremonyError::EmptyShare));
        assert_eq!(c.progress(), 1);
        let mut r = ShareCollector::with_kind(CeremonyKind::Rekey, 2);
        r.add(b"x", None).unwrap();
        assert!(
            r.add(b"x", None)
                .unwrap_err()
                .to_string()
                .contains("rekey operation")
        );
    }

    #[test]
    fn reset_clears_and_renews_nonce() {
        let mut c = ShareCollector::new(2);
        let first = c.nonce().to_owned();
        assert_eq!(first.len(), 36, "a UUID");
        c.add(b"a", None).unwrap();
        c.reset();
        assert_eq!(c.progress(), 0);
        assert_ne!(c.nonce(), first);
        assert_eq!(
            c.add(b"a", None).unwrap().progress,
            1,
            "a share may be given again after reset"
        );
        let mut zero = ShareCollector::new(0);
        assert_eq!(zero.threshold(), 1);
        assert!(!zero.is_complete(), "a ceremony always needs a share");
        assert!(zero.add(b"a", None).unwrap().is_complete());
    }

    #[test]
    fn debug_hides_shares() {
        let mut c = ShareCollector::new(2);
        c.add(b"supersecretshare", None).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"));
        assert!(!shown.contains("115, 117"), "no raw bytes: {shown}");
        assert!(shown.contains("progress: 1"));
    }
}
