//! The authenticate stage: the client token, checked by the token store.

use tresor_policy::Capability;
use tresor_token::TokenEntry;

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

impl Core {
    /// The live token presented by the client; consumes one of its uses. A token store fault
    /// keeps its kind (a retriable storage error stays retriable).
    pub(crate) async fn authenticate(
        &self,
        active: &Active,
        token: Option<&str>,
    ) -> Result<TokenEntry, CoreError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(CoreError::PermissionDenied)?;
        active
            .tokens
            .authorize(token)
            .await
            .map_err(|e| CoreError::from(tresor_sdk::LogicalError::from(e)))?
            .ok_or(CoreError::PermissionDenied)
    }

    /// Checks that `token` may perform `cap` on `path` with sudo (for the raw sys endpoints
    /// such as `sys/seal` and `sys/step-down`).
    pub async fn check_sudo(
        &self,
        token: Option<&str>,
        path: &str,
        cap: Capability,
    ) -> Result<(), CoreError> {
        let active = self.active()?;
        let entry = self.authenticate(&active, token).await?;
        let acl = active.policies.acl(&entry.policies).await?;
        let check = acl.check(path, cap);
        if check.allowed && check.sudo {
            Ok(())
        } else {
            Err(CoreError::PermissionDenied)
        }
    }
}
