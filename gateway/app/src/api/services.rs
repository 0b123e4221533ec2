//! `GET /api/v1/services` and `GET /api/v1/services/{name}`: the electron-common-ipc services
//! IPC peers provide, as `isServiceAvailable(name)` sees them (from the IPC broker's
//! [`ServiceDirectory`]).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use switchboard_ipc::ServiceDirectory;

use super::Api;
use super::error::ApiError;

fn directory(api: &Api) -> Result<&ServiceDirectory, ApiError> {
    api.services().ok_or_else(|| {
        ApiError::NotFound("the IPC bus is off (ipc.enabled = false): no services".into())
    })
}

/// `GET /api/v1/services`: every provider of every service.
pub async fn list(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let all = directory(&api)?.list();
    Ok(Json(json!({ "items": all })))
}

/// `GET /api/v1/services/{name}`: `available` as `isServiceAvailable(name)` answers it (provided
/// and started), with the provider's details when one exists (`provider` is `null` otherwise).
pub async fn get(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let info = directory(&api)?.lookup(&name);
    Ok(Json(json!({
        "name": name,
        "available": info.as_ref().is_some_and(|i| i.started),
        "provider": info,
    })))
}
