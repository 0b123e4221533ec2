//! The protocol-neutral message envelope.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::subscriber::SubscriberId;
use crate::topic::Topic;

/// What the payload bytes are, so that each bridge can render them faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// Opaque bytes.
    #[default]
    Binary,
    /// UTF-8 text (the bytes are valid UTF-8).
    Text,
    /// A UTF-8 JSON document.
    Json,
}

impl PayloadKind {
    /// The lowercase name (`binary`, `text`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Binary => "binary",
            PayloadKind::Text => "text",
            PayloadKind::Json => "json",
        }
    }
}

/// Delivery guarantee requested for a message, with MQTT's three levels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(into = "u8", try_from = "u8")]
pub enum Qos {
    /// Fire and forget.
    #[default]
    AtMostOnce = 0,
    /// Acknowledged delivery, duplicates possible.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl Qos {
    /// The numeric level.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl From<Qos> for u8 {
    fn from(q: Qos) -> u8 {
        q as u8
    }
}

impl TryFrom<u8> for Qos {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        match v {
            0 => Ok(Qos::AtMostOnce),
            1 => Ok(Qos::AtLeastOnce),
            2 => Ok(Qos::ExactlyOnce),
            other => Err(format!("QoS must be 0, 1 or 2, not {other}")),
        }
    }
}

/// Where a message entered the fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Protocol label (`mqtt`, `engineio`, `ipc`, `http`, `sys`, ...). The fabric treats it as an opaque
    /// label for metrics and no-local decisions.
    pub protocol: Arc<str>,
    /// Client identity within that protocol (MQTT client id, Engine.IO sid, IPC peer id...).
    pub client: Arc<str>,
    /// The publisher's own subscriber, if it has one: lets `no_local` subscriptions skip their own
    /// messages.
    pub subscriber: Option<SubscriberId>,
    /// The node the message came from when it crossed the cluster; `None` for local messages.
    pub node: Option<Arc<str>>,
}

impl Origin {
    /// An origin with a protocol label and client id.
    pub fn new(protocol: impl Into<Arc<str>>, client: impl Into<Arc<str>>) -> Self {
        Origin {
            protocol: protocol.into(),
            client: client.into(),
            subscriber: None,
            node: None,
        }
    }

    /// Sets the publisher's subscriber id.
    pub fn with_subscriber(mut self, id: SubscriberId) -> Self {
        self.subscriber = Some(id);
        self
    }

    /// The origin of messages the gateway produces itself. Allocation-free: the labels are shared.
    pub fn internal() -> Self {
        static SYS: LazyLock<(Arc<str>, Arc<str>)> =
            LazyLock::new(|| (Arc::from("sys"), Arc::from("switchboard")));
        Origin {
            protocol: SYS.0.clone(),
            client: SYS.1.clone(),
            subscriber: None,
            node: None,
        }
    }
}

/// A user property: a key/value pair carried end to end (MQTT 5 user properties, IPC and Engine.IO
/// metadata).
pub type Property = (String, String);

/// One message on the fabric. Shared by `Arc` so that fan-out copies no payload.
#[derive(Debug, Clone)]
pub struct Message {
    /// Where the message is published.
    pub topic: Topic,
    /// The payload bytes.
    pub payload: Bytes,
    /// What the payload bytes are.
    pub kind: PayloadKind,
    /// Requested delivery guarantee.
    pub qos: Qos,
    /// Whether the message is stored as the topic's retained value. An empty retained payload deletes
    /// the stored value.
    pub retain: bool,
    /// Where the message entered the fabric.
    pub origin: Origin,
    /// Where a reply should be published (requests).
    pub reply_to: Option<Topic>,
    /// Opaque data that links a reply to its request.
    pub correlation: Option<Bytes>,
    /// MIME content type, when known.
    pub content_type: Option<Arc<str>>,
    /// User properties.
    pub properties: Vec<Property>,
    /// When the message stops being worth delivering (MQTT 5 message expiry).
    pub expires_at: Option<Instant>,
    /// When the message entered the gateway (latency metrics).
    pub created: Instant,
}

impl Message {
    /// A binary QoS 0 message from the gateway itself; refine it with the builder methods.
    pub fn new(topic: Topic, payload: impl Into<Bytes>) -> Self {
        Message {
            topic,
            payload: payload.into(),
            kind: PayloadKind::Binary,
            qos: Qos::AtMostOnce,
            retain: false,
            origin: Origin::internal(),
            reply_to: None,
            correlation: None,
            content_type: None,
            properties: Vec::new(),
            expires_at: None,
            created: Instant::now(),
        }
    }

    /// A UTF-8 text message.
    pub fn text(topic: Topic, text: impl Into<String>) -> Self {
        Message::new(topic, Bytes::from(text.into())).kind(PayloadKind::Text)
    }

    /// A JSON message from an already-serialised document.
    pub fn json(topic: Topic, json: impl Into<String>) -> Self {
        Message::new(topic, Bytes::from(json.into())).kind(PayloadKind::Json)
    }

    /// Sets the payload kind.
    pub fn kind(mut self, kind: PayloadKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the QoS.
    pub fn qos(mut self, qos: Qos) -> Self {
        self.qos = qos;
        self
    }

    /// Sets the retain flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Sets the origin.
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Sets the reply topic.
    pub fn reply_to(mut self, topic: Topic) -> Self {
        self.reply_to = Some(topic);
        self
    }

    /// Sets the correlation data.
    pub fn correlation(mut self, data: impl Into<Bytes>) -> Self {
        self.correlation = Some(data.into());
        self
    }

    /// Sets the content type.
    pub fn content_type(mut self, ct: impl Into<Arc<str>>) -> Self {
        self.content_type = Some(ct.into());
        self
    }

    /// Adds a user property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Sets a lifetime after which the message is no longer delivered.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires_at = Some(self.created + ttl);
        self
    }

    /// The payload as text when the kind is text or JSON and the bytes are valid UTF-8.
    pub fn payload_str(&self) -> Option<&str> {
        match self.kind {
            PayloadKind::Binary => None,
            PayloadKind::Text | PayloadKind::Json => std::str::from_utf8(&self.payload).ok(),
        }
    }

    /// Whether the message has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// The remaining lifetime at `now`, if the message has one (rounded down, never negative).
    pub fn remaining_ttl(&self, now: Instant) -> Option<Duration> {
        self.expires_at.map(|at| at.saturating_duration_since(now))
    }
}
