//! `GET /api/v1/subscriptions`: electron-common-ipc's `queryState` view for every protocol, one
//! item per (filter, client) pair: the fabric's index and the subscriptions a protocol keeps
//! itself (IPC channel listeners).
//!
//! `filter` narrows the listing to subscriptions whose filter text equals it or, when `filter`
//! has wildcards, whose filter text it matches as a topic name (`sensors/#` lists `sensors/+/t`
//! and `sensors/a`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_fabric::{ClientId, TopicFilter};

use super::error::{ApiError, rejection};
use super::{Api, MAX_PAGE};

/// Query of `GET /api/v1/subscriptions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsQuery {
    /// See the module documentation.
    filter: Option<String>,
    /// Also list the gateway's own subscriptions (bridges, the stream's tap). Default false.
    #[serde(default)]
    internal: bool,
    /// Page size (default and most 1 000).
    limit: Option<usize>,
    /// The `next` of the previous page (an offset).
    cursor: Option<String>,
}

/// `GET /api/v1/subscriptions`.
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<SubscriptionsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejection)?;
    let filter = q
        .filter
        .as_deref()
        .map(TopicFilter::new)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("filter: {e}")))?;
    let offset: usize = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("`{c}` is not a cursor")))?,
    };
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let fabric = api.fabric();
    let clients = fabric.clients();
    let mut items = Vec::new();
    let mut total = 0usize;
    let mut push = |item: &dyn Fn() -> Value| {
        if total >= offset && items.len() < limit {
            items.push(item());
        }
        total += 1;
    };
    for s in fabric.subscriptions(filter.as_ref()) {
        if s.internal && !q.internal {
            continue;
        }
        push(&|| {
            // The subscriber's labels name its client in most protocols; otherwise ask the
            // registry which client attached it.
            let guess = ClientId::new(s.protocol.clone(), s.client.clone());
            let client = if clients.contains(&guess) {
                Some(guess)
            } else {
                clients.client_of(s.subscriber)
            };
            json!({
                "filter": s.filter,
                "client": client.map(|c| c.to_string()),
                "protocol": &*s.protocol,
                "holder": &*s.client,
                "group": s.group.as_deref(),
                "max_qos": s.max_qos.as_u8(),
                "count": 1,
                "internal": s.internal,
            })
        });
    }
    for (client, held) in clients.held_subscriptions() {
        if let Some(f) = &filter
            && f.as_str() != held.filter
            && !f.matches_str(&held.filter)
        {
            continue;
        }
        push(&|| {
            json!({
                "filter": held.filter,
                "client": client.to_string(),
                "protocol": client.protocol(),
                "holder": held.holder,
                "group": null,
                "max_qos": null,
                "count": held.count,
                "internal": false,
            })
        });
    }
    let next = (total > offset + items.len()).then(|| (offset + items.len()).to_string());
    Ok(Json(json!({"items": items, "next": next})))
}
