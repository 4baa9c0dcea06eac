//! Loading PKCS#11 modules once per process.
//!
//! A PKCS#11 library keeps process-wide state (`C_Initialize` / `C_Finalize`, the login state
//! of each token), so every seal using the same library path shares one loaded module. Modules
//! are never finalized: another seal (an old and a new seal during a migration, or two seal-HA
//! stanzas on one HSM) may still be using it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CryptokiError, RvError};

use crate::error::Pkcs11Error;

static MODULES: Mutex<BTreeMap<PathBuf, Pkcs11>> = Mutex::new(BTreeMap::new());

/// The module at `lib`, loaded on first use.
pub(crate) fn load(lib: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.get(lib) {
        return Ok(module.clone());
    }
    let module = Pkcs11::new(lib).map_err(|e| Pkcs11Error::Library {
        lib: lib.display().to_string(),
        reason: e.to_string(),
    })?;
    initialize(&module, lib)?;
    modules.insert(lib.to_owned(), module.clone());
    Ok(module)
}

/// Calls `C_Initialize` (with OS locking, as the seal calls the module from several threads);
/// a module that is already initialized is fine.
pub(crate) fn initialize(module: &Pkcs11, lib: &Path) -> Result<(), Pkcs11Error> {
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(Pkcs11Error::Library {
            lib: lib.display().to_string(),
            reason: format!(
                "C_Initialize failed: {}",
                match e {
                    CryptokiError::Pkcs11(rv, _) => crate::error::rv_name(rv),
                    other => other.to_string(),
                }
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let err = load(Path::new("/nonexistent/libnothing-pkcs11.so")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/libnothing-pkcs11.so"), "{text}");
        assert!(matches!(err, Pkcs11Error::Library { .. }));
    }
}
