//! The authenticate stage: the client token, checked by the token store.

use tresor_policy::Capability;
use tresor_token::TokenEntry;

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

impl Core {
    /// The live token presented by the client; consumes one of its uses. A token store fault
    /// keeps its kind (a retriable storage error stays retriable). The client address is not
    /// known here: a token bound to CIDR blocks is refused ([`Core::authenticate_from`]).
    pub(crate) async fn authenticate(
        &self,
        active: &Active,
        token: Option<&str>,
    ) -> Result<TokenEntry, CoreError> {
        self.authenticate_from(active, token, None).await
    }

    /// [`Core::authenticate`] for a request from `remote`: a token bound to CIDR blocks
    /// (`token_bound_cidrs`) is refused from any address outside them. Batch tokens are opened
    /// and checked by the store like service tokens.
    pub(crate) async fn authenticate_from(
        &self,
        active: &Active,
        token: Option<&str>,
        remote: Option<std::net::IpAddr>,
    ) -> Result<TokenEntry, CoreError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(CoreError::PermissionDenied)?;
        active
            .tokens
            .authorize_from(token, remote)
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
