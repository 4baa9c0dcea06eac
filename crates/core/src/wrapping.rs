//! Response wrapping: `X-Vault-Wrap-TTL` on any request, and `sys/wrapping/{wrap, lookup,
//! unwrap, rewrap}`.
//!
//! A wrapped response is not returned: its envelope is stored next to a new single-use orphan
//! token (policy `response-wrapping`, TTL = the wrap TTL) in the token store, and the client
//! gets that token in `wrap_info`. `sys/wrapping/unwrap` hands the stored envelope back
//! verbatim and destroys the token with it.
//!
//! The wrapping token is taken from the body's `token` field, or else from the client token.
//! `lookup` needs no other authentication; `unwrap` and `rewrap` with the token in the body
//! authenticate the caller's own token as usual; with the wrapping token as client token it
//! authenticates itself through the built-in `response-wrapping` policy (which allows
//! `update` on `sys/wrapping/unwrap` only).

use serde::Serialize;
use serde_json::{Map, Value, json};
use tresor_policy::Capability;
use tresor_sdk::Response;
use tresor_token::TokenEntry;
use zeroize::Zeroizing;

use crate::active::Active;
use crate::core::Core;
use crate::envelope::envelope;
use crate::error::CoreError;
use crate::pipeline::Method;

/// The error for a wrapping token that is unknown, expired, used up or not a wrapping token.
pub(crate) const INVALID_WRAPPING_TOKEN: &str = "wrapping token is not valid or does not exist";

/// The `wrap_info` block returned instead of a wrapped response.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct WrapInfo {
    /// The wrapping token.
    pub token: String,
    /// Its accessor.
    pub accessor: String,
    /// Its TTL, seconds.
    pub ttl: u64,
    /// When it was created (RFC 3339).
    pub creation_time: String,
    /// The path of the request whose response it wraps.
    pub creation_path: String,
    /// The accessor of the token issued by the wrapped response, if it issued one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapped_accessor: Option<String>,
}

impl std::fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapInfo")
            .field("accessor", &self.accessor)
            .field("ttl", &self.ttl)
            .field("creation_time", &self.creation_time)
            .field("creation_path", &self.creation_path)
            .field("wrapped_accessor", &self.wrapped_accessor)
            .finish_non_exhaustive()
    }
}

impl WrapInfo {
    /// The `wrap_info` of a wrapping token.
    pub(crate) fn of(entry: &TokenEntry, wrapped_accessor: Option<String>) -> Self {
        Self {
            token: entry.id.clone(),
            accessor: entry.accessor.clone(),
            ttl: entry.creation_ttl,
            creation_time: rfc3339(entry.creation_time),
            creation_path: entry.path.clone(),
            wrapped_accessor: wrapped_accessor.filter(|a| !a.is_empty()),
        }
    }
}

/// What [`Core::serve`] answers.
pub enum Reply {
    /// The backend's answer (`None`: nothing here, 404 on reads, 204 on writes).
    Response(Option<Response>),
    /// The answer was wrapped: only the wrapping token goes back.
    Wrapped(WrapInfo),
    /// A stored envelope (JSON text) to send back verbatim with status 200: the answer of
    /// `sys/wrapping/unwrap`.
    Unwrapped(Zeroizing<String>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Response(r) => f.debug_tuple("Response").field(r).finish(),
            Reply::Wrapped(w) => f.debug_tuple("Wrapped").field(w).finish(),
            Reply::Unwrapped(_) => f.write_str("Unwrapped(<redacted>)"),
        }
    }
}

/// The wrapping endpoints that operate on an existing wrapping token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `sys/wrapping/lookup`.
    Lookup,
    /// `sys/wrapping/unwrap`.
    Unwrap,
    /// `sys/wrapping/rewrap`.
    Rewrap,
}

impl Endpoint {
    /// The endpoint at `path` (after `/v1/`, no leading slash), if it is one.
    pub(crate) fn of(path: &str) -> Option<Self> {
        match path {
            "sys/wrapping/lookup" => Some(Endpoint::Lookup),
            "sys/wrapping/unwrap" => Some(Endpoint::Unwrap),
            "sys/wrapping/rewrap" => Some(Endpoint::Rewrap),
            _ => None,
        }
    }

    /// The ACL path of the endpoint.
    fn acl_path(self) -> &'static str {
        match self {
            Endpoint::Lookup => "sys/wrapping/lookup",
            Endpoint::Unwrap => "sys/wrapping/unwrap",
            Endpoint::Rewrap => "sys/wrapping/rewrap",
        }
    }

    /// Whether `method` is served (lookup also answers GET, as Vault's does).
    fn accepts(self, method: Method) -> bool {
        method == Method::Write || (self == Endpoint::Lookup && method == Method::Get)
    }
}

/// Whether `path` is `sys/wrapping/wrap`, which only makes sense with a wrap TTL.
pub(crate) fn is_wrap_endpoint(path: &str) -> bool {
    path == "sys/wrapping/wrap"
}

/// The wrapping token named in the body (`token`), if any. A `token` that is present but
/// empty or not a string is refused.
pub(crate) fn body_token(data: &Map<String, Value>) -> Result<Option<String>, CoreError> {
    match data.get("token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(Value::String(_)) => Err(CoreError::invalid(
            "error validating wrapping token: empty token in request body",
        )),
        Some(_) => Err(CoreError::invalid(
            "error validating wrapping token: could not decode token in request body",
        )),
    }
}

/// Whether a response is worth wrapping: it carries something and is not an error-like
/// answer with its own status.
pub(crate) fn wrappable(resp: &Response) -> bool {
    let has_content = resp.data.is_some() || resp.auth.is_some() || !resp.warnings.is_empty();
    has_content && resp.status.is_success()
}

/// The data of a `sys/wrapping/lookup` answer.
pub(crate) fn lookup_data(entry: &TokenEntry) -> Value {
    json!({
        "creation_path": entry.path,
        "creation_time": rfc3339(entry.creation_time),
        "creation_ttl": entry.creation_ttl,
    })
}

/// Unix seconds as RFC 3339 (UTC).
pub(crate) fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn token_error(e: tresor_token::TokenError) -> CoreError {
    CoreError::from(tresor_sdk::LogicalError::from(e))
}

impl Core {
    /// Stores `resp` behind a new wrapping token living `ttl` seconds.
    pub(crate) async fn wrap_response(
        &self,
        active: &Active,
        ttl: u64,
        path: &str,
        resp: &Response,
    ) -> Result<WrapInfo, CoreError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let text = Zeroizing::new(envelope(resp, &request_id).to_string());
        let entry = active
            .tokens
            .create_wrapping(ttl, path, &text)
            .await
            .map_err(token_error)?;
        let wrapped_accessor = resp.auth.as_ref().map(|a| a.accessor.clone());
        Ok(WrapInfo::of(&entry, wrapped_accessor))
    }

    /// Serves `sys/wrapping/{lookup,unwrap,rewrap}`.
    pub(crate) async fn wrapping_endpoint(
        &self,
        active: &Active,
        endpoint: Endpoint,
        method: Method,
        data: &Map<String, Value>,
        client_token: Option<&str>,
    ) -> Result<Reply, CoreError> {
        if !endpoint.accepts(method) {
            return Err(CoreError::UnsupportedOperation);
        }
        let client_token = client_token.filter(|t| !t.is_empty());
        let in_body = body_token(data)?;
        let third_party = in_body.is_some();
        let wrapping_token = in_body
            .or_else(|| client_token.map(str::to_owned))
            .ok_or_else(|| CoreError::invalid(INVALID_WRAPPING_TOKEN))?;
        let wrapping_entry = active
            .tokens
            .lookup_wrapping(&wrapping_token)
            .await
            .map_err(token_error)?
            .ok_or_else(|| CoreError::invalid(INVALID_WRAPPING_TOKEN))?;

        if endpoint == Endpoint::Lookup {
            // Unauthenticated, as in Vault: knowing the token is enough, and it is not used up.
            return Ok(Reply::Response(Some(Response::json(lookup_data(
                &wrapping_entry,
            )))));
        }

        let policies = if third_party {
            self.authenticate(active, client_token).await?.policies
        } else {
            wrapping_entry.policies.clone()
        };
        let acl = active.policies.acl(&policies).await?;
        if !acl.check(endpoint.acl_path(), Capability::Update).allowed {
            return Err(CoreError::PermissionDenied);
        }

        match endpoint {
            Endpoint::Unwrap => {
                let unwrapped = active
                    .tokens
                    .unwrap(&wrapping_token)
                    .await
                    .map_err(token_error)?
                    .ok_or_else(|| CoreError::invalid(INVALID_WRAPPING_TOKEN))?;
                Ok(Reply::Unwrapped(unwrapped.response))
            }
            Endpoint::Rewrap => {
                // The new token keeps the original TTL and creation path, as in Vault.
                let entry = active
                    .tokens
                    .rewrap(&wrapping_token)
                    .await
                    .map_err(token_error)?
                    .ok_or_else(|| CoreError::invalid(INVALID_WRAPPING_TOKEN))?;
                Ok(Reply::Wrapped(WrapInfo::of(&entry, None)))
            }
            Endpoint::Lookup => Err(CoreError::Internal("lookup handled above".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn endpoints_by_path() {
        assert_eq!(Endpoint::of("sys/wrapping/unwrap"), Some(Endpoint::Unwrap));
        assert_eq!(Endpoint::of("sys/wrapping/lookup"), Some(Endpoint::Lookup));
        // Served exactly as the ACL saw it: the directory is another path.
        assert_eq!(Endpoint::of("sys/wrapping/lookup/"), None);
        assert_eq!(Endpoint::of("sys/wrapping/rewrap"), Some(Endpoint::Rewrap));
        assert_eq!(Endpoint::of("sys/wrapping/wrap"), None);
        assert!(is_wrap_endpoint("sys/wrapping/wrap"));
        assert!(!is_wrap_endpoint("sys/wrapping/unwrap"));
        assert!(Endpoint::Lookup.accepts(Method::Get));
        assert!(!Endpoint::Unwrap.accepts(Method::Get));
        assert!(Endpoint::Unwrap.accepts(Method::Write));
    }

    #[test]
    fn body_token_rules() {
        assert_eq!(body_token(&obj(json!({}))).unwrap(), None);
        assert_eq!(body_token(&obj(json!({"token": null}))).unwrap(), None);
        assert_eq!(
            body_token(&obj(json!({"token": " hvs.a "}))).unwrap(),
            Some("hvs.a".into())
        );
        assert!(body_token(&obj(json!({"token": ""}))).is_err());
        assert!(body_token(&obj(json!({"token": 5}))).is_err());
    }

    #[test]
    fn what_gets_wrapped() {
        assert!(!wrappable(&Response::default()));
        assert!(wrappable(&Response::data(Map::new())));
        let mut not_found = Response::data(Map::new());
        not_found.status = tresor_sdk::ResponseStatus::NotFound;
        assert!(!wrappable(&not_found));
        assert!(wrappable(&Response::default().with_warning("w")));
    }

    #[test]
    fn wrap_info_and_lookup_from_entry() {
        let entry = TokenEntry {
            id: "hvs.secret".into(),
            accessor: "acc".into(),
            creation_time: 0,
            creation_ttl: 900,
            path: "auth/token/create".into(),
            ..TokenEntry::default()
        };
        let info = WrapInfo::of(&entry, Some(String::new()));
        assert_eq!(info.ttl, 900);
        assert_eq!(info.creation_time, "1970-01-01T00:00:00Z");
        assert_eq!(info.wrapped_accessor, None);
        assert!(!format!("{info:?}").contains("hvs.secret"));
        let look = lookup_data(&entry);
        assert_eq!(look["creation_ttl"], 900);
        assert_eq!(look["creation_path"], "auth/token/create");
        assert_eq!(look["creation_time"], "1970-01-01T00:00:00Z");
    }
}
