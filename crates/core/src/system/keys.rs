//! `sys/key-status`, `sys/rotate` and `sys/rotate/config`.

use serde_json::{Map, Value, json};
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
    let term = core.rotate_keyring().await?;
    tracing::info!(term, "keyring rotated");
    Ok(None)
}

/// `sys/rotate/config` and `sys/rotate/keyring/config`: automatic rotation by use or age.
pub(super) async fn rotate_config(
    core: &Core,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    match op {
        Operation::Read => Ok(data_response(core.rotation_config().await?.to_json())),
        Operation::Update | Operation::Create => {
            core.update_rotation_config(data).await?;
            Ok(None)
        }
        _ => super::unsupported(),
    }
}
