//! `sys/key-status` and `sys/rotate`.

use serde_json::json;
use tresor_sdk::{Operation, Response};

use crate::core::Core;
use crate::error::CoreError;
use crate::pipeline::data_response;

pub(super) fn key_status(core: &Core, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let status = core
        .barrier
        .key_status()
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(data_response(json!({
        "term": status.term,
        "install_time": status.install_time,
        "encryptions": status.encryptions,
    })))
}

pub(super) async fn rotate(core: &Core, op: Operation) -> Result<Option<Response>, CoreError> {
    if !matches!(op, Operation::Update | Operation::Create) {
        return super::unsupported();
    }
    let term = core
        .barrier
        .rotate()
        .await
        .map_err(|e| CoreError::Internal(format!("failed to rotate the keyring: {e}")))?;
    tracing::info!(term, "keyring rotated");
    Ok(None)
}
