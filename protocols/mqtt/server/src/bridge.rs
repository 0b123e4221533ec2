//! The bridge between MQTT PUBLISH packets and fabric [`Message`]s.
//!
//! | MQTT | fabric |
//! |---|---|
//! | topic name (plus the listener's `mount`, except `$` topics) | [`Message::topic`] |
//! | payload | [`Message::payload`], shared, never copied |
//! | Content Type `application/json` (or `…+json`) | [`PayloadKind::Json`] |
//! | Payload Format Indicator 1 | [`PayloadKind::Text`] (UTF-8 checked) |
//! | QoS, RETAIN | [`Message::qos`], [`Message::retain`] |
//! | Response Topic, Correlation Data | [`Message::reply_to`], [`Message::correlation`] |
//! | Content Type, User Properties | [`Message::content_type`], [`Message::properties`] |
//! | Message Expiry Interval | [`Message::expires_at`] (the remaining interval on the way out) |
//! | subscription identifiers | the delivery's tags |
//!
//! Topics from other protocols that contain `+` or `#` (literal IPC channel names) cannot be
//! carried by MQTT and are skipped by the caller ([`OutboundError::WildcardTopic`]).

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;
use switchboard_fabric::{Message, Origin, PayloadKind, Qos, Topic, TopicError};
use switchboard_mqtt_proto::{
    MqttString, PacketId, PayloadFormat, Publish, PublishMetadata, PublishProperties, QoS, QosPid,
    SubscriptionId, TopicName, UserProperty, Will,
};

/// The content type that marks a JSON payload.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Converts the codec's QoS to the fabric's.
pub fn qos_to_fabric(q: QoS) -> Qos {
    match q {
        QoS::AtMostOnce => Qos::AtMostOnce,
        QoS::AtLeastOnce => Qos::AtLeastOnce,
        QoS::ExactlyOnce => Qos::ExactlyOnce,
    }
}

/// Converts the fabric's QoS to the codec's.
pub fn qos_from_fabric(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// Whether a content type names JSON.
pub fn is_json_content_type(ct: &str) -> bool {
    let base = ct.split(';').next().unwrap_or("").trim();
    base.eq_ignore_ascii_case(JSON_CONTENT_TYPE)
        || (base.len() > 5 && base[base.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Adds the listener's mount to a topic coming from a client (`$` topics are never mounted).
pub fn mount_topic(mount: &str, topic: &str) -> Result<Topic, TopicError> {
    if mount.is_empty() || topic.starts_with('$') {
        Topic::new(topic)
    } else {
        Topic::new(format!("{mount}{topic}"))
    }
}

/// Removes the listener's mount from a fabric topic; `None` when the topic is outside the mount.
pub fn unmount<'a>(mount: &str, topic: &'a str) -> Option<&'a str> {
    if mount.is_empty() || topic.starts_with('$') {
        Some(topic)
    } else {
        topic.strip_prefix(mount).filter(|t| !t.is_empty())
    }
}

/// A one-entry cache from the last topic name a client published to, to its fabric topic: a
/// client publishing to the same topic again and again costs no allocation.
#[derive(Debug, Default)]
pub struct InboundTopics {
    last: Option<(TopicName, Topic)>,
}

impl InboundTopics {
    /// The fabric topic for `name` (mounted).
    pub fn get(&mut self, mount: &str, name: &TopicName) -> Result<Topic, TopicError> {
        if let Some((n, t)) = &self.last
            && n.as_bytes() == name.as_bytes()
        {
            return Ok(t.clone());
        }
        let topic = mount_topic(mount, name.as_str())?;
        self.last = Some((name.clone(), topic.clone()));
        Ok(topic)
    }
}

/// Why an inbound PUBLISH cannot become a fabric message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Payload Format Indicator 1 with bytes that are not UTF-8.
    #[error("payload format indicator says UTF-8 but the payload is not")]
    PayloadNotUtf8,
    /// The response topic is not acceptable to the fabric.
    #[error("invalid response topic: {0}")]
    ResponseTopic(TopicError),
}

/// Builds the fabric message for a PUBLISH received from a client.
pub fn to_message(
    topic: Topic,
    publish: &Publish,
    origin: Origin,
    mount: &str,
    now: Instant,
) -> Result<Message, InboundError> {
    let props = &publish.properties;
    let payload = publish.payload.clone();
    let mut kind = PayloadKind::Binary;
    if props.payload_format_indicator == Some(PayloadFormat::Utf8) {
        if std::str::from_utf8(&payload).is_err() {
            return Err(InboundError::PayloadNotUtf8);
        }
        kind = PayloadKind::Text;
    }
    let mut message = Message {
        topic,
        payload,
        kind,
        qos: qos_to_fabric(publish.qos()),
        retain: publish.retain,
        origin,
        reply_to: None,
        correlation: None,
        content_type: None,
        properties: Vec::new(),
        expires_at: props
            .message_expiry_interval
            .map(|s| now + std::time::Duration::from_secs(u64::from(s))),
        created: now,
    };
    if let Some(meta) = &props.metadata {
        if let Some(ct) = &meta.content_type {
            let ct = ct.as_str();
            if is_json_content_type(ct) && std::str::from_utf8(&message.payload).is_ok() {
                message.kind = PayloadKind::Json;
            }
            message.content_type = Some(Arc::from(ct));
        }
        if let Some(rt) = &meta.response_topic {
            message.reply_to =
                Some(mount_topic(mount, rt.as_str()).map_err(InboundError::ResponseTopic)?);
        }
        message.correlation = meta.correlation_data.clone();
        message.properties = meta
            .user_properties
            .iter()
            .map(|p| (p.key.as_str().to_owned(), p.value.as_str().to_owned()))
            .collect();
    }
    Ok(message)
}

/// Builds the fabric message of a will (published when the client went away without DISCONNECT).
pub fn will_to_message(
    will: &Will,
    origin: &Origin,
    mount: &str,
    now: Instant,
) -> Result<Message, InboundError> {
    let topic = mount_topic(mount, will.topic.as_str()).map_err(InboundError::ResponseTopic)?;
    let wp = &will.properties;
    let mut publish = Publish::new(will.topic.clone(), will.payload.clone());
    publish.retain = will.retain;
    publish.qos_pid = match will.qos {
        QoS::AtMostOnce => QosPid::AtMostOnce,
        // The identifier is irrelevant here: only the QoS level is carried over.
        QoS::AtLeastOnce => QosPid::AtLeastOnce(WILL_PID),
        QoS::ExactlyOnce => QosPid::ExactlyOnce(WILL_PID),
    };
    publish.properties.payload_format_indicator = wp.payload_format_indicator;
    publish.properties.message_expiry_interval = wp.message_expiry_interval;
    if wp.content_type.is_some()
        || wp.response_topic.is_some()
        || wp.correlation_data.is_some()
        || !wp.user_properties.is_empty()
    {
        let m = publish.properties.metadata_mut();
        m.content_type = wp.content_type.clone();
        m.response_topic = wp.response_topic.clone();
        m.correlation_data = wp.correlation_data.clone();
        m.user_properties = wp.user_properties.clone();
    }
    to_message(topic, &publish, origin.clone(), mount, now)
}

const WILL_PID: PacketId = match PacketId::new(1) {
    Some(p) => p,
    None => unreachable!(),
};

/// A one-entry cache from the last fabric topic delivered to a client to its MQTT topic name, so
/// fan-out and streams on one topic cost no allocation per message.
#[derive(Debug, Default)]
pub struct OutboundTopics {
    last: Option<(Topic, TopicName)>,
}

/// Why a fabric message cannot be sent to an MQTT client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The topic contains `+` or `#` (a literal IPC channel name).
    #[error("topic contains a wildcard character")]
    WildcardTopic,
    /// The topic is outside this listener's mount.
    #[error("topic outside the mount")]
    OutsideMount,
    /// The topic is not a valid MQTT topic name.
    #[error("topic is not a valid MQTT topic name")]
    Invalid,
}

impl OutboundError {
    /// Label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            OutboundError::WildcardTopic => "wildcard_in_topic",
            OutboundError::OutsideMount => "outside_mount",
            OutboundError::Invalid => "invalid_topic",
        }
    }
}

impl OutboundTopics {
    /// The MQTT topic name for a fabric topic (unmounted).
    pub fn get(&mut self, mount: &str, topic: &Topic) -> Result<TopicName, OutboundError> {
        if let Some((t, n)) = &self.last
            && (Arc::ptr_eq(t.as_arc(), topic.as_arc()) || t == topic)
        {
            return Ok(n.clone());
        }
        if topic.has_wildcard_chars() {
            return Err(OutboundError::WildcardTopic);
        }
        let name = unmount(mount, topic.as_str()).ok_or(OutboundError::OutsideMount)?;
        let name = TopicName::try_from(name).map_err(|_| OutboundError::Invalid)?;
        self.last = Some((topic.clone(), name.clone()));
        Ok(name)
    }
}

/// Builds the MQTT 5 properties of a delivery (left empty for 3.1.1 clients by the caller).
pub fn properties(message: &Message, tags: &[u32], mount: &str, now: Instant) -> PublishProperties {
    let mut props = PublishProperties {
        payload_format_indicator: match message.kind {
            PayloadKind::Binary => None,
            PayloadKind::Text | PayloadKind::Json => Some(PayloadFormat::Utf8),
        },
        message_expiry_interval: message.remaining_ttl(now).map(|d| {
            // Never round a live message down to 0 seconds: 0 would mean "expired".
            u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)
        }),
        topic_alias: None,
        subscription_identifiers: tags
            .iter()
            .filter_map(|t| SubscriptionId::new(*t))
            .collect::<SmallVec<_>>(),
        metadata: None,
    };
    let content_type = match (&message.content_type, message.kind) {
        (Some(ct), _) => MqttString::try_from(&**ct).ok(),
        (None, PayloadKind::Json) => MqttString::from_static(JSON_CONTENT_TYPE).ok(),
        (None, _) => None,
    };
    let response_topic = message
        .reply_to
        .as_ref()
        .and_then(|t| unmount(mount, t.as_str()))
        .and_then(|t| TopicName::try_from(t).ok());
    if content_type.is_some()
        || response_topic.is_some()
        || message.correlation.is_some()
        || !message.properties.is_empty()
    {
        props.metadata = Some(Arc::new(PublishMetadata {
            content_type,
            response_topic,
            correlation_data: message.correlation.clone(),
            user_properties: message
                .properties
                .iter()
                .filter_map(|(k, v)| {
                    Some(UserProperty::new(
                        MqttString::try_from(k.as_str()).ok()?,
                        MqttString::try_from(v.as_str()).ok()?,
                    ))
                })
                .collect(),
        }));
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn origin() -> Origin {
        Origin::new("mqtt", "c1")
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.api+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("json"));
    }

    #[test]
    fn mount_is_added_and_removed_except_for_dollar_topics() {
        assert_eq!(mount_topic("m/", "a/b").unwrap().as_str(), "m/a/b");
        assert_eq!(mount_topic("m/", "$SYS/x").unwrap().as_str(), "$SYS/x");
        assert_eq!(unmount("m/", "m/a/b"), Some("a/b"));
        assert_eq!(unmount("m/", "other/a"), None);
        assert_eq!(unmount("m/", "$SYS/x"), Some("$SYS/x"));
        assert_eq!(unmount("", "x"), Some("x"));
    }

    #[test]
    fn inbound_properties_map_onto_the_message() {
        let mut props = PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(10),
            ..PublishProperties::default()
        };
        {
            let m = props.metadata_mut();
            m.content_type = MqttString::try_from("application/json").ok();
            m.response_topic = TopicName::try_from("reply/here").ok();
            m.correlation_data = Some(Bytes::from_static(b"c1"));
            m.user_properties.push(UserProperty::new(
                MqttString::try_from("k").unwrap(),
                MqttString::try_from("v").unwrap(),
            ));
        }
        let now = Instant::now();
        let mut p = Publish::new(
            TopicName::try_from("t").unwrap(),
            Bytes::from_static(b"{\"a\":1}"),
        );
        p.qos_pid = QosPid::AtLeastOnce(switchboard_mqtt_proto::PacketId::new(1).unwrap());
        p.retain = true;
        p.properties = props;
        let m = to_message(Topic::new("m/t").unwrap(), &p, origin(), "m/", now).unwrap();
        assert_eq!(m.kind, PayloadKind::Json);
        assert_eq!(m.qos, Qos::AtLeastOnce);
        assert!(m.retain);
        assert_eq!(m.reply_to.as_ref().unwrap().as_str(), "m/reply/here");
        assert_eq!(m.correlation.as_deref(), Some(&b"c1"[..]));
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(m.properties, vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(m.expires_at, Some(now + std::time::Duration::from_secs(10)));

        // And back out: the same properties, the mount removed, the interval counted down.
        let later = now + std::time::Duration::from_secs(3);
        let out = properties(&m, &[7], "m/", later);
        assert_eq!(out.payload_format_indicator, Some(PayloadFormat::Utf8));
        assert_eq!(out.message_expiry_interval, Some(7));
        assert_eq!(
            out.subscription_identifiers.as_slice(),
            &[SubscriptionId::new(7).unwrap()]
        );
        assert_eq!(out.response_topic().unwrap().as_str(), "reply/here");
        assert_eq!(out.content_type().unwrap().as_str(), "application/json");
        assert_eq!(out.correlation_data().unwrap(), &Bytes::from_static(b"c1"));
        assert_eq!(out.user_properties().len(), 1);
    }

    #[test]
    fn utf8_indicator_with_binary_payload_is_refused() {
        let props = PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            ..PublishProperties::default()
        };
        let mut p = Publish::new(
            TopicName::try_from("t").unwrap(),
            Bytes::from_static(b"\xff\xfe"),
        );
        p.properties = props;
        let r = to_message(Topic::new("t").unwrap(), &p, origin(), "", Instant::now());
        assert_eq!(r.unwrap_err(), InboundError::PayloadNotUtf8);
    }

    #[test]
    fn json_messages_from_elsewhere_get_a_content_type_and_plain_ones_no_metadata() {
        let m = Message::json(Topic::new("t").unwrap(), "{}");
        let p = properties(&m, &[], "", Instant::now());
        assert_eq!(p.content_type().unwrap().as_str(), JSON_CONTENT_TYPE);
        let m = Message::new(Topic::new("t").unwrap(), Bytes::from_static(b"x"));
        let p = properties(&m, &[], "", Instant::now());
        assert!(p.is_empty());
    }

    #[test]
    fn topic_caches_reuse_and_refuse() {
        let mut inb = InboundTopics::default();
        let name = TopicName::try_from("a/b").unwrap();
        let t1 = inb.get("", &name).unwrap();
        let t2 = inb.get("", &name).unwrap();
        assert!(Arc::ptr_eq(t1.as_arc(), t2.as_arc()));
        let mut out = OutboundTopics::default();
        assert_eq!(out.get("", &t1).unwrap(), "a/b");
        let lit = Topic::literal("ipc/+").unwrap();
        assert_eq!(out.get("", &lit), Err(OutboundError::WildcardTopic));
        assert_eq!(
            out.get("m/", &Topic::new("x").unwrap()),
            Err(OutboundError::OutsideMount)
        );
    }
}
