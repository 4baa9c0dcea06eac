//! Keeping secrets out of swap.

use crate::CryptoError;

/// Locks every current and future page of the process into RAM (`mlockall` with
/// `MCL_CURRENT | MCL_FUTURE`), so key material is never written to swap. Needs
/// `CAP_IPC_LOCK` or a sufficient `RLIMIT_MEMLOCK`; the server calls it once at start-up unless
/// the operator set `disable_mlock`.
pub fn lock_memory() -> Result<(), CryptoError> {
    // SAFETY: mlockall takes two integer flags, touches no memory owned by Rust and has no
    // preconditions; its only effects are on the process's paging, reported through the
    // return value and errno.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(CryptoError::MemoryLock(
            std::io::Error::last_os_error().to_string(),
        ))
    }
}
