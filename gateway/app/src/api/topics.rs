//! `GET /api/v1/topics` (retained values with their metadata, paginated by topic) and
//! `DELETE /api/v1/topics/{topic}` (clears a retained value the way MQTT does: an empty retained
//! message published through the fabric, so every node and subscriber sees it).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_fabric::{Message, Topic, TopicFilter};

use super::error::{ApiError, rejection};
use super::view::message_json;
use super::{Api, DEFAULT_PAGE, MAX_PAGE};

/// Query of `GET /api/v1/topics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsQuery {
    /// Retained values whose topic matches this filter. Default `#` (which, as in MQTT, leaves
    /// out `$` topics: ask `$SYS/#` for those).
    filter: Option<String>,
    /// Page size (default 100, at most 1 000).
    limit: Option<usize>,
    /// The `next` of the previous page (the last topic listed).
    cursor: Option<String>,
}

/// `GET /api/v1/topics`.
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<TopicsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(rejection)?;
    let filter = TopicFilter::new(q.filter.as_deref().unwrap_or("#"))
        .map_err(|e| ApiError::BadRequest(format!("filter: {e}")))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut values = api.fabric().retained(&filter);
    values.sort_unstable_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
    let start = match &q.cursor {
        Some(c) => values.partition_point(|m| m.topic.as_str() <= c.as_str()),
        None => 0,
    };
    let page = values.get(start..).unwrap_or_default();
    let items: Vec<Value> = page.iter().take(limit).map(|m| message_json(m)).collect();
    let next = (page.len() > limit)
        .then(|| page.get(limit - 1).map(|m| m.topic.as_str().to_owned()))
        .flatten();
    Ok(Json(json!({"items": items, "next": next})))
}

/// `DELETE /api/v1/topics/{topic}`: 204 when a value was cleared, 404 when there was none.
pub async fn clear(
    State(api): State<Api>,
    Path(topic): Path<String>,
) -> Result<StatusCode, ApiError> {
    let topic = Topic::new(&topic).map_err(|e| ApiError::BadRequest(format!("topic: {e}")))?;
    if api.fabric().retained_value(&topic).is_none() {
        return Err(ApiError::NotFound(format!(
            "`{topic}` has no retained value"
        )));
    }
    api.fabric().publish(
        Message::new(topic, bytes::Bytes::new())
            .retain(true)
            .origin(api.origin()),
    );
    Ok(StatusCode::NO_CONTENT)
}
