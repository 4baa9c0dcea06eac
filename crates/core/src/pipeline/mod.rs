//! The logical request pipeline. One request passes these stages, in this order, each a small
//! unit of its own:
//!
//! 1. **canonical path** — done by the http layer ([`tresor_sdk::path::canonicalize`]); a
//!    [`CoreRequest`] can only carry a [`CanonicalPath`]. Here a LIST is made a directory
//!    (`…/`) and a write to a directory is refused ([`shape`]).
//! 2. **route** ([`route`]) — the mount that serves the path; the path the backend sees is the
//!    rest of the canonical path, untouched. Policy names are lower-cased here, before any
//!    decision.
//! 3. **authenticate** ([`authenticate`]) — the token store, unless the backend declares the
//!    path unauthenticated (a login).
//! 4. **operation** — create vs update, decided by the backend's existence check on the same
//!    request it will serve; `sudo` when the backend declares the path a root path.
//! 5. **authorize** ([`authorize`]) — the ACL on the canonical path: capability, sudo,
//!    parameters, wrapping TTL bounds. Pure.
//! 6. **audit request** ([`crate::audit`]) — fail closed; a request refused before this
//!    stage (bad token, denied) is recorded with its error.
//! 7. **backend**.
//! 8. **lease** ([`crate::leases`]) — a response carrying a secret gets a lease from the
//!    expiration manager; **login** ([`login`]) — a login's result becomes a token (auth
//!    mounts only).
//! 9. **wrap** — with `X-Vault-Wrap-TTL` the response is stored behind a wrapping token.
//! 10. **audit response** — fail closed: an unrecorded response is never returned.

mod authenticate;
mod authorize;
mod login;
mod route;

use std::sync::Arc;

use serde_json::{Map, Value};
use tresor_sdk::{CanonicalPath, Operation, Request, Response};
use tresor_token::TokenEntry;

use crate::audit::{AuditTrail, RequestMeta};
use crate::core::Core;
use crate::envelope::{response_from_envelope, wrap_info_response};
use crate::error::CoreError;
use crate::system;
use crate::wrapping::{self, Reply};
use authorize::Ask;
pub(crate) use route::Target;

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

impl Method {
    /// The operation the method stands for where no existence check decides create vs
    /// update: a PUT/POST is an update (the `sys/` backend has no existence check, as
    /// OpenBao's; a path nothing serves has none either).
    pub(crate) fn operation(self) -> Operation {
        match self {
            Method::Get => Operation::Read,
            Method::List => Operation::List,
            Method::Patch => Operation::Patch,
            Method::Delete => Operation::Delete,
            Method::Write => Operation::Update,
        }
    }
}

/// A logical request as the http layer hands it over.
#[derive(Clone, Debug)]
pub struct CoreRequest {
    /// The method.
    pub method: Method,
    /// The path after `/v1/`, canonical.
    pub path: CanonicalPath,
    /// JSON body, or query parameters for GET/LIST/DELETE.
    pub data: Map<String, Value>,
    /// The client token (`X-Vault-Token` or `Authorization: Bearer`).
    pub token: Option<String>,
}

/// Vault's answer to a write aimed at a directory.
pub const WRITE_TO_DIRECTORY: &str = "cannot write to a path ending in '/'";

/// Stage 1 (the core's half): a LIST names a directory, and nothing writes to one.
pub(crate) fn shape(method: Method, path: CanonicalPath) -> Result<CanonicalPath, CoreError> {
    match method {
        Method::List => Ok(path.into_directory()),
        Method::Write | Method::Patch if path.is_directory() => {
            Err(CoreError::invalid(WRITE_TO_DIRECTORY))
        }
        _ => Ok(path),
    }
}

/// Whether `path` matches a root-path pattern (`*` suffix = prefix match).
pub(crate) fn matches_pattern(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
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

    /// Runs one logical request through every stage. With `wrap_ttl` (seconds, from
    /// `X-Vault-Wrap-TTL`), a non-empty response is wrapped: it is stored behind a new
    /// single-use wrapping token and only that token's [`WrapInfo`](crate::WrapInfo) comes
    /// back.
    pub async fn serve(&self, req: CoreRequest, wrap_ttl: Option<u64>) -> Result<Reply, CoreError> {
        self.serve_with(req, wrap_ttl, &RequestMeta::default())
            .await
    }

    /// [`Core::serve`] with what the http layer knows of the client (its address, the
    /// forwarding standby, the headers), which audit entries record.
    pub async fn serve_with(
        &self,
        req: CoreRequest,
        wrap_ttl: Option<u64>,
        meta: &RequestMeta,
    ) -> Result<Reply, CoreError> {
        // Timed as `vault.core.handle_request` (every request this node served or refused
        // itself; not those it is not active for).
        let start = std::time::Instant::now();
        let login = crate::metrics::is_login_path(req.path.as_str());
        let result = self.serve_audited(req, wrap_ttl, meta).await;
        if !matches!(result, Err(CoreError::Sealed | CoreError::Standby { .. })) {
            self.request_timings.record(login, start);
        }
        result
    }

    /// [`Core::serve_with`] without its timing.
    async fn serve_audited(
        &self,
        req: CoreRequest,
        wrap_ttl: Option<u64>,
        meta: &RequestMeta,
    ) -> Result<Reply, CoreError> {
        let wrap_ttl = wrap_ttl.filter(|t| *t > 0);
        let active = match self.active() {
            Ok(active) if self.ha.leadership.is_active() => {
                self.ha.leadership.confirm_leadership().await?;
                active
            }
            Ok(_) => return Err(self.standby_error()),
            // An unsealed node without active state is a standby: it answers the reads it
            // can itself (see `crate::standby`) and sends the rest to the active node.
            Err(CoreError::Sealed) if !self.is_sealed() => {
                self.standby_read_state(req.method, wrap_ttl).await?
            }
            Err(e) => return Err(e),
        };
        let mut trail = self.audit.is_enabled().then(|| {
            AuditTrail::new(
                req.path.as_str(),
                req.method.operation(),
                req.token.as_deref(),
                Some(&req.data),
                wrap_ttl,
                meta,
                &active.audited_headers(),
            )
        });
        let remote = meta.remote.map(|a| a.ip());
        let result = self
            .run(&active, req, wrap_ttl, remote, trail.as_mut())
            .await;
        let Some(trail) = trail else {
            return result;
        };
        // Stage 10, audit the response (and the request, when it ended before stage 6).
        let error = result.as_ref().err().map(ToString::to_string);
        // A standby that cannot answer hands the request on: the active node audits it.
        if let Err(CoreError::Audit(_) | CoreError::Standby { .. }) = &result {
            return result;
        }
        if !trail.request_logged {
            self.audit
                .log(&trail.request_event(error.as_deref()))
                .await?;
        }
        let outcome = match &result {
            Ok(reply) => Ok(reply),
            Err(_) => Err(error.as_deref().unwrap_or_default()),
        };
        self.audit.log(&trail.response_event(outcome)).await?;
        result
    }

    /// Stages 1–9.
    async fn run(
        &self,
        active: &Arc<crate::active::Active>,
        req: CoreRequest,
        wrap_ttl: Option<u64>,
        remote: Option<std::net::IpAddr>,
        mut trail: Option<&mut AuditTrail>,
    ) -> Result<Reply, CoreError> {
        let active = active.clone();
        let CoreRequest {
            method,
            path,
            mut data,
            token,
        } = req;
        let path = shape(method, path)?;
        if let Some(endpoint) = wrapping::Endpoint::of(path.as_str()) {
            if active.standby {
                return Err(self.standby_error());
            }
            // The wrapping endpoints consume tokens: record the request first.
            if let Some(t) = trail.as_deref_mut() {
                self.audit.log(&t.request_event(None)).await?;
                t.request_logged = true;
            }
            return self
                .wrapping_endpoint(&active, endpoint, method, &data, token.as_deref())
                .await;
        }

        let routed = match active.route(path) {
            Ok(routed) => routed,
            // The active node decides what an unrouted path answers (and audits it).
            Err(_) if active.standby => return Err(self.standby_error()),
            Err(path) => {
                return Err(self
                    .refuse_unrouted(
                        &active,
                        method,
                        &path,
                        &data,
                        (token.as_deref(), remote),
                        wrap_ttl,
                    )
                    .await);
            }
        };
        if active.standby {
            let readable = match &routed.target {
                Target::Backend { backend, .. } => backend.standby_readable(routed.relative()),
                Target::System => crate::standby::sys_readable(routed.relative()),
            };
            if !readable {
                return Err(self.standby_error());
            }
        }
        let unauthenticated = match &routed.target {
            Target::Backend { backend, .. } => backend
                .unauthenticated_paths()
                .iter()
                .any(|p| matches_pattern(p, routed.relative())),
            Target::System => false,
        };
        let entry = if unauthenticated {
            None
        } else {
            Some(
                self.authenticate_from(&active, token.as_deref(), remote)
                    .await?,
            )
        };
        let auth = entry.as_ref().map(TokenEntry::auth).unwrap_or_default();
        if let Some(t) = trail.as_deref_mut() {
            match &routed.target {
                Target::System => t.mount("sys/", "system", ""),
                Target::Backend { mount, .. } => {
                    t.mount(routed.mount_point(), &mount.kind, &mount.accessor);
                    let (req_keys, resp_keys) = active.audit_keys(routed.mount_point());
                    t.non_hmac_keys(req_keys, resp_keys);
                }
            }
            if let Some(e) = &entry {
                t.caller(e);
            }
        }

        // Stage 4, operation. A backend request is built once: the existence check and the
        // handler see the same request, without copying the body.
        let mut backend_req = match &routed.target {
            Target::System => None,
            Target::Backend {
                backend,
                mount,
                view,
            } => Some((
                backend.clone(),
                Request {
                    operation: Operation::Update,
                    path: routed.relative().to_owned(),
                    data: std::mem::take(&mut data),
                    storage: view.clone(),
                    mount: mount.clone(),
                    auth: auth.clone(),
                    secret: None,
                    sudo: false,
                    remote_addr: remote,
                },
            )),
        };
        let rel = routed.relative();
        let (operation, sudo) = match backend_req.as_mut() {
            None => (
                method.operation(),
                system::ROOT_PATHS.iter().any(|p| matches_pattern(p, rel)),
            ),
            Some((backend, request)) => {
                request.operation = match method {
                    Method::Write => match backend.exists(request).await? {
                        Some(false) => Operation::Create,
                        _ => Operation::Update,
                    },
                    other => other.operation(),
                };
                let sudo = backend.root_paths().iter().any(|p| matches_pattern(p, rel));
                (request.operation, sudo)
            }
        };
        if let Some(t) = trail.as_deref_mut() {
            t.operation(operation);
        }
        // Stage 5, authorize.
        let acl = match &entry {
            Some(entry) => Some(active.policies.acl(&entry.policies).await?),
            None => None,
        };
        let exempt = backend_req.is_none()
            && system::ACL_EXEMPT_PATHS
                .iter()
                .any(|p| matches_pattern(p, rel));
        let held_sudo = match acl.as_ref().filter(|_| !exempt) {
            Some(acl) => authorize::authorize(
                acl,
                &Ask {
                    path: routed.path.as_str(),
                    operation,
                    sudo,
                    data: backend_req.as_ref().map_or(&data, |(_, r)| &r.data),
                    wrap_ttl,
                },
            )?,
            None => false,
        };
        if let Some((_, request)) = backend_req.as_mut() {
            request.sudo = held_sudo;
        }

        // Stage 6, audit the request.
        if let Some(t) = trail {
            self.audit.log(&t.request_event(None)).await?;
            t.request_logged = true;
        }

        // Stage 7, backend.
        let result = match backend_req {
            None => match &acl {
                Some(acl) => system::handle(self, &active, operation, rel, &data, &auth, acl).await,
                None => Err(CoreError::PermissionDenied),
            },
            Some((backend, request)) => {
                // A login token's renewal asks its auth method first.
                if request.mount.kind == "token" {
                    self.check_login_renewal(&active, rel, &request, entry.as_ref())
                        .await?;
                }
                // Stage 8, lease.
                match backend.handle(&request).await {
                    Ok(Some(mut resp)) if resp.login.is_some() => self
                        .login_stage(
                            &active,
                            routed.path.as_str(),
                            &request.mount,
                            remote,
                            &mut resp,
                        )
                        .await
                        .map(|()| Some(resp)),
                    Ok(Some(mut resp)) if resp.secret.is_some() => {
                        match crate::leases::register(
                            &active.leases,
                            routed.path.as_str(),
                            &request.mount,
                            &mut resp,
                        )
                        .await
                        {
                            Ok(()) => Ok(Some(resp)),
                            Err(e) => {
                                crate::leases::revoke_unleased(&*backend, &request, &resp).await;
                                Err(e)
                            }
                        }
                    }
                    other => other.map_err(CoreError::from),
                }
            }
        };

        // Stage 9, wrap.
        let wrap_endpoint = wrapping::is_wrap_endpoint(routed.path.as_str());
        match (result, wrap_ttl) {
            (Ok(_), None) if wrap_endpoint => Err(CoreError::invalid(
                "endpoint requires response wrapping to be used",
            )),
            (Ok(Some(resp)), Some(ttl)) if wrapping::wrappable(&resp) => self
                .wrap_response(&active, ttl, routed.path.as_str(), &resp)
                .await
                .map(Reply::Wrapped),
            (Ok(resp), _) => Ok(Reply::Response(resp)),
            (Err(e), _) => Err(e),
        }
    }
}

impl Core {
    /// The answer to a path no mount serves: the ACL decides first (403), and only a caller
    /// allowed there learns that nothing is mounted (404), as Vault answers.
    async fn refuse_unrouted(
        &self,
        active: &crate::active::Active,
        method: Method,
        path: &CanonicalPath,
        data: &Map<String, Value>,
        (token, remote): (Option<&str>, Option<std::net::IpAddr>),
        wrap_ttl: Option<u64>,
    ) -> CoreError {
        let entry = match self.authenticate_from(active, token, remote).await {
            Ok(entry) => entry,
            Err(e) => return e,
        };
        let acl = match active.policies.acl(&entry.policies).await {
            Ok(acl) => acl,
            Err(e) => return e,
        };
        let ask = Ask {
            path: path.as_str(),
            // No backend decides create vs update on a path nothing serves.
            operation: method.operation(),
            sudo: false,
            data,
            wrap_ttl,
        };
        match authorize::authorize(&acl, &ask) {
            Ok(_) => CoreError::UnsupportedPath,
            Err(e) => e,
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

    fn p(s: &str) -> CanonicalPath {
        CanonicalPath::parse(s).expect("canonical")
    }

    #[test]
    fn root_path_patterns() {
        assert!(matches_pattern("auth/*", "auth/userpass"));
        assert!(matches_pattern("rotate", "rotate"));
        assert!(!matches_pattern("rotate", "rotate/x"));
        assert!(!matches_pattern("auth/*", "mounts"));
    }

    #[test]
    fn lists_name_directories_and_writes_never_do() {
        let dir = shape(Method::List, p("auth/token/accessors")).expect("list");
        assert_eq!(dir.as_str(), "auth/token/accessors/");
        assert!(shape(Method::Get, p("secret/data/x/")).is_ok());
        assert!(shape(Method::Delete, p("secret/data/x/")).is_ok());
        for m in [Method::Write, Method::Patch] {
            match shape(m, p("sys/policies/acl/default/")) {
                Err(CoreError::InvalidRequest(msg)) => assert_eq!(msg, WRITE_TO_DIRECTORY),
                other => panic!("{m:?}: {other:?}"),
            }
        }
    }
}
