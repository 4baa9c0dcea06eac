//! The wire protocol of the cluster port (pure): ALPN, request paths and status codes.
//!
//! Every request is an HTTP/2 `POST` to `/cluster/v1/<route>`; the body is the opaque payload
//! of the route and a `200` reply carries the opaque answer. Errors are non-2xx statuses with
//! a short plain-text reason. See `docs/design/cluster-port.md`.

use hyper::StatusCode;

use crate::ClusterError;

/// The ALPN protocol id both ends must negotiate on the cluster port.
pub const ALPN_CLUSTER_V1: &[u8] = b"tresor-cluster/1";

/// Every request path starts with this prefix.
pub const PATH_PREFIX: &str = "/cluster/v1/";

/// The route prefix of Raft RPCs: `raft/<rpc-kind>`.
pub const RAFT_ROUTE: &str = "raft";

/// The status a server answers on a connection accepted before its identity was rotated:
/// the client must reconnect (and re-authenticate) and may resend the request.
pub const STATUS_RECONNECT: StatusCode = StatusCode::MISDIRECTED_REQUEST;

/// Longest error text a peer's reply is allowed to put into a [`ClusterError::Remote`].
pub(crate) const MAX_ERROR_TEXT: usize = 1024;

/// The request path (`/cluster/v1/<route>`) for `route`.
pub fn path_for(route: &str) -> String {
    format!("{PATH_PREFIX}{route}")
}

/// The route of a request path: what follows `/cluster/v1/`, if it is well formed (non-empty
/// segments of `[A-Za-z0-9_.-]`).
pub fn route_of(path: &str) -> Option<&str> {
    let route = path.strip_prefix(PATH_PREFIX)?;
    let well_formed = !route.is_empty()
        && route.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
    well_formed.then_some(route)
}

/// Splits a route into its first segment and the rest (`"raft/vote"` → `("raft", "vote")`).
pub fn split_route(route: &str) -> (&str, &str) {
    route.split_once('/').unwrap_or((route, ""))
}

/// The HTTP status a server answers for a handler error.
pub fn status_for(err: &ClusterError) -> StatusCode {
    match err {
        ClusterError::NotFound(_) => StatusCode::NOT_FOUND,
        ClusterError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ClusterError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ClusterError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ClusterError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Builds the client-side error for a non-2xx reply with body `text`.
pub(crate) fn remote_error(status: StatusCode, text: &[u8]) -> ClusterError {
    let cut = text.len().min(MAX_ERROR_TEXT);
    ClusterError::Remote {
        status: status.as_u16(),
        message: String::from_utf8_lossy(&text[..cut]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip_and_bad_paths_are_refused() {
        assert_eq!(
            route_of(&path_for("raft/append_entries")),
            Some("raft/append_entries")
        );
        assert_eq!(route_of("/cluster/v1/join"), Some("join"));
        for bad in [
            "/cluster/v1/",
            "/cluster/v2/raft/vote",
            "/cluster/v1/raft//vote",
            "/cluster/v1/raft/../x",
            "/cluster/v1/raft/vote/",
            "/cluster/v1/ra ft",
            "/other",
        ] {
            assert_eq!(route_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn split_route_takes_the_first_segment() {
        assert_eq!(split_route("raft/vote"), ("raft", "vote"));
        assert_eq!(split_route("join"), ("join", ""));
        assert_eq!(split_route("a/b/c"), ("a", "b/c"));
    }

    #[test]
    fn statuses_follow_the_error_kind() {
        assert_eq!(
            status_for(&ClusterError::NotFound("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_for(&ClusterError::BodyTooLarge { limit: 1 }),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status_for(&ClusterError::Unavailable("x".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(&ClusterError::Handler("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn remote_errors_are_truncated() {
        let long = vec![b'a'; MAX_ERROR_TEXT * 3];
        match remote_error(StatusCode::BAD_REQUEST, &long) {
            ClusterError::Remote { status, message } => {
                assert_eq!(status, 400);
                assert_eq!(message.len(), MAX_ERROR_TEXT);
            }
            other => panic!("{other:?}"),
        }
    }
}
