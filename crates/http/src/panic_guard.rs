//! A panic in a request handler becomes a 500 `{"errors":["internal error"]}` for that request;
//! the connection, the other requests and the process carry on.

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;

use crate::error::ApiError;

/// The message of a caught panic, for the log.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Middleware: runs the rest of the stack and turns a panic into a 500.
pub(crate) async fn catch_panic(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(payload) => {
            // The path is not logged: some paths carry secrets (tokens, accessors).
            tracing::error!(
                %method,
                panic = panic_message(payload.as_ref()),
                "request handler panicked; answered 500"
            );
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Wraps `router` so that a handler panic answers 500 instead of dropping the connection.
pub fn catch_panics(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(catch_panic))
}
