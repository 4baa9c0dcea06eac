//! The logical request pipeline: authenticate, route, authorize, dispatch.

use std::sync::Arc;

use serde_json::{Map, Value};
use tresor_policy::Capability;
use tresor_sdk::{Auth, LogicalBackend, MountInfo, Operation, Request, Response};
use tresor_storage::View;

use tresor_token::TokenEntry;

use crate::active::Active;
use crate::core::Core;
use crate::envelope::{response_from_envelope, wrap_info_response};
use crate::error::CoreError;
use crate::system;
use crate::wrapping::{self, Reply};

/// The HTTP method of a logical request (mapped to an [`Operation`] by the core, because
/// PUT/POST become `create` or `update` depending on whether the target exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// LIST (or GET with `list=true`).
    List,
    /// PUT or POST.
    Write,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

/// A logical request as the http layer hands it over.
#[derive(Clone, Debug)]
pub struct CoreRequest {
    /// The method.
    pub method: Method,
    /// The path after `/v1/`.
    pub path: String,
    /// JSON body, or query parameters for GET/LIST/DELETE.
    pub data: Map<String, Value>,
    /// The client token (`X-Vault-Token` or `Authorization: Bearer`).
    pub token: Option<String>,
}

/// Where a path goes.
pub(crate) enum Target {
    /// The built-in `sys/` backend.
    System,
    /// A mounted backend.
    Backend {
        backend: Arc<dyn LogicalBackend>,
        mount: MountInfo,
        view: View,
    },
}

/// Whether `path` matches a root-path pattern (`*` suffix = prefix match).
pub(crate) fn matches_pattern(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

impl Active {
    /// Resolves a request path to its target and the path relative to it.
    pub(crate) fn route(&self, path: &str) -> Result<(Target, String), CoreError> {
        if let Some(rest) = path.strip_prefix("sys/") {
            return Ok((Target::System, rest.to_owned()));
        }
        if path == "sys" {
            return Ok((Target::System, String::new()));
        }
        if let Some(rest) = path.strip_prefix("auth/") {
            let table = self.auth_snapshot();
            let (entry, rel) = table.route(rest).ok_or(CoreError::UnsupportedPath)?;
            if entry.kind == "token" {
                let mut mount = self.mount_info(entry);
                mount.path = format!("auth/{}", entry.path);
                return Ok((
                    Target::Backend {
                        backend: self.token_backend.clone(),
                        view: View::new(self.barrier.clone(), format!("auth/{}/", entry.uuid)),
                        mount,
                    },
                    rel.to_owned(),
                ));
            }
            return Err(CoreError::UnsupportedPath);
        }
        let table = self.mounts_snapshot();
        let (entry, rel) = table.route(path).ok_or(CoreError::UnsupportedPath)?;
        let backend = self
            .backend(&entry.uuid)
            .ok_or(CoreError::UnsupportedPath)?;
        Ok((
            Target::Backend {
                backend,
                mount: self.mount_info(entry),
                view: self.mount_view(entry),
            },
            rel.to_owned(),
        ))
    }
}

impl Core {
    /// Runs one logical request end to end, without response wrapping. The answers of the
    /// wrapping endpoints are turned back into responses: an unwrap yields the stored
    /// response, a rewrap a response whose data holds `wrap_info`. Use [`Core::serve`] to get
    /// them as they go on the wire.
    pub async fn handle(&self, req: CoreRequest) -> Result<Option<Response>, CoreError> {
        match self.serve(req, None).await? {
            Reply::Response(r) => Ok(r),
            Reply::Wrapped(info) => Ok(Some(wrap_info_response(&info))),
            Reply::Unwrapped(text) => response_from_envelope(&text).map(Some),
        }
    }

    /// Runs one logical request end to end. With `wrap_ttl` (seconds, from
    /// `X-Vault-Wrap-TTL`), a non-empty response is wrapped: it is stored behind a new
    /// single-use wrapping token and only that token's [`WrapInfo`](crate::WrapInfo) comes
    /// back.
    pub async fn serve(&self, req: CoreRequest, wrap_ttl: Option<u64>) -> Result<Reply, CoreError> {
        let active = self.active()?;
        if !self.ha.is_active() {
            return Err(CoreError::Standby {
                leader: self.ha.leader().map(|l| l.api_addr),
            });
        }
        self.ha.confirm_leadership().await?;
        let wrap_ttl = wrap_ttl.filter(|t| *t > 0);
        let path = req.path.trim_start_matches('/').to_owned();
        if let Some(endpoint) = wrapping::Endpoint::of(&path) {
            return self
                .wrapping_endpoint(
                    &active,
                    endpoint,
                    req.method,
                    &req.data,
                    req.token.as_deref(),
                )
                .await;
        }
        let entry = self.authenticate(&active, req.token.as_deref()).await?;
        let wrap_endpoint = wrapping::is_wrap_endpoint(&path);
        let resp = self.dispatch(&active, &entry, path.clone(), req).await?;
        if wrap_endpoint && wrap_ttl.is_none() {
            return Err(CoreError::invalid(
                "endpoint requires response wrapping to be used",
            ));
        }
        match (wrap_ttl, resp) {
            (Some(ttl), Some(resp)) if wrapping::wrappable(&resp) => self
                .wrap_response(&active, ttl, &path, &resp)
                .await
                .map(Reply::Wrapped),
            (_, resp) => Ok(Reply::Response(resp)),
        }
    }

    /// The live token presented by the client; consumes one of its uses.
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
            .map_err(|e| CoreError::Internal(format!("token store: {e}")))?
            .ok_or(CoreError::PermissionDenied)
    }

    /// Routes, authorizes and runs an authenticated request.
    async fn dispatch(
        &self,
        active: &Active,
        entry: &TokenEntry,
        path: String,
        mut req: CoreRequest,
    ) -> Result<Option<Response>, CoreError> {
        let auth = Auth {
            client_token: entry.id.clone(),
            accessor: entry.accessor.clone(),
            is_root: entry.policies.iter().any(|p| p == "root"),
            policies: entry.policies.clone(),
            display_name: entry.display_name.clone(),
        };
        let (target, rel) = active.route(&path)?;
        let acl = active.policies.acl(&entry.policies).await?;

        // A backend request is built once: the existence check (create vs update) and the
        // handler see the same request, without copying the body.
        let mut backend_req = match target {
            Target::System => None,
            Target::Backend {
                backend,
                mount,
                view,
            } => Some((
                backend,
                Request {
                    operation: Operation::Update,
                    path: rel.clone(),
                    data: std::mem::take(&mut req.data),
                    storage: view,
                    mount,
                    auth: auth.clone(),
                },
            )),
        };
        let (op, needs_sudo) = match backend_req.as_mut() {
            None => (
                system::operation(active, req.method, &rel).await?,
                system::ROOT_PATHS.iter().any(|p| matches_pattern(p, &rel)),
            ),
            Some((backend, request)) => {
                request.operation = match req.method {
                    Method::Get => Operation::Read,
                    Method::List => Operation::List,
                    Method::Patch => Operation::Patch,
                    Method::Delete => Operation::Delete,
                    Method::Write => match backend.exists(request).await? {
                        Some(false) => Operation::Create,
                        _ => Operation::Update,
                    },
                };
                let sudo = backend
                    .root_paths()
                    .iter()
                    .any(|p| matches_pattern(p, &rel));
                (request.operation, sudo)
            }
        };
        let data = backend_req.as_ref().map_or(&req.data, |(_, r)| &r.data);

        let exempt = backend_req.is_none()
            && system::ACL_EXEMPT_PATHS
                .iter()
                .any(|p| matches_pattern(p, &rel));
        if !exempt {
            let check = acl.check(&path, Capability::from(op));
            if !check.allowed || (needs_sudo && !check.sudo) {
                return Err(CoreError::PermissionDenied);
            }
            if matches!(op, Operation::Create | Operation::Update | Operation::Patch) {
                acl.check_parameters(&path, data)
                    .map_err(|_| CoreError::PermissionDenied)?;
            }
        }

        match backend_req {
            None => system::handle(self, active, op, &rel, &req.data, &auth, &acl).await,
            Some((backend, request)) => Ok(backend.handle(&request).await?),
        }
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

/// Wraps a JSON object into a response.
pub(crate) fn data_response(v: Value) -> Option<Response> {
    Some(Response::json(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_patterns() {
        assert!(matches_pattern("auth/*", "auth/userpass"));
        assert!(matches_pattern("rotate", "rotate"));
        assert!(!matches_pattern("rotate", "rotate/x"));
        assert!(!matches_pattern("auth/*", "mounts"));
    }
}
