//! Mapping of core errors to HTTP status codes and Vault's error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tresor_core::CoreError;

/// An error on its way to the client: a status code and the `errors` list.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Messages for `{"errors": [...]}`.
    pub errors: Vec<String>,
}

impl ApiError {
    /// An error with one message.
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![msg.into()],
        }
    }

    /// An error with an empty `errors` list (Vault's 404 for a missing secret, 405).
    pub fn bare(status: StatusCode) -> Self {
        Self {
            status,
            errors: Vec::new(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::Sealed => StatusCode::SERVICE_UNAVAILABLE,
            CoreError::NotInitialized => StatusCode::BAD_REQUEST,
            CoreError::AlreadyInitialized => StatusCode::BAD_REQUEST,
            CoreError::PermissionDenied => StatusCode::FORBIDDEN,
            CoreError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            CoreError::UnsupportedPath => StatusCode::NOT_FOUND,
            CoreError::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
            e if e.is_retriable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "internal error");
        }
        if matches!(e, CoreError::Audit(_)) {
            // Vault's answer when a request cannot be recorded: nothing about the device.
            return ApiError::new(status, "internal error");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [("content-type", "application/json")],
            json!({ "errors": self.errors }).to_string(),
        )
            .into_response()
    }
}
