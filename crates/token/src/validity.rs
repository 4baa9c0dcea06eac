//! Whether a stored token may be used: pure rules over a token and its ancestors.
//!
//! A token is usable when it has not expired, its revocation has not started, and every
//! ancestor up to an orphan exists, has not expired and is not being revoked. Revoking a
//! parent revokes its children, so a child of a revoked or expired parent is refused even
//! when the revocation has not reached it yet (or a crash left it behind).
//!
//! The ancestor chain is walked at most [`MAX_DEPTH`] levels; the store refuses to create a
//! token deeper than that, so the cost of checking a token is bounded.

use crate::entry::TokenEntry;
use crate::error::TokenError;

/// The most ancestors a token may have. Creating a child of a token that already has this
/// many is refused, and a token whose chain is longer is unusable.
pub const MAX_DEPTH: usize = 64;

/// Why a stored token may not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The token itself has expired.
    Expired,
    /// The token's revocation has started.
    Revoking,
    /// An ancestor is missing: it was revoked and this token was left behind.
    AncestorMissing,
    /// An ancestor has expired (its revocation takes this token with it).
    AncestorExpired,
    /// An ancestor's revocation has started.
    AncestorRevoking,
    /// The ancestor chain is longer than [`MAX_DEPTH`].
    TooDeep,
}

impl Unusable {
    /// Whether revoking the token itself (with its children) is the right reaction, rather
    /// than leaving it to the revocation of an ancestor that is already due.
    pub fn revoke_self(self) -> bool {
        matches!(
            self,
            Unusable::Expired | Unusable::Revoking | Unusable::AncestorMissing
        )
    }
}

/// The token's own state at `now`, ignoring its ancestors.
pub fn own_state(entry: &TokenEntry, now: u64) -> Result<(), Unusable> {
    if entry.revoking {
        Err(Unusable::Revoking)
    } else if entry.is_expired(now) {
        Err(Unusable::Expired)
    } else {
        Ok(())
    }
}

/// One step of the ancestor walk: `ancestor` is the loaded record of the `depth`-th ancestor
/// (1 = the parent), `None` when it is missing. Returns the hash of the next ancestor to load,
/// `None` once an orphan is reached.
pub fn ancestor_step(
    ancestor: Option<&TokenEntry>,
    depth: usize,
    now: u64,
) -> Result<Option<&str>, Unusable> {
    if depth > MAX_DEPTH {
        return Err(Unusable::TooDeep);
    }
    let a = ancestor.ok_or(Unusable::AncestorMissing)?;
    own_state(a, now).map_err(|e| match e {
        Unusable::Revoking => Unusable::AncestorRevoking,
        _ => Unusable::AncestorExpired,
    })?;
    Ok(a.parent.as_deref())
}

/// Whether a usable token with `ancestors` ancestors may create tokens: not when it has a use
/// limit (a child would escape the count), and a child would not exceed [`MAX_DEPTH`] when
/// `attach` makes it this token's child.
pub fn may_create(creator: &TokenEntry, ancestors: usize, attach: bool) -> Result<(), TokenError> {
    if creator.num_uses > 0 {
        return Err(TokenError::invalid(
            "restricted use token cannot generate child tokens",
        ));
    }
    if attach && ancestors >= MAX_DEPTH {
        return Err(TokenError::invalid(format!(
            "token tree too deep: a token may have at most {MAX_DEPTH} ancestors"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(parent: Option<&str>, expire: Option<u64>, revoking: bool) -> TokenEntry {
        TokenEntry {
            parent: parent.map(str::to_owned),
            expire_time: expire,
            revoking,
            ..TokenEntry::default()
        }
    }

    #[test]
    fn own_state_refuses_expired_and_revoking() {
        assert_eq!(own_state(&token(None, None, false), 10), Ok(()));
        assert_eq!(own_state(&token(None, Some(11), false), 10), Ok(()));
        assert_eq!(
            own_state(&token(None, Some(10), false), 10),
            Err(Unusable::Expired)
        );
        assert_eq!(
            own_state(&token(None, None, true), 10),
            Err(Unusable::Revoking)
        );
    }

    #[test]
    fn ancestor_steps() {
        let live = token(Some("gp"), Some(100), false);
        assert_eq!(ancestor_step(Some(&live), 1, 50), Ok(Some("gp")));
        let orphan = token(None, None, false);
        assert_eq!(ancestor_step(Some(&orphan), 1, 50), Ok(None));
        assert_eq!(ancestor_step(None, 1, 50), Err(Unusable::AncestorMissing));
        assert_eq!(
            ancestor_step(Some(&live), 1, 100),
            Err(Unusable::AncestorExpired)
        );
        let revoking = token(None, None, true);
        assert_eq!(
            ancestor_step(Some(&revoking), 2, 0),
            Err(Unusable::AncestorRevoking)
        );
        assert_eq!(
            ancestor_step(Some(&orphan), MAX_DEPTH, 0),
            Ok(None),
            "the deepest allowed ancestor is still checked normally"
        );
        assert_eq!(
            ancestor_step(Some(&orphan), MAX_DEPTH + 1, 0),
            Err(Unusable::TooDeep)
        );
    }

    #[test]
    fn which_refusals_revoke_the_token_itself() {
        assert!(Unusable::Expired.revoke_self());
        assert!(Unusable::Revoking.revoke_self());
        assert!(Unusable::AncestorMissing.revoke_self());
        assert!(!Unusable::AncestorExpired.revoke_self());
        assert!(!Unusable::AncestorRevoking.revoke_self());
        assert!(!Unusable::TooDeep.revoke_self());
    }

    #[test]
    fn use_limited_tokens_cannot_create_tokens() {
        let limited = TokenEntry {
            num_uses: 3,
            ..TokenEntry::default()
        };
        for attach in [true, false] {
            match may_create(&limited, 0, attach) {
                Err(TokenError::InvalidRequest(m)) => {
                    assert_eq!(m, "restricted use token cannot generate child tokens");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let unlimited = TokenEntry::default();
        assert!(may_create(&unlimited, MAX_DEPTH - 1, true).is_ok());
        assert!(may_create(&unlimited, MAX_DEPTH, true).is_err());
        assert!(
            may_create(&unlimited, MAX_DEPTH, false).is_ok(),
            "orphans start a new tree"
        );
    }
}
