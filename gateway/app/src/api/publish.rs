//! `POST /api/v1/publish` and `POST /api/v1/request`: a message from any backend into the topic
//! space, reaching the subscribers of every protocol; a request waits for its first reply.
//!
//! Body: `{"topic", "text" | "json" | "base64", "qos", "retain", "properties", "content_type",
//! "expiry_ms"}` plus `"timeout_ms"` for requests. Exactly one of `text`, `json` and `base64`
//! gives the payload and its kind. `properties` is an object of strings or a list of
//! `[key, value]` pairs.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_fabric::{Message, Qos, Topic};

use super::Api;
use super::error::{ApiError, rejection};
use super::view::message_json;

/// How long a request waits when the body does not say.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;

/// User properties as an object or as `[key, value]` pairs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Properties {
    Map(BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

/// The body of `POST /api/v1/publish` and `POST /api/v1/request`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    topic: String,
    text: Option<String>,
    json: Option<Value>,
    base64: Option<String>,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
    properties: Option<Properties>,
    content_type: Option<String>,
    expiry_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

impl MessageBody {
    fn into_message(self, api: &Api) -> Result<Message, ApiError> {
        let topic =
            Topic::new(&self.topic).map_err(|e| ApiError::BadRequest(format!("topic: {e}")))?;
        let mut message = match (self.text, self.json, self.base64) {
            (Some(t), None, None) => Message::text(topic, t),
            (None, Some(j), None) => Message::json(topic, j.to_string()),
            (None, None, Some(b)) => Message::new(
                topic,
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| ApiError::BadRequest(format!("base64: {e}")))?,
            ),
            _ => {
                return Err(ApiError::BadRequest(
                    "give the payload in exactly one of `text`, `json` and `base64`".into(),
                ));
            }
        };
        message = message
            .qos(Qos::try_from(self.qos).map_err(ApiError::BadRequest)?)
            .retain(self.retain)
            .origin(api.origin());
        if let Some(ct) = self.content_type {
            message = message.content_type(ct);
        }
        match self.properties {
            Some(Properties::Map(m)) => message.properties.extend(m),
            Some(Properties::Pairs(p)) => message.properties.extend(p),
            None => {}
        }
        if let Some(ms) = self.expiry_ms {
            message = message.expires_in(Duration::from_millis(ms));
        }
        Ok(message)
    }
}

/// `POST /api/v1/publish`: 200 with `delivered`, the number of local subscribers it was queued
/// for (bridges count once for all their clients).
pub async fn publish(
    State(api): State<Api>,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(rejection)?;
    if body.timeout_ms.is_some() {
        return Err(ApiError::BadRequest(
            "`timeout_ms` belongs to POST /api/v1/request".into(),
        ));
    }
    let message = body.into_message(&api)?;
    let delivered = api.fabric().publish(message);
    Ok(Json(json!({"delivered": delivered})))
}

/// `POST /api/v1/request`: 200 with the reply (as a topic listing shows a message); 502 when the
/// responder rejected it (the reply's `error` property), 503 when nobody listens, 504 when no
/// reply came within `timeout_ms` (default 5 000, capped by `admin.max_request_timeout_ms`).
pub async fn request(
    State(api): State<Api>,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(rejection)?;
    let timeout_ms = body
        .timeout_ms
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS)
        .clamp(1, api.max_request_timeout_ms());
    let message = body.into_message(&api)?;
    let reply = api
        .fabric()
        .request(message, Duration::from_millis(timeout_ms))
        .await
        .map_err(|e| ApiError::from_request(e, timeout_ms))?;
    if let Some((_, reason)) = reply.properties.iter().find(|(k, _)| k == "error") {
        return Err(ApiError::Rejected(reason.clone()));
    }
    Ok(Json(message_json(&reply)))
}
