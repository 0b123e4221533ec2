//! `GET /api/v1/clients`, `GET /api/v1/clients/{id}` and `DELETE /api/v1/clients/{id}`: the
//! connected clients of every protocol, from the fabric's [`ClientRegistry`], and the kick.
//!
//! [`ClientRegistry`]: switchboard_fabric::ClientRegistry

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_fabric::{ClientId, ClientInfo, ClientQuery, Kick};

use super::error::{ApiError, rejection};
use super::view::{rfc3339, unix_ms};
use super::{Api, DEFAULT_PAGE, MAX_PAGE};

/// Query of `GET /api/v1/clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsQuery {
    /// Only this protocol (`mqtt`, `engineio`, `socketio`, `ipc`).
    protocol: Option<String>,
    /// Only this user.
    user: Option<String>,
    /// Only ids (`<protocol>:<id>`) starting with this.
    prefix: Option<String>,
    /// Page size (default 100, at most 1 000).
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// The JSON view of one client.
pub fn client_json(c: &ClientInfo) -> Value {
    json!({
        "id": c.id.to_string(),
        "protocol": c.id.protocol(),
        "client_id": c.id.local(),
        "transport": c.transport,
        "remote": c.remote.map(|a| a.to_string()),
        "user": c.user.as_deref(),
        "connected_at": rfc3339(c.connected_at),
        "connected_at_ms": unix_ms(c.connected_at),
        "subscriptions": c.stats.subscriptions,
        "queue_depth": c.stats.queue_depth,
        "drops": c.stats.drops,
        "kicked": c.kicked,
    })
}

fn parse_id(text: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{text}` is not a client id; ids are `<protocol>:<id>`, e.g. `mqtt:sensor-1`"
        ))
    })
}

/// `GET /api/v1/clients`: one page of clients, in id order.
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<ClientsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejection)?;
    let after = q.cursor.as_deref().map(parse_id).transpose()?;
    let page = api.fabric().clients().list(&ClientQuery {
        protocol: q.protocol,
        user: q.user,
        id_prefix: q.prefix,
        after,
        limit: q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
    });
    Ok(Json(json!({
        "items": page.clients.iter().map(client_json).collect::<Vec<_>>(),
        "next": page.next.map(|n| n.to_string()),
    })))
}

/// `GET /api/v1/clients/{id}`.
pub async fn get(State(api): State<Api>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    api.fabric()
        .clients()
        .get(&id)
        .map(|c| Json(client_json(&c)))
        .ok_or_else(|| ApiError::NotFound(format!("no client `{id}` is connected")))
}

/// `DELETE /api/v1/clients/{id}`: disconnects the client with its protocol's goodbye (202; the
/// client is gone once its protocol closed the connection).
pub async fn kick(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let result = match api.fabric().clients().kick(&id) {
        Kick::Kicked => "kicked",
        Kick::AlreadyKicked => "already_kicked",
        Kick::NotFound => {
            return Err(ApiError::NotFound(format!("no client `{id}` is connected")));
        }
    };
    tracing::info!(client = %id, "admin API: client kicked");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id.to_string(), "result": result})),
    ))
}
